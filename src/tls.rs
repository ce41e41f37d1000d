//! TLS for the mail servers Breakfast is a client of (the SMTP relay, the bounce mailbox):
//! one place that says which certificates are trusted, so the two cannot drift apart.
//!
//! Trusted: the public web roots, plus the PEM certificates of the file named by the
//! setting (`mail.smtp_ca_file`, `bounces.imap_ca_file`) for a server with a private CA.
//! There is deliberately no switch that turns verification off.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};

/// A client configuration trusting the web roots and the certificates in `ca_file`
/// (empty: none); `setting` names the option in error messages.
pub fn client_config(ca_file: &str, setting: &str) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(trust_roots(ca_file, setting)?)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The name a server's certificate must carry: a host name or an IP address.
pub fn server_name(host: &str, what: &str) -> anyhow::Result<ServerName<'static>> {
    ServerName::try_from(host.to_string())
        .map_err(|e| anyhow::anyhow!("{what} host {host:?} is not a valid TLS name: {e}"))
}

fn trust_roots(ca_file: &str, setting: &str) -> anyhow::Result<rustls::RootCertStore> {
    let mut roots =
        rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let ca_file = ca_file.trim();
    if ca_file.is_empty() {
        return Ok(roots);
    }
    let certs = CertificateDer::pem_file_iter(ca_file)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("cannot read {setting} {ca_file}: {e}"))?;
    if certs.is_empty() {
        anyhow::bail!("{setting} {ca_file} holds no certificate");
    }
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| anyhow::anyhow!("{setting} {ca_file}: {e}"))?;
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_empty_ca_file_is_named_in_the_error() {
        let e = client_config("/nonexistent/ca.pem", "mail.smtp_ca_file").unwrap_err();
        assert!(e.to_string().contains("mail.smtp_ca_file"), "{e}");
        let empty = tempfile::NamedTempFile::new().unwrap();
        let path = empty.path().display().to_string();
        let e = client_config(&path, "bounces.imap_ca_file").unwrap_err();
        assert!(e.to_string().contains("holds no certificate"), "{e}");
        assert!(client_config("", "x").is_ok());
    }

    #[test]
    fn ip_addresses_and_host_names_are_valid_server_names() {
        assert!(server_name("127.0.0.1", "SMTP").is_ok());
        assert!(server_name("mail.example.org", "SMTP").is_ok());
        assert!(server_name("bad host", "SMTP").is_err());
    }
}
