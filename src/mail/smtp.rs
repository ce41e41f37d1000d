//! SMTP settings from a URL. The pool ([`super::pool`]) is built from them; this module
//! knows nothing of it, so the dependency runs one way (pool → smtp).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain text: only for loopback relays and tests.
    None,
    /// Upgrade with STARTTLS when the server offers it.
    Opportunistic,
    /// Refuse to send unless STARTTLS succeeds.
    Required,
    /// TLS from the first byte (`smtps://`, usually port 465).
    Implicit,
}

#[derive(Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub username: Option<String>,
    pub password: Option<String>,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// Reads `smtp://user:pass@host:port?tls=none|starttls|required` or `smtps://…`.
pub fn parse_smtp_url(raw: &str) -> anyhow::Result<SmtpSettings> {
    let url =
        url::Url::parse(raw).map_err(|e| anyhow::anyhow!("smtp_url is not a valid URL: {e}"))?;
    let implicit = match url.scheme() {
        "smtp" => false,
        "smtps" => true,
        other => anyhow::bail!("smtp_url must start with smtp:// or smtps://, not {other}://"),
    };
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| anyhow::anyhow!("smtp_url has no host"))?
        .trim_matches(['[', ']'])
        .to_string();
    let tls = if implicit {
        TlsMode::Implicit
    } else {
        match url
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.to_string())
            .as_deref()
        {
            None | Some("starttls") | Some("opportunistic") => TlsMode::Opportunistic,
            Some("required") => TlsMode::Required,
            Some("none") => TlsMode::None,
            Some(other) => {
                anyhow::bail!("smtp_url: tls={other} is not one of none, starttls, required")
            }
        }
    };
    let port = url.port().unwrap_or(if implicit { 465 } else { 587 });
    let decode = |s: &str| {
        percent_decode(s)
            .map_err(|_| anyhow::anyhow!("smtp_url: the user name or password is not valid UTF-8"))
    };
    let username = (!url.username().is_empty())
        .then(|| decode(url.username()))
        .transpose()?;
    let password = url.password().map(decode).transpose()?;
    Ok(SmtpSettings {
        host,
        port,
        tls,
        username,
        password,
    })
}

fn percent_decode(s: &str) -> Result<String, std::str::Utf8Error> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let s = parse_smtp_url("smtp://ana:p%40ss@mail.example.org:2525").unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.tls),
            ("mail.example.org", 2525, TlsMode::Opportunistic)
        );
        assert_eq!(s.password.as_deref(), Some("p@ss"));
        assert_eq!(parse_smtp_url("smtps://h.example.org").unwrap().port, 465);
        assert_eq!(
            parse_smtp_url("smtp://127.0.0.1:25?tls=none").unwrap().tls,
            TlsMode::None
        );
        assert_eq!(
            parse_smtp_url("smtp://h.example.org?tls=required")
                .unwrap()
                .tls,
            TlsMode::Required
        );
        assert!(parse_smtp_url("http://h").is_err());
        assert!(parse_smtp_url("smtp://h?tls=maybe").is_err());
    }

    #[test]
    fn debug_hides_password() {
        let s = parse_smtp_url("smtp://ana:hunter2@h.example.org").unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
