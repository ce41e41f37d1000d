//! VERP: an envelope sender that names the delivery a bounce is about.
//!
//! A list message's Return-Path is `LOCAL+TOKEN@DOMAIN`. TOKEN is `d{digest}-{subscriber}-{tag}`
//! for a digest delivery or `s{subscriber}-{tag}` for other mail to a subscriber, where tag is
//! a 64-bit HMAC over the rest: short enough for a 64-character local part, lower case so
//! that servers that fold case do not break it, and unforgeable, so a stranger's "bounce"
//! cannot unsubscribe anyone.

use lettre::Address;

use crate::{
    app::App,
    domain::TokenSigner,
    mail::{BOUNCE_REF_HEADER, ReturnPath},
};

/// What a bounce address points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BounceRef {
    /// One row of a digest's delivery ledger.
    Delivery { digest_id: i64, subscriber_id: i64 },
    /// A transactional message to a subscriber (welcome, confirmation).
    Subscriber { subscriber_id: i64 },
}

const CONTEXT: &str = "verp";

impl BounceRef {
    pub fn subscriber_id(self) -> i64 {
        match self {
            Self::Delivery { subscriber_id, .. } | Self::Subscriber { subscriber_id } => {
                subscriber_id
            }
        }
    }

    pub fn digest_id(self) -> Option<i64> {
        match self {
            Self::Delivery { digest_id, .. } => Some(digest_id),
            Self::Subscriber { .. } => None,
        }
    }

    fn payload(self) -> String {
        match self {
            Self::Delivery {
                digest_id,
                subscriber_id,
            } => format!("d{digest_id}-{subscriber_id}"),
            Self::Subscriber { subscriber_id } => format!("s{subscriber_id}"),
        }
    }

    pub fn token(self, signer: &TokenSigner) -> String {
        let payload = self.payload();
        let tag = signer.short_tag(CONTEXT, &payload);
        format!("{payload}-{tag}")
    }

    /// The reference a token names, when its tag verifies.
    pub fn verify(token: &str, signer: &TokenSigner) -> Option<BounceRef> {
        let token = token.trim().to_ascii_lowercase();
        let (payload, tag) = token.rsplit_once('-')?;
        let parsed = if let Some(rest) = payload.strip_prefix('d') {
            let (d, s) = rest.split_once('-')?;
            BounceRef::Delivery {
                digest_id: d.parse().ok()?,
                subscriber_id: s.parse().ok()?,
            }
        } else {
            BounceRef::Subscriber {
                subscriber_id: payload.strip_prefix('s')?.parse().ok()?,
            }
        };
        // Re-derive the payload so that "d01-2" cannot pass for "d1-2".
        (parsed.payload() == payload && signer.verify_short_tag(CONTEXT, payload, tag))
            .then_some(parsed)
    }
}

/// The envelope sender for mail about `r`, or `None` without a bounce domain (the From
/// address then stays the envelope sender, as before bounce processing existed).
pub fn return_path(app: &App, r: BounceRef) -> Option<ReturnPath> {
    let b = &app.config.bounces;
    let domain = b.domain.trim();
    if domain.is_empty() {
        return None;
    }
    let token = r.token(&app.signer);
    let local = format!("{}+{token}", b.local_part.trim());
    match Address::new(local, domain) {
        Ok(address) => Some(ReturnPath { address, token }),
        Err(e) => {
            tracing::warn!(error = %e, "cannot build the VERP bounce address; using the From address");
            None
        }
    }
}

/// Candidate tokens in a report: after `LOCAL+` (the bounce address, which DSNs quote in
/// their headers and the original message's Return-Path) and after our own header.
/// Candidates are not trusted; [`BounceRef::verify`] decides.
pub fn candidate_tokens(text: &str, local_part: &str) -> Vec<String> {
    let lower = text.to_ascii_lowercase();
    let markers = [
        format!("{}+", local_part.trim().to_ascii_lowercase()),
        format!("{}:", BOUNCE_REF_HEADER.to_ascii_lowercase()),
    ];
    let mut found = Vec::new();
    for marker in &markers {
        let mut from = 0;
        while let Some(at) = lower[from..].find(marker.as_str()) {
            let start = from + at + marker.len();
            let token: String = lower[start..]
                .trim_start_matches([' ', '\t'])
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .take(64)
                .collect();
            if !token.is_empty() && !found.contains(&token) {
                found.push(token);
            }
            from = start;
        }
    }
    found
}

/// The first candidate in `text` that verifies.
pub fn find_ref(text: &str, local_part: &str, signer: &TokenSigner) -> Option<BounceRef> {
    candidate_tokens(text, local_part)
        .iter()
        .find_map(|t| BounceRef::verify(t, signer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn signer() -> TokenSigner {
        TokenSigner::new(&Secret::new("test-secret-0123456789"))
    }

    #[test]
    fn tokens_round_trip_and_fit_a_local_part() {
        let s = signer();
        for r in [
            BounceRef::Delivery {
                digest_id: 123_456_789,
                subscriber_id: 987_654_321_012,
            },
            BounceRef::Subscriber { subscriber_id: 7 },
        ] {
            let t = r.token(&s);
            assert!(format!("bounces+{t}").len() <= 64, "{t}");
            assert_eq!(BounceRef::verify(&t, &s), Some(r));
            assert_eq!(BounceRef::verify(&t.to_ascii_uppercase(), &s), Some(r));
        }
    }

    #[test]
    fn forged_or_edited_tokens_are_refused() {
        let s = signer();
        let t = BounceRef::Delivery {
            digest_id: 1,
            subscriber_id: 2,
        }
        .token(&s);
        let tag = t.rsplit_once('-').unwrap().1;
        assert_eq!(BounceRef::verify(&format!("d1-3-{tag}"), &s), None);
        assert_eq!(BounceRef::verify(&format!("d01-2-{tag}"), &s), None);
        assert_eq!(BounceRef::verify("d1-2-0000000000000000", &s), None);
        assert_eq!(BounceRef::verify("garbage", &s), None);
        let other = TokenSigner::new(&Secret::new("another-secret-xyz"));
        assert_eq!(BounceRef::verify(&t, &other), None);
    }

    #[test]
    fn finds_tokens_in_addresses_and_headers() {
        let s = signer();
        let r = BounceRef::Subscriber { subscriber_id: 9 };
        let t = r.token(&s);
        let text = format!("To: <BOUNCES+{}@bounce.example.org>\r\n", t.to_uppercase());
        assert_eq!(find_ref(&text, "bounces", &s), Some(r));
        let text = format!("X-Breakfast-Ref: {t}\r\n");
        assert_eq!(find_ref(&text, "bounces", &s), Some(r));
        assert_eq!(find_ref("bounces+d1-2-ffff@x", "bounces", &s), None);
    }
}
