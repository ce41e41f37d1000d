//! The words an editor may change, in Markdown: the confirmation and welcome emails, the
//! sign-up page's pitch and the confirmed page. Only the prose is editable: the confirm
//! button, the unsubscribe link, the preferences link and the line saying when issues
//! arrive are drawn by the templates around it, so no edit can remove them. Rendering
//! and cleaning go through the editor's note's own Markdown path
//! ([`crate::digest::compose::EditorNote`]), links included.

use crate::{app::App, digest::compose::EditorNote};

use super::look::{Copy, CopyKey, Saved};

/// Longest copy accepted: these are a few sentences, not an issue.
pub const MAX_CHARS: usize = 4000;

impl CopyKey {
    pub const ALL: [CopyKey; 4] = [
        CopyKey::SignupPitch,
        CopyKey::Confirmation,
        CopyKey::Confirmed,
        CopyKey::Welcome,
    ];

    /// The `brand_settings` key, also the form field's name.
    pub fn key(self) -> &'static str {
        match self {
            CopyKey::Confirmation => "copy.confirmation",
            CopyKey::Welcome => "copy.welcome",
            CopyKey::SignupPitch => "copy.signup_pitch",
            CopyKey::Confirmed => "copy.confirmed",
        }
    }

    pub fn from_key(key: &str) -> Option<CopyKey> {
        CopyKey::ALL.into_iter().find(|k| k.key() == key)
    }

    pub fn label(self) -> &'static str {
        match self {
            CopyKey::Confirmation => "Confirmation email",
            CopyKey::Welcome => "Welcome email",
            CopyKey::SignupPitch => "Sign-up page pitch",
            CopyKey::Confirmed => "Confirmed page",
        }
    }

    /// What the template adds around the text, so the editor knows what not to repeat.
    pub fn fixed_parts(self) -> &'static str {
        match self {
            CopyKey::Confirmation => {
                "Added for you: the heading, the confirm button with its link, how long the link works, and the \"ignore this\" note."
            }
            CopyKey::Welcome => {
                "Added for you: the greeting, when issues arrive, the preferences button and a visible unsubscribe link."
            }
            CopyKey::SignupPitch => "Shown under the page heading, above the sign-up form.",
            CopyKey::Confirmed => {
                "Added for you: the heading, when the first issue arrives, the latest issue and the preferences link."
            }
        }
    }

    /// Today's words, from the configured name and pitch.
    pub fn default_text(self, app: &App) -> String {
        let n = &app.config.newsletter;
        match self {
            CopyKey::Confirmation => format!("Thanks for signing up to {}. {}", n.name, n.pitch),
            CopyKey::Welcome => format!(
                "You are now subscribed to {}. {}\n\nYou can change how often you hear from us, pause for a while, or leave at any time from your preferences page.",
                n.name, n.pitch
            ),
            CopyKey::SignupPitch => n.pitch.clone(),
            CopyKey::Confirmed => format!(
                "Thank you for confirming. {} will come to your inbox.",
                n.name
            ),
        }
    }
}

/// A piece of copy ready for a view: cleaned HTML and its plain-text twin.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rendered {
    pub html: String,
    pub text: String,
}

impl Copy {
    pub fn from_saved(app: &App, saved: &Saved) -> Copy {
        let texts = CopyKey::ALL
            .into_iter()
            .map(|k| {
                let text = saved
                    .get(k.key())
                    .filter(|t| !t.trim().is_empty())
                    .map_or_else(|| k.default_text(app), str::to_owned);
                (k, text)
            })
            .collect();
        Copy { texts }
    }

    /// The Markdown source (empty before the first load).
    pub fn markdown(&self, key: CopyKey) -> &str {
        self.texts
            .iter()
            .find(|(k, _)| *k == key)
            .map_or("", |(_, t)| t.as_str())
    }

    pub fn rendered(&self, key: CopyKey, app: &App) -> Rendered {
        let source = self.markdown(key);
        if source.trim().is_empty() {
            return render(&key.default_text(app), app).unwrap_or_default();
        }
        render(source, app).unwrap_or_default()
    }
}

/// Markdown to cleaned HTML and text, or `None` when nothing readable is left.
pub fn render(markdown: &str, app: &App) -> Option<Rendered> {
    EditorNote::from_markdown(markdown, app).map(|n| Rendered {
        html: n.html,
        text: n.text,
    })
}

/// The text to save, or why not: too long, or nothing left once cleaned.
pub fn check(markdown: &str, app: &App) -> Result<String, String> {
    let text = markdown.replace("\r\n", "\n");
    if text.chars().count() > MAX_CHARS {
        return Err(format!("Keep it under {MAX_CHARS} characters."));
    }
    if text.trim().is_empty() {
        return Ok(String::new());
    }
    if render(&text, app).is_none() {
        return Err("Nothing readable is left once HTML is removed; write it in Markdown.".into());
    }
    Ok(text)
}
