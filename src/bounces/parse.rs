//! Reading a bounce or complaint message: a DSN (RFC 3464), an ARF feedback report
//! (RFC 5965), or a plain-text bounce that only carries an enhanced status code (RFC 3463).
//!
//! MIME is mail-parser's job; the `message/delivery-status` and `message/feedback-report`
//! bodies are header-like field blocks, read here. Nothing here decides which subscriber a
//! report is about: see [`super::verp`].

use mail_parser::{Message, MessageParser, MimeHeaders, PartType};

/// What a report says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The address does not (or no longer) exist: a 5.x.x status, or a provider's "permanent".
    Hard,
    /// Worth trying again another day: 4.x.x, a full mailbox (x.2.2), a provider's "transient".
    Soft,
    /// The recipient reported the message as spam.
    Complaint,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hard => "hard",
            Self::Soft => "soft",
            Self::Complaint => "complaint",
        }
    }

    /// The inverse of [`Kind::as_str`], for an event read back from the store.
    pub fn from_name(name: &str) -> Option<Kind> {
        match name {
            "hard" => Some(Self::Hard),
            "soft" => Some(Self::Soft),
            "complaint" => Some(Self::Complaint),
            _ => None,
        }
    }
}

/// One failed recipient (or complaint) read from a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub kind: Kind,
    /// The address as the report names it (Final-Recipient, Original-Rcpt-To), if any.
    pub recipient: Option<String>,
    /// The enhanced status code, e.g. "5.1.1".
    pub status: Option<String>,
    /// The server's words (Diagnostic-Code) or the feedback type, addresses redacted.
    pub detail: String,
}

/// A report read in full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Finding(Finding),
    /// A genuine report that needs no action: "delayed", "delivered", "not-spam"…
    NoAction(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("not a MIME message")]
    NotMime,
    #[error("not a bounce or complaint: {0}")]
    NotAReport(String),
}

/// Longest detail kept; diagnostics can quote whole SMTP transcripts.
const DETAIL_CHARS: usize = 300;

/// Reads `raw` as a DSN, an ARF report or a plain-text bounce, in that order.
pub fn parse(raw: &[u8]) -> Result<Parsed, ParseError> {
    let message = MessageParser::default()
        .parse(raw)
        .filter(|m| !m.headers().is_empty())
        .ok_or(ParseError::NotMime)?;
    let report_type = message
        .content_type()
        .filter(|ct| ct.ctype().eq_ignore_ascii_case("multipart"))
        .and_then(|ct| ct.attribute("report-type"))
        .map(str::to_ascii_lowercase);
    if let Some(fields) = part_body(&message, "delivery-status") {
        return delivery_status(&fields);
    }
    if let Some(fields) = part_body(&message, "feedback-report") {
        return feedback_report(&fields);
    }
    if let Some(kind) = report_type {
        return Err(ParseError::NotAReport(format!(
            "a multipart/report of type {kind:?} without its report part"
        )));
    }
    plain_text(&message)
}

/// Whether a kept report quotes `address` anywhere a person reading it would see it: in
/// its bytes as they came, or in any part once decoded (a returned message's base64 or
/// quoted-printable body, a nested message's parts), in any letter case, as receivers
/// quote addresses as they were written. What erasure searches with.
pub fn quotes_address(raw: &[u8], address: &str) -> bool {
    let needle = address.as_bytes();
    if needle.is_empty() {
        return false;
    }
    contains_ignoring_case(raw, needle)
        || MessageParser::default()
            .parse(raw)
            .is_some_and(|message| message_quotes(&message, needle))
}

fn message_quotes(message: &Message<'_>, needle: &[u8]) -> bool {
    message.parts.iter().any(|part| match &part.body {
        PartType::Message(nested) => message_quotes(nested, needle),
        _ => contains_ignoring_case(part.contents(), needle),
    })
}

fn contains_ignoring_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// The body of the first `message/<subtype>` (or `message/global-<subtype>`) part.
fn part_body(message: &Message<'_>, subtype: &str) -> Option<String> {
    let global = format!("global-{subtype}");
    message.parts.iter().find_map(|part| {
        let ct = part.content_type()?;
        let sub = ct.subtype()?.to_ascii_lowercase();
        (ct.ctype().eq_ignore_ascii_case("message") && (sub == subtype || sub == global))
            .then(|| String::from_utf8_lossy(part.contents()).into_owned())
    })
}

/// Field blocks separated by blank lines, folded lines joined, names lower-cased.
fn field_blocks(text: &str) -> Vec<Vec<(String, String)>> {
    let mut blocks = Vec::new();
    let mut block: Vec<(String, String)> = Vec::new();
    for line in text.replace("\r\n", "\n").split('\n') {
        if line.trim().is_empty() {
            if !block.is_empty() {
                blocks.push(std::mem::take(&mut block));
            }
        } else if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = block.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            block.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    if !block.is_empty() {
        blocks.push(block);
    }
    blocks
}

fn field<'a>(block: &'a [(String, String)], name: &str) -> Option<&'a str> {
    block
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// "rfc822; a@b" → "a@b"; "smtp; 550 …" → "550 …".
fn strip_type(value: &str) -> &str {
    match value.split_once(';') {
        Some((kind, rest)) if !kind.contains(' ') => rest.trim(),
        _ => value.trim(),
    }
}

fn delivery_status(fields: &str) -> Result<Parsed, ParseError> {
    let recipients: Vec<Vec<(String, String)>> = field_blocks(fields)
        .into_iter()
        .filter(|b| field(b, "final-recipient").is_some() || field(b, "action").is_some())
        .collect();
    if recipients.is_empty() {
        return Err(ParseError::NotAReport(
            "a delivery-status report with no recipient".into(),
        ));
    }
    let failed = recipients.iter().find(|b| {
        field(b, "action").is_some_and(|a| a.eq_ignore_ascii_case("failed"))
            || (field(b, "action").is_none()
                && field(b, "status").is_some_and(|s| s.trim().starts_with('5')))
    });
    let Some(block) = failed else {
        let actions: Vec<&str> = recipients
            .iter()
            .filter_map(|b| field(b, "action"))
            .collect();
        return Ok(Parsed::NoAction(format!(
            "delivery status {}",
            actions.join(", ").to_ascii_lowercase()
        )));
    };
    let diagnostic = field(block, "diagnostic-code").map(strip_type);
    // Some MTAs (Exim) put a generic 5.0.0 in Status and the real code in the diagnostic.
    let status = field(block, "status")
        .and_then(find_status_code)
        .filter(|s| s != "5.0.0")
        .or_else(|| diagnostic.and_then(find_status_code))
        .or_else(|| field(block, "status").and_then(find_status_code));
    let kind = status.as_deref().map_or(Kind::Hard, kind_of_status);
    let detail = diagnostic
        .map(str::to_string)
        .or_else(|| status.clone())
        .unwrap_or_else(|| "failed".into());
    Ok(Parsed::Finding(Finding {
        kind,
        recipient: field(block, "final-recipient")
            .or_else(|| field(block, "original-recipient"))
            .map(|r| strip_type(r).to_string()),
        status,
        detail: clean_detail(&detail),
    }))
}

fn feedback_report(fields: &str) -> Result<Parsed, ParseError> {
    let all: Vec<(String, String)> = field_blocks(fields).into_iter().flatten().collect();
    let feedback_type = field(&all, "feedback-type")
        .map(|t| t.to_ascii_lowercase())
        .ok_or_else(|| ParseError::NotAReport("a feedback report without Feedback-Type".into()))?;
    // RFC 5965 §7.3: abuse, fraud, other, virus are complaints about the mail; not-spam
    // and auth-failure are not a recipient saying stop.
    if !matches!(
        feedback_type.as_str(),
        "abuse" | "fraud" | "other" | "virus"
    ) {
        return Ok(Parsed::NoAction(format!("feedback type {feedback_type}")));
    }
    Ok(Parsed::Finding(Finding {
        kind: Kind::Complaint,
        recipient: field(&all, "original-rcpt-to").map(|r| strip_type(r).to_string()),
        status: None,
        detail: clean_detail(&format!("feedback report: {feedback_type}")),
    }))
}

/// A bounce that is only human text: a 5.x.x code in its text is a hard bounce. Other
/// messages (auto-replies, strangers' mail) are not reports.
fn plain_text(message: &Message<'_>) -> Result<Parsed, ParseError> {
    let text: String = message
        .text_bodies()
        .filter_map(|p| p.text_contents())
        .collect::<Vec<_>>()
        .join("\n");
    let Some(code) = find_permanent_code(&text) else {
        return Err(ParseError::NotAReport(
            "no delivery-status or feedback report, and no 5.x.x status code in the text".into(),
        ));
    };
    let line = text
        .lines()
        .find(|l| l.contains(code.as_str()))
        .unwrap_or(code.as_str());
    Ok(Parsed::Finding(Finding {
        kind: kind_of_status(&code),
        recipient: None,
        status: Some(code.clone()),
        detail: clean_detail(line),
    }))
}

/// RFC 3463: class 5 is permanent, class 4 transient. X.2.2 (mailbox full) is, in the
/// RFC's words, a persistent transient failure: counted as soft.
pub fn kind_of_status(status: &str) -> Kind {
    let mut parts = status.split('.');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("5"), Some("2"), Some("2")) => Kind::Soft,
        (Some("5"), _, _) => Kind::Hard,
        _ => Kind::Soft,
    }
}

/// The first enhanced status code (`[245].d{1,3}.d{1,3}`) in `text`.
pub fn find_status_code(text: &str) -> Option<String> {
    status_codes(text).next()
}

fn find_permanent_code(text: &str) -> Option<String> {
    status_codes(text).find(|c| c.starts_with('5'))
}

fn status_codes(text: &str) -> impl Iterator<Item = String> + '_ {
    let bytes = text.as_bytes();
    (0..bytes.len()).filter_map(move |i| {
        if !matches!(bytes[i], b'2' | b'4' | b'5') || (i > 0 && is_code_char(bytes[i - 1])) {
            return None;
        }
        let rest = &text[i..];
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let candidate = rest[..end].trim_end_matches('.');
        let parts: Vec<&str> = candidate.split('.').collect();
        let ok = parts.len() == 3
            && parts[0].len() == 1
            && parts[1..]
                .iter()
                .all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()));
        ok.then(|| candidate.to_string())
    })
}

fn is_code_char(b: u8) -> bool {
    b.is_ascii_digit() || b == b'.'
}

/// One line, addresses redacted (they must not reach logs or pages), bounded.
fn clean_detail(s: &str) -> String {
    let one_line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let redacted = crate::ops::redact_addresses(&one_line);
    redacted.chars().take(DETAIL_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_found_in_any_case_and_inside_encoded_parts() {
        let address = "reader@example.org";
        assert!(quotes_address(
            b"Final-Recipient: rfc822; Reader@Example.ORG",
            address
        ));
        // The returned message, base64 inside the report: "To: reader@example.org".
        let encoded = b"From: MAILER-DAEMON@example.net\r\n\
            MIME-Version: 1.0\r\n\
            Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
            --b\r\nContent-Type: text/plain\r\n\r\nUndeliverable.\r\n\
            --b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n\
            VG86IHJlYWRlckBleGFtcGxlLm9yZw==\r\n--b--\r\n";
        assert!(!contains_ignoring_case(encoded, address.as_bytes()));
        assert!(quotes_address(encoded, address));
        assert!(!quotes_address(encoded, "other@example.org"));
        assert!(!quotes_address(b"\xff\xfe not mail", address));
        assert!(!quotes_address(b"anything", ""));
    }

    #[test]
    fn status_codes_are_found_and_classified() {
        assert_eq!(
            find_status_code("smtp; 550 5.1.1 <x>: unknown").as_deref(),
            Some("5.1.1")
        );
        assert_eq!(find_status_code("version 10.5.1.1 here"), None);
        assert_eq!(
            find_status_code("452 4.2.2 over quota").as_deref(),
            Some("4.2.2")
        );
        assert_eq!(kind_of_status("5.1.10"), Kind::Hard);
        assert_eq!(kind_of_status("5.2.2"), Kind::Soft);
        assert_eq!(kind_of_status("4.4.7"), Kind::Soft);
    }

    #[test]
    fn folded_fields_are_joined() {
        let blocks = field_blocks(
            "Reporting-MTA: dns; a\r\n\r\nAction: failed\r\nDiagnostic-Code: smtp; 550\r\n  5.1.1 gone\r\n",
        );
        assert_eq!(blocks.len(), 2);
        assert_eq!(
            field(&blocks[1], "diagnostic-code"),
            Some("smtp; 550 5.1.1 gone")
        );
    }

    #[test]
    fn garbage_is_not_mime() {
        assert_eq!(parse(b""), Err(ParseError::NotMime));
    }
}
