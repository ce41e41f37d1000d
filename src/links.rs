//! Every link in our mail that acts for one reader: unsubscribe, preferences, confirm,
//! and the issue's web copy ("View in browser").
//!
//! One owner for them, so that the digest and the transactional mails agree on their
//! shape and so that a message signs each token once: the unsubscribe link in a digest's
//! body and its `List-Unsubscribe` header are the same string, signed once per recipient
//! (before issue 15 the header's token was signed a second time by the transactional
//! job's helper). Tokens are [`TokenSigner`] tokens: HMAC-signed, nothing stored per link.

use crate::{
    app::App,
    domain::{Purpose, TokenSigner},
    mail::Unsubscribe,
    store::digests::{Digest, EditionKind},
};

/// Builds the personal links of one process's mail. Cheap to make (a few strings); a
/// sender makes one per digest and reuses it for every recipient.
#[derive(Clone)]
pub struct Links {
    signer: TokenSigner,
    base: String,
    unsubscribe_base: String,
    preferences_base: String,
    confirm_base: String,
    /// `mailto:` alternative of `List-Unsubscribe`, when configured.
    unsubscribe_mailto: Option<String>,
    /// When preferences links made by this value stop working (fixed when it is made,
    /// so one digest's links share it).
    preferences_expire_at: Option<i64>,
}

impl std::fmt::Debug for Links {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Links")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// The two links every list message carries, for one recipient, each signed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalLinks {
    pub unsubscribe: String,
    pub preferences: String,
}

impl Links {
    /// The links as of now: preferences links expire `subscribers.preferences_link_days`
    /// from this moment.
    pub fn new(app: &App) -> Links {
        let base = app.url("");
        let mailto = app.config.newsletter.unsubscribe_mailto.trim();
        Links {
            signer: app.signer.clone(),
            unsubscribe_base: format!("{base}/unsubscribe?token="),
            preferences_base: format!("{base}/preferences?token="),
            confirm_base: format!("{base}/confirm?token="),
            base,
            unsubscribe_mailto: (!mailto.is_empty())
                .then(|| format!("mailto:{mailto}?subject=unsubscribe")),
            preferences_expire_at: preferences_expiry(app),
        }
    }

    /// Unsubscribe and preferences links of one recipient.
    pub fn personal(&self, subscriber_id: i64) -> PersonalLinks {
        PersonalLinks {
            unsubscribe: self.unsubscribe(subscriber_id),
            preferences: self.preferences(subscriber_id),
        }
    }

    /// The one-click unsubscribe link; it never expires (RFC 8058 links must keep
    /// working in old mail).
    pub fn unsubscribe(&self, subscriber_id: i64) -> String {
        self.signed(
            &self.unsubscribe_base,
            subscriber_id,
            Purpose::Unsubscribe,
            None,
        )
    }

    /// The unsubscribe token alone (for forms that post it back).
    pub fn unsubscribe_token(&self, subscriber_id: i64) -> String {
        self.signer.sign(subscriber_id, Purpose::Unsubscribe, None)
    }

    /// The preferences page; expires per `subscribers.preferences_link_days`.
    pub fn preferences(&self, subscriber_id: i64) -> String {
        self.signed(
            &self.preferences_base,
            subscriber_id,
            Purpose::Preferences,
            self.preferences_expire_at,
        )
    }

    /// The preferences token alone.
    pub fn preferences_token(&self, subscriber_id: i64) -> String {
        self.signer.sign(
            subscriber_id,
            Purpose::Preferences,
            self.preferences_expire_at,
        )
    }

    /// The double opt-in link, working until `expires_at_ms`.
    pub fn confirm(&self, subscriber_id: i64, expires_at_ms: i64) -> String {
        self.signed(
            &self.confirm_base,
            subscriber_id,
            Purpose::Confirm,
            Some(expires_at_ms),
        )
    }

    /// The issue's public web copy (the same for every reader).
    pub fn archive(&self, digest: &Digest) -> String {
        format!("{}{}", self.base, archive_path(digest))
    }

    /// The RFC 8058 header pair for an unsubscribe link already made (no second
    /// signature): the URL and, when configured, the `mailto:` alternative.
    pub fn list_unsubscribe(&self, unsubscribe_url: String) -> Unsubscribe {
        Unsubscribe {
            url: unsubscribe_url,
            mailto: self.unsubscribe_mailto.clone(),
        }
    }

    fn signed(
        &self,
        base: &str,
        subscriber_id: i64,
        purpose: Purpose,
        expires: Option<i64>,
    ) -> String {
        let token = self.signer.sign(subscriber_id, purpose, expires);
        let mut url = String::with_capacity(base.len() + token.len());
        url.push_str(base);
        url.push_str(&token);
        url
    }
}

/// Where the archive shows an edition: the daily issue under its date, the others (special
/// and weekly editions share the date) under their id.
pub fn archive_path(d: &Digest) -> String {
    archive_path_of(d.kind.as_str(), d.id, &d.issue_date.to_string())
}

/// [`archive_path`] for the list rows that carry an edition's kind as stored text (the
/// archive index, its neighbours, a subscriber's deliveries). A kind this build does not
/// know gets the id path, which opens whatever edition it is.
pub fn archive_path_of(kind: &str, id: i64, issue_date: &str) -> String {
    match kind.parse::<EditionKind>() {
        Ok(EditionKind::Daily) => format!("/archive/{issue_date}"),
        _ => format!("/archive/{id}"),
    }
}

/// When a preferences link made now stops working (`subscribers.preferences_link_days`):
/// a link in an old email, or shown on a replayed confirmation, does not open the
/// subscriber's data for ever. Every email carries a fresh one.
pub fn preferences_expiry(app: &App) -> Option<i64> {
    let days = app.config.subscribers.preferences_link_days;
    (days > 0).then(|| app.now_ms() + chrono::Duration::days(i64::from(days)).num_milliseconds())
}
