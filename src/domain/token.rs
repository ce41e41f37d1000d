//! Signed, self-contained tokens for the links in emails.
//!
//! A token names a subscriber, what it may be used for and until when, and carries an
//! HMAC-SHA256 over exactly those three, so nothing needs storing per link and a forged or
//! edited token is refused. The unsubscribe token never expires: RFC 8058 links must keep
//! working in old emails.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::config::Secret;

type HmacSha256 = Hmac<Sha256>;

/// Length of [`TokenSigner::short_tag`] before hex encoding.
const SHORT_TAG_BYTES: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Confirm,
    Unsubscribe,
    Preferences,
    /// Confirms a move to a new address; sent to that address.
    ChangeEmail,
    /// A test copy's "View in browser": the id is a digest's, not a subscriber's.
    Draft,
}

impl Purpose {
    fn tag(self) -> &'static str {
        match self {
            Self::Confirm => "c",
            Self::Unsubscribe => "u",
            Self::Preferences => "p",
            Self::ChangeEmail => "e",
            Self::Draft => "d",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("this link is incomplete or damaged")]
    Malformed,
    #[error("this link is not valid")]
    BadSignature,
    #[error("this link is for a different page")]
    WrongPurpose,
    /// Carries the subscriber so that the page can offer a fresh link.
    #[error("this link has expired")]
    Expired { subscriber_id: i64 },
}

/// Signs and checks tokens with the service's secret.
///
/// The HMAC is keyed once, here: each signature starts from a copy of the keyed state
/// (the key's inner and outer pads already hashed) instead of hashing the key again.
#[derive(Clone)]
pub struct TokenSigner {
    keyed: HmacSha256,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSigner([redacted])")
    }
}

impl TokenSigner {
    pub fn new(secret: &Secret) -> Self {
        Self {
            keyed: <HmacSha256 as KeyInit>::new_from_slice(secret.expose().as_bytes())
                .expect("HMAC accepts keys of any length"),
        }
    }

    /// `expires_at_ms` of `None` makes a token that never expires.
    pub fn sign(&self, subscriber_id: i64, purpose: Purpose, expires_at_ms: Option<i64>) -> String {
        let payload = format!(
            "{}:{}:{}",
            purpose.tag(),
            subscriber_id,
            expires_at_ms.unwrap_or(0)
        );
        let tag = self.mac(payload.as_bytes()).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// Returns the subscriber id when the token is genuine, meant for `purpose`, and current.
    pub fn verify(&self, token: &str, purpose: Purpose, now_ms: i64) -> Result<i64, TokenError> {
        let (payload_b64, tag_b64) = token.trim().split_once('.').ok_or(TokenError::Malformed)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload_b64)
            .map_err(|_| TokenError::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag_b64)
            .map_err(|_| TokenError::Malformed)?;
        // Constant-time comparison: the signature is checked before anything in the
        // payload is trusted or reveals timing.
        self.mac(&payload)
            .verify_slice(&tag)
            .map_err(|_| TokenError::BadSignature)?;
        let payload = String::from_utf8(payload).map_err(|_| TokenError::Malformed)?;
        let mut parts = payload.split(':');
        let (Some(tag), Some(id), Some(exp), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        if tag != purpose.tag() {
            return Err(TokenError::WrongPurpose);
        }
        let subscriber_id: i64 = id.parse().map_err(|_| TokenError::Malformed)?;
        let expires: i64 = exp.parse().map_err(|_| TokenError::Malformed)?;
        if expires != 0 && now_ms > expires {
            return Err(TokenError::Expired { subscriber_id });
        }
        Ok(subscriber_id)
    }

    /// A keyed hash for values we must recognise later but never store in the clear
    /// (suppressed addresses, session and API tokens).
    pub fn fingerprint(&self, value: &str) -> String {
        let mut mac = self.mac(b"fingerprint:");
        mac.update(value.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// A short keyed tag over `data` (16 hex digits, 64 bits), for identifiers that must
    /// fit where a full token cannot, such as the local part of a VERP bounce address.
    /// `context` keeps tags of one use from being valid for another.
    pub fn short_tag(&self, context: &str, data: &str) -> String {
        let mut mac = self.mac(context.as_bytes());
        mac.update(b":");
        mac.update(data.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..SHORT_TAG_BYTES])
    }

    /// Whether `tag` is [`short_tag`](Self::short_tag) of `data`, compared in constant time.
    pub fn verify_short_tag(&self, context: &str, data: &str, tag: &str) -> bool {
        let Ok(bytes) = hex::decode(tag.to_ascii_lowercase()) else {
            return false;
        };
        if bytes.len() != SHORT_TAG_BYTES {
            return false;
        }
        let mut mac = self.mac(context.as_bytes());
        mac.update(b":");
        mac.update(data.as_bytes());
        mac.verify_truncated_left(&bytes).is_ok()
    }

    fn mac(&self, data: &[u8]) -> HmacSha256 {
        let mut mac = self.keyed.clone();
        mac.update(data);
        mac
    }
}

/// A fresh random secret for tokens, sessions and CSRF.
pub fn random_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Compares without returning early, so the time taken says nothing about the token.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> TokenSigner {
        TokenSigner::new(&Secret::new("test-secret"))
    }

    #[test]
    fn round_trip() {
        let t = signer().sign(42, Purpose::Confirm, Some(1_000));
        assert_eq!(signer().verify(&t, Purpose::Confirm, 999), Ok(42));
    }

    #[test]
    fn refuses_forgery_expiry_and_wrong_purpose() {
        let s = signer();
        let t = s.sign(42, Purpose::Confirm, Some(1_000));
        assert_eq!(
            s.verify(&t, Purpose::Confirm, 1_001),
            Err(TokenError::Expired { subscriber_id: 42 })
        );
        assert_eq!(
            s.verify(&t, Purpose::Unsubscribe, 0),
            Err(TokenError::WrongPurpose)
        );
        let other = TokenSigner::new(&Secret::new("other"));
        assert_eq!(
            other.verify(&t, Purpose::Confirm, 0),
            Err(TokenError::BadSignature)
        );
        let forged_payload = URL_SAFE_NO_PAD.encode("c:43:1000");
        let forged = format!("{forged_payload}.{}", t.split_once('.').unwrap().1);
        assert_eq!(
            s.verify(&forged, Purpose::Confirm, 0),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            s.verify("garbage", Purpose::Confirm, 0),
            Err(TokenError::Malformed)
        );
        assert_eq!(
            s.verify("a.b.c", Purpose::Confirm, 0),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn short_tags_verify_only_for_their_data_and_context() {
        let s = signer();
        let tag = s.short_tag("verp", "d1-2");
        assert_eq!(tag.len(), 16);
        assert!(s.verify_short_tag("verp", "d1-2", &tag));
        assert!(s.verify_short_tag("verp", "d1-2", &tag.to_ascii_uppercase()));
        assert!(!s.verify_short_tag("verp", "d1-3", &tag));
        assert!(!s.verify_short_tag("other", "d1-2", &tag));
        assert!(!s.verify_short_tag("verp", "d1-2", &tag[..15]));
        assert!(!s.verify_short_tag("verp", "d1-2", "zz"));
    }

    /// The values a plain HMAC-SHA256 over the same bytes gives (Python's `hmac`): links
    /// in mail already sent and stored fingerprints keep matching whatever the keying.
    #[test]
    fn tokens_tags_and_fingerprints_are_plain_hmac_sha256() {
        let s = signer();
        assert_eq!(
            s.sign(42, Purpose::Unsubscribe, None),
            "dTo0Mjow.iRk2e64IGdnqvsXT6L63xYw0_IAFOGMvD_AV1AKwefs"
        );
        assert_eq!(
            s.fingerprint("reader@example.org"),
            "VdNtSa6Pubs-b1x_JfKiCFgM2fFhNE3ByxTOLYeAb2U"
        );
        assert_eq!(s.short_tag("verp", "d1-2"), "8ad5892dba1b73af");
        // A signer keeps working after being cloned and used many times.
        let copy = s.clone();
        for _ in 0..3 {
            assert_eq!(
                copy.sign(42, Purpose::Unsubscribe, None),
                s.sign(42, Purpose::Unsubscribe, None)
            );
        }
    }

    #[test]
    fn unsubscribe_tokens_never_expire() {
        let t = signer().sign(7, Purpose::Unsubscribe, None);
        assert_eq!(signer().verify(&t, Purpose::Unsubscribe, i64::MAX), Ok(7));
    }

    #[test]
    fn constant_time_eq_works() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
