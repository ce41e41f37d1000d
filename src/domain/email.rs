//! A parsed, deliverable email address.

use std::fmt;

use serde::{Deserialize, Serialize};

/// RFC 5321 caps a path at 256 octets including the angle brackets.
const MAX_LEN: usize = 254;
const MAX_LOCAL_LEN: usize = 64;

/// An address we are willing to send to. Constructed only by [`EmailAddress::parse`], so
/// holding one is proof that the checks ran. The local part keeps the case it was given
/// (some servers honour it); the domain is lower-cased because DNS ignores case.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("enter an email address")]
    Empty,
    #[error("an email address has at most 254 characters")]
    TooLong,
    #[error("an email address has no spaces or control characters")]
    BadCharacter,
    #[error("an email address looks like name@example.org")]
    Shape,
    #[error("the part after @ must be a domain such as example.org")]
    Domain,
}

impl EmailAddress {
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        if trimmed.chars().count() > MAX_LEN {
            return Err(EmailError::TooLong);
        }
        if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(EmailError::BadCharacter);
        }
        let (local, domain) = trimmed.rsplit_once('@').ok_or(EmailError::Shape)?;
        check_local(local)?;
        let domain = check_domain(domain)?;
        Ok(Self(format!("{local}@{domain}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form used for uniqueness: two addresses that differ only in case are one
    /// subscriber, because in practice mailbox providers treat them as one.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }

    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or_default()
    }
}

fn check_local(local: &str) -> Result<(), EmailError> {
    let forbidden = |c: char| {
        matches!(
            c,
            '<' | '>' | '(' | ')' | '[' | ']' | ',' | ';' | ':' | '\\' | '"' | '@'
        )
    };
    if local.is_empty()
        || local.len() > MAX_LOCAL_LEN
        || local.starts_with('.')
        || local.ends_with('.')
        || local.contains("..")
        || local.chars().any(forbidden)
    {
        return Err(EmailError::Shape);
    }
    Ok(())
}

fn check_domain(domain: &str) -> Result<String, EmailError> {
    let domain = domain.to_lowercase();
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    if labels.len() < 2 || !labels.iter().all(label_ok) {
        return Err(EmailError::Domain);
    }
    let tld = labels.last().copied().unwrap_or_default();
    if tld.chars().all(|c| c.is_ascii_digit()) {
        return Err(EmailError::Domain);
    }
    Ok(domain)
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Addresses are personal data: debug output shows only the domain.
impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EmailAddress(…@{})", self.domain())
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = EmailError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<EmailAddress> for String {
    fn from(value: EmailAddress) -> Self {
        value.0
    }
}

impl std::str::FromStr for EmailAddress {
    type Err = EmailError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_local_case_and_lowercases_domain() {
        let e = EmailAddress::parse("  Ana.Pauker@Example.ORG ").unwrap();
        assert_eq!(e.as_str(), "Ana.Pauker@example.org");
        assert_eq!(e.key(), "ana.pauker@example.org");
    }

    #[test]
    fn rejects_undeliverable() {
        for bad in [
            "",
            "no-at-sign",
            "two words@example.org",
            "tab\t@example.org",
            "nul\u{0}@example.org",
            "user@localhost",
            "user@example.",
            "user@.org",
            "@example.org",
            "user@",
            "a..b@example.org",
            "user@exa mple.org",
            "user@-bad.org",
            "<script>@example.org",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("{}@example.org", "a".repeat(250));
        assert_eq!(EmailAddress::parse(&long), Err(EmailError::TooLong));
    }

    #[test]
    fn accepts_ordinary_and_international() {
        for good in [
            "a@b.co",
            "first.last+tag@sub.example.org",
            "rosa@bücher.de",
            "o'neil@example.ie",
        ] {
            assert!(EmailAddress::parse(good).is_ok(), "{good:?} rejected");
        }
    }

    #[test]
    fn debug_hides_the_local_part() {
        let e = EmailAddress::parse("secret.person@example.org").unwrap();
        assert!(!format!("{e:?}").contains("secret"));
    }
}
