//! The daily digest: choosing the day's articles, rendering the email once, and filling
//! in each recipient's greeting and links cheaply.
//!
//! The delivery side needs two things from here: [`compose_for_date`] to make (or find)
//! the stored digest for a date, and a [`Personaliser`] to turn that stored digest into
//! one recipient's subject, HTML and text without rendering the template again.

pub mod compose;
pub mod personalise;

use anyhow::Context;
use chrono::NaiveDate;

use crate::{app::App, domain::Purpose, domain::TokenSigner};
use personalise::{Fill, Template};

pub use compose::{PLAIN_GREETING, Selection, select, subject_from_pattern};

/// What [`compose_for_date`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComposeOutcome {
    /// The digest is stored (or refreshed) and ready to preview or send.
    Composed(i64),
    /// Nothing new since the last sent digest and `digest.skip_when_empty` is on; the
    /// date's digest is marked skipped.
    SkippedNothingNew,
    /// The digest for that date is already sending or sent; it is never recomposed.
    AlreadySent(i64),
}

/// Composes the digest for `date` from the articles since the previous sent digest and
/// stores it (subject, preheader, HTML, text, article ids), replacing an earlier unsent
/// composition for the same date. Calling it again before sending picks up new articles
/// and the editor's latest picks and note.
pub async fn compose_for_date(app: &App, date: NaiveDate) -> anyhow::Result<ComposeOutcome> {
    compose_for_date_skipping(app, date, app.config.digest.skip_when_empty).await
}

/// As [`compose_for_date`], with the "skip days with nothing new" choice made by the
/// caller: the scheduler passes the schedule's own setting, which the editor may have
/// changed in the admin since the configuration file was written.
pub async fn compose_for_date_skipping(
    app: &App,
    date: NaiveDate,
    skip_when_empty: bool,
) -> anyhow::Result<ComposeOutcome> {
    compose::compose(app, date, skip_when_empty)
        .await
        .with_context(|| format!("cannot compose the digest for {date}"))
}

/// A stored digest ready to be personalised per recipient. Load it once per digest (per
/// process); [`Personaliser::render_for`] then costs microseconds per recipient.
pub struct Personaliser {
    digest_id: i64,
    subject: String,
    html: Template,
    text: Template,
    signer: TokenSigner,
    unsubscribe_base: String,
    preferences_base: String,
    /// When this preferences links stop working.
    preferences_expire_at: Option<i64>,
}

impl std::fmt::Debug for Personaliser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Personaliser")
            .field("digest_id", &self.digest_id)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

impl Personaliser {
    /// Loads the rendering stored by [`compose_for_date`] for `digest_id`.
    pub async fn load(app: &App, digest_id: i64) -> anyhow::Result<Personaliser> {
        let digest = app.store.digest(digest_id).await?;
        let (html, text) = app
            .store
            .digest_templates(digest_id)
            .await?
            .with_context(|| format!("digest {digest_id} has not been composed"))?;
        let damaged = || format!("the stored rendering of digest {digest_id} is damaged");
        Ok(Personaliser {
            digest_id,
            subject: digest.subject.unwrap_or_default(),
            html: Template::from_json(&html).with_context(damaged)?,
            text: Template::from_json(&text).with_context(damaged)?,
            signer: app.signer.clone(),
            unsubscribe_base: app.url("/unsubscribe?token="),
            preferences_base: app.url("/preferences?token="),
            preferences_expire_at: crate::subscribers::preferences_expiry(app),
        })
    }

    pub fn digest_id(&self) -> i64 {
        self.digest_id
    }

    /// The digest's subject (the same for every recipient).
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Subject, HTML and plain text of the digest for one recipient: greeting by name
    /// ("Good morning, Ana", or "Good morning," without one) and their own unsubscribe
    /// and preferences links.
    pub fn render_for(&self, subscriber_id: i64, name: Option<&str>) -> (String, String, String) {
        let greeting = greeting(name);
        let unsubscribe = self.unsubscribe_url(subscriber_id);
        let preferences = self.preferences_url(subscriber_id);
        let fill = Fill {
            greeting: &greeting,
            unsubscribe_url: &unsubscribe,
            preferences_url: &preferences,
        };
        (
            self.subject.clone(),
            self.html.fill(&fill),
            self.text.fill(&fill),
        )
    }

    /// The recipient's unsubscribe URL (never expires), also for `List-Unsubscribe`.
    pub fn unsubscribe_url(&self, subscriber_id: i64) -> String {
        let token = self.signer.sign(subscriber_id, Purpose::Unsubscribe, None);
        format!("{}{token}", self.unsubscribe_base)
    }

    pub fn preferences_url(&self, subscriber_id: i64) -> String {
        let token = self.signer.sign(
            subscriber_id,
            Purpose::Preferences,
            self.preferences_expire_at,
        );
        format!("{}{token}", self.preferences_base)
    }
}

/// Today's issue date: the date in the schedule's time zone, where the readers are.
pub fn today(app: &App) -> NaiveDate {
    let now = app.clock.now();
    match app.config.schedule.time_zone.parse::<chrono_tz::Tz>() {
        Ok(tz) => now.with_timezone(&tz).date_naive(),
        Err(_) => now.date_naive(),
    }
}

/// "Good morning, Ana" for a subscriber who gave a name, "Good morning," otherwise.
pub fn greeting(name: Option<&str>) -> String {
    // Line breaks or other control characters typed into a form would break the text
    // part's layout; a very long name would break the greeting's.
    let name: String = name
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(100)
        .collect();
    match name.trim() {
        "" => PLAIN_GREETING.to_owned(),
        name => format!("Good morning, {name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greetings() {
        assert_eq!(greeting(Some("Ana")), "Good morning, Ana");
        assert_eq!(greeting(Some("  ")), "Good morning,");
        assert_eq!(greeting(None), "Good morning,");
        assert_eq!(greeting(Some("A\r\nna")), "Good morning, Ana");
    }
}
