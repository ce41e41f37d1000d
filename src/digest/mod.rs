//! The daily digest: choosing the day's articles, rendering the email once, and filling
//! in each recipient's greeting and links cheaply.
//!
//! The delivery side needs two things from here: [`compose_for_date`] to make (or find)
//! the stored digest for a date, and a [`Personaliser`] to turn that stored digest into
//! one recipient's subject, HTML and text without rendering the template again.

use chrono::NaiveDate;

use crate::app::App;

/// What [`compose_for_date`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComposeOutcome {
    /// The digest is stored (or refreshed) and ready to preview or send.
    Composed(i64),
    /// Nothing new since the last sent digest and `digest.skip_when_empty` is on.
    SkippedNothingNew,
    /// The digest for that date is already sending or sent; it is never recomposed.
    AlreadySent(i64),
}

/// Composes the digest for `date` from the articles since the previous sent digest and
/// stores it (subject, preheader, HTML, text, article ids), replacing an earlier unsent
/// composition for the same date.
pub async fn compose_for_date(app: &App, date: NaiveDate) -> anyhow::Result<ComposeOutcome> {
    let _ = (app, date);
    anyhow::bail!("composing digests is not implemented yet")
}

/// A stored digest ready to be personalised per recipient.
pub struct Personaliser {
    subject: String,
}

impl Personaliser {
    /// Loads the rendered digest `digest_id` once; call [`Personaliser::render_for`] per
    /// recipient after that.
    pub async fn load(app: &App, digest_id: i64) -> anyhow::Result<Personaliser> {
        let _ = (app, digest_id);
        anyhow::bail!("personalising digests is not implemented yet")
    }

    /// The digest's subject (the same for every recipient).
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Subject, HTML and plain text of the digest for one recipient: greeting by name
    /// ("Good morning, Ana", or "Good morning," without one) and their own unsubscribe
    /// and preferences links.
    pub fn render_for(&self, subscriber_id: i64, name: Option<&str>) -> (String, String, String) {
        let _ = (subscriber_id, name);
        (self.subject.clone(), String::new(), String::new())
    }

    /// The recipient's one-click unsubscribe URL, for the `List-Unsubscribe` header.
    pub fn unsubscribe_url(&self, subscriber_id: i64) -> String {
        let _ = subscriber_id;
        String::new()
    }
}
