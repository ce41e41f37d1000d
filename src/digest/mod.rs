//! The daily digest: choosing the day's articles, rendering the email once, and filling
//! in each recipient's greeting and links cheaply.
//!
//! The delivery side needs one thing from here: a [`Personaliser`] to turn a stored digest
//! into one recipient's subject, HTML and text without rendering the template again.
//! Making (or finding) the stored digest for a date is the edition's
//! ([`crate::edition::compose_for_date`]), since the edition owns the "nothing to send" rule.

pub mod compose;
pub mod personalise;

use anyhow::Context;

use crate::{
    app::App,
    config::DigestConfig,
    links::{Links, PersonalLinks},
};
use personalise::{EncodedTemplate, Fill, Template};

pub use compose::{Selection, section_of, select, subject_for, subject_from_pattern};

/// A stored digest ready to be personalised per recipient. Load it once per digest (per
/// process); [`Personaliser::render_for`] then costs microseconds per recipient.
pub struct Personaliser {
    digest_id: i64,
    subject: String,
    html: Template,
    text: Template,
    /// The same two parts with their literal pieces quoted-printable, for sending.
    html_qp: EncodedTemplate,
    text_qp: EncodedTemplate,
    /// The readers' links (their preferences links all expire alike, counted from load).
    links: Links,
    greetings: Box<DigestConfig>,
}

/// One reader's copy of a digest, ready for [`crate::mail::EncodedEmail`]: both parts
/// quoted-printable, and the links they carry (signed once; the unsubscribe link goes
/// into `List-Unsubscribe` as it is).
#[derive(Debug)]
pub struct ReaderCopy {
    pub html_qp: String,
    pub text_qp: String,
    pub links: PersonalLinks,
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
    /// Loads the rendering stored by [`crate::edition::compose_for_date`] for `digest_id`.
    pub async fn load(app: &App, digest_id: i64) -> anyhow::Result<Personaliser> {
        let digest = app.store.digest(digest_id).await?;
        let (html, text) = app
            .store
            .digest_templates(digest_id)
            .await?
            .with_context(|| format!("digest {digest_id} has not been composed"))?;
        let damaged = || format!("the stored rendering of digest {digest_id} is damaged");
        let html = Template::from_json(&html).with_context(damaged)?;
        let text = Template::from_json(&text).with_context(damaged)?;
        Ok(Personaliser {
            digest_id,
            subject: digest.subject.unwrap_or_default(),
            html_qp: html.quoted_printable(),
            text_qp: text.quoted_printable(),
            html,
            text,
            links: Links::new(app),
            greetings: Box::new(greeting_config(app).await?),
        })
    }

    pub fn digest_id(&self) -> i64 {
        self.digest_id
    }

    /// The digest's subject (the same for every recipient).
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Subject, HTML and plain text of the digest for one recipient: the greeting by the
    /// editor's pattern ([`greeting`]) and their own unsubscribe
    /// and preferences links.
    pub fn render_for(&self, subscriber_id: i64, name: Option<&str>) -> (String, String, String) {
        let greeting = greeting(&self.greetings, name);
        let links = self.links.personal(subscriber_id);
        let fill = fill(&greeting, &links);
        (
            self.subject.clone(),
            self.html.fill(&fill),
            self.text.fill(&fill),
        )
    }

    /// One recipient's copy for sending: as [`render_for`](Self::render_for), with both
    /// parts quoted-printable and the links returned (each token signed once).
    pub fn reader_copy(&self, subscriber_id: i64, name: Option<&str>) -> ReaderCopy {
        let greeting = greeting(&self.greetings, name);
        let links = self.links.personal(subscriber_id);
        let fill = fill(&greeting, &links);
        ReaderCopy {
            html_qp: self.html_qp.fill(&fill),
            text_qp: self.text_qp.fill(&fill),
            links,
        }
    }

    /// The links this personaliser writes into each copy.
    pub fn links(&self) -> &Links {
        &self.links
    }

    /// A test copy for an editor: the greeting for readers without a name, and links
    /// that cannot act on anyone's subscription: unsubscribe and preferences lead to
    /// `test_page_url` (a page saying this was a test copy).
    pub fn render_test_copy(&self, test_page_url: &str) -> (String, String, String) {
        let greeting = greeting(&self.greetings, None);
        let fill = Fill {
            greeting: &greeting,
            unsubscribe_url: test_page_url,
            preferences_url: test_page_url,
        };
        (
            self.subject.clone(),
            self.html.fill(&fill),
            self.text.fill(&fill),
        )
    }
}

fn fill<'a>(greeting: &'a str, links: &'a PersonalLinks) -> Fill<'a> {
    Fill {
        greeting,
        unsubscribe_url: &links.unsubscribe,
        preferences_url: &links.preferences,
    }
}

/// Settings keys of the greeting an editor set in /admin/schedule.
pub const GREETING_SETTING: &str = "digest.greeting";
pub const GREETING_WITHOUT_NAME_SETTING: &str = "digest.greeting_without_name";

/// The digest settings with the greeting an editor chose in the admin, which wins over
/// the configuration's `digest.greeting` / `digest.greeting_without_name`.
pub async fn greeting_config(app: &App) -> anyhow::Result<DigestConfig> {
    let mut c = app.config.digest.clone();
    if let Some(g) = app.store.setting(GREETING_SETTING).await? {
        c.greeting = g;
    }
    if let Some(g) = app.store.setting(GREETING_WITHOUT_NAME_SETTING).await? {
        c.greeting_without_name = g;
    }
    Ok(c)
}

/// The greeting above the editor's note: the configured pattern with the reader's
/// first name, or the pattern for readers without one (also the archive's), or nothing.
/// Only what the editor wrote: no time-of-day word is added.
pub fn greeting(config: &DigestConfig, name: Option<&str>) -> String {
    // Line breaks or other control characters typed into a form would break the text
    // part's layout; a very long name would break the greeting's.
    let name: String = name
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(100)
        .collect();
    let first = name.split_whitespace().next().unwrap_or("");
    if first.is_empty() || !config.greeting.contains("{first_name}") {
        if first.is_empty() {
            return config.greeting_without_name.trim().to_owned();
        }
        return config.greeting.trim().to_owned();
    }
    config
        .greeting
        .replace("{first_name}", first)
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(with: &str, without: &str) -> DigestConfig {
        let mut c = crate::config::Config::from_toml_str("").unwrap().digest;
        c.greeting = with.into();
        c.greeting_without_name = without.into();
        c
    }

    #[test]
    fn greetings_follow_the_editors_pattern() {
        let c = config("Hello, {first_name}.", "Hello.");
        assert_eq!(greeting(&c, Some("Ana Lima")), "Hello, Ana.");
        assert_eq!(greeting(&c, Some("  ")), "Hello.");
        assert_eq!(greeting(&c, None), "Hello.");
        assert_eq!(greeting(&c, Some("A\r\nna")), "Hello, Ana.");
        let none = config("", "");
        assert_eq!(greeting(&none, Some("Ana")), "");
        assert_eq!(greeting(&none, None), "");
        let fixed = config("Morning all", "Morning all");
        assert_eq!(greeting(&fixed, Some("Ana")), "Morning all");
    }
}
