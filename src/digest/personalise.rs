//! Render once, personalise cheaply.
//!
//! The digest is rendered a single time with unguessable placeholders where the
//! greeting and the personal links go, then cut at those placeholders into a
//! [`Template`]: the literal pieces between them, and which personal value fills each
//! gap. Per recipient, only the pieces are copied into one buffer with the recipient's
//! values in between: no template engine, no search, no regular expression.

use serde::{Deserialize, Serialize};

use crate::mail::qp;

/// A personal value the template leaves open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Slot {
    Greeting,
    Unsubscribe,
    Preferences,
}

const SLOTS: [Slot; 3] = [Slot::Greeting, Slot::Unsubscribe, Slot::Preferences];

/// The values for one recipient (or the non-personal ones, for the archive copy).
#[derive(Debug, Clone, Copy)]
pub struct Fill<'a> {
    pub greeting: &'a str,
    pub unsubscribe_url: &'a str,
    pub preferences_url: &'a str,
}

impl Fill<'_> {
    fn value(&self, slot: Slot) -> &str {
        match slot {
            Slot::Greeting => self.greeting,
            Slot::Unsubscribe => self.unsubscribe_url,
            Slot::Preferences => self.preferences_url,
        }
    }
}

/// Placeholders for one rendering. The random part means that no feed, title or note
/// can contain one by accident or on purpose and shift a recipient's links.
#[derive(Debug, Clone)]
pub struct Sentinels {
    nonce: String,
}

impl Default for Sentinels {
    fn default() -> Self {
        Self::new()
    }
}

impl Sentinels {
    pub fn new() -> Self {
        Sentinels {
            nonce: uuid::Uuid::new_v4().simple().to_string(),
        }
    }

    /// Only letters and digits, so the template's HTML escaping leaves it intact in text
    /// and in attributes alike.
    pub fn for_slot(&self, slot: Slot) -> String {
        let tag = match slot {
            Slot::Greeting => "greeting",
            Slot::Unsubscribe => "unsubscribe",
            Slot::Preferences => "preferences",
        };
        format!("BFSLOT{}{tag}", self.nonce)
    }
}

/// How the recipient's values are written into the part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Escape {
    Html,
    Text,
}

/// One part (HTML or text) of a rendered digest, cut at its personal values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    /// One more than `slots`: `parts[0] slots[0] parts[1] … parts[n]`.
    parts: Vec<String>,
    slots: Vec<Slot>,
    escape: Escape,
    /// Bytes of the literal parts, so each fill allocates exactly once.
    literal_len: usize,
}

#[derive(Debug, thiserror::Error)]
#[error("the rendered digest has {count} placeholders for the {slot:?}, expected exactly one")]
pub struct SplitError {
    slot: Slot,
    count: usize,
}

impl Template {
    /// Cuts `rendered` at each of the sentinels, which must each occur exactly once.
    pub fn split(
        rendered: &str,
        sentinels: &Sentinels,
        escape: Escape,
    ) -> Result<Template, SplitError> {
        let mut found = Vec::with_capacity(SLOTS.len());
        for slot in SLOTS {
            let marker = sentinels.for_slot(slot);
            let at: Vec<usize> = rendered.match_indices(&marker).map(|(i, _)| i).collect();
            if at.len() != 1 {
                return Err(SplitError {
                    slot,
                    count: at.len(),
                });
            }
            found.push((at[0], marker.len(), slot));
        }
        found.sort_by_key(|(at, _, _)| *at);
        let mut parts = Vec::with_capacity(found.len() + 1);
        let mut slots = Vec::with_capacity(found.len());
        let mut from = 0;
        for (at, len, slot) in found {
            parts.push(rendered[from..at].to_owned());
            slots.push(slot);
            from = at + len;
        }
        parts.push(rendered[from..].to_owned());
        let literal_len = parts.iter().map(String::len).sum();
        Ok(Template {
            parts,
            slots,
            escape,
            literal_len,
        })
    }

    /// The part with `fill`'s values in place.
    pub fn fill(&self, fill: &Fill<'_>) -> String {
        let extra: usize = self.slots.iter().map(|s| fill.value(*s).len() * 2).sum();
        let mut out = String::with_capacity(self.literal_len + extra);
        out.push_str(&self.parts[0]);
        for (slot, part) in self.slots.iter().zip(&self.parts[1..]) {
            let value = fill.value(*slot);
            match self.escape {
                Escape::Html => templates::push_escaped(&mut out, value),
                Escape::Text => out.push_str(value),
            }
            out.push_str(part);
        }
        out
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a template serialises")
    }

    pub fn from_json(json: &str) -> Result<Template, serde_json::Error> {
        let t: Template = serde_json::from_str(json)?;
        if t.parts.len() != t.slots.len() + 1 {
            return Err(serde::de::Error::custom(
                "template parts and slots disagree",
            ));
        }
        Ok(t)
    }
}

/// A [`Template`] whose literal pieces are already quoted-printable, for the MIME part
/// of a message: per recipient only the personal values are encoded
/// ([`crate::mail::qp`]); the rest is copied. Decodes to exactly what
/// [`Template::fill`] gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedTemplate {
    parts: Vec<String>,
    slots: Vec<Slot>,
    escape: Escape,
    literal_len: usize,
}

impl Template {
    /// Encodes the literal pieces once.
    pub fn quoted_printable(&self) -> EncodedTemplate {
        let parts: Vec<String> = self
            .parts
            .iter()
            .map(|p| {
                let mut out = String::with_capacity(qp::encoded_len_hint(p));
                qp::encode_piece(&mut out, p);
                out
            })
            .collect();
        EncodedTemplate {
            literal_len: parts.iter().map(String::len).sum(),
            parts,
            slots: self.slots.clone(),
            escape: self.escape,
        }
    }
}

impl EncodedTemplate {
    /// The part with `fill`'s values in place, quoted-printable.
    pub fn fill(&self, fill: &Fill<'_>) -> String {
        let extra: usize = self
            .slots
            .iter()
            .map(|s| fill.value(*s).len() * 3 + 8)
            .sum();
        let mut out = String::with_capacity(self.literal_len + extra);
        let mut escaped = String::new();
        out.push_str(&self.parts[0]);
        for (slot, part) in self.slots.iter().zip(&self.parts[1..]) {
            let value = fill.value(*slot);
            match self.escape {
                Escape::Html => {
                    escaped.clear();
                    templates::push_escaped(&mut escaped, value);
                    qp::encode_piece(&mut out, &escaped);
                }
                Escape::Text => qp::encode_piece(&mut out, value),
            }
            out.push_str(part);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(s: &Sentinels) -> String {
        format!(
            "<p>{}</p><p>article</p><a href=\"{}\">u</a> <a href=\"{}\">p</a>",
            s.for_slot(Slot::Greeting),
            s.for_slot(Slot::Unsubscribe),
            s.for_slot(Slot::Preferences)
        )
    }

    const FILL: Fill<'static> = Fill {
        greeting: "Good morning, Ana <3 & co",
        unsubscribe_url: "https://x.example/unsubscribe?token=a.b",
        preferences_url: "https://x.example/preferences?token=c.d",
    };

    #[test]
    fn fills_each_slot_escaped_for_html() {
        let s = Sentinels::new();
        let t = Template::split(&sample(&s), &s, Escape::Html).unwrap();
        assert_eq!(
            t.fill(&FILL),
            "<p>Good morning, Ana &lt;3 &amp; co</p><p>article</p>\
             <a href=\"https://x.example/unsubscribe?token=a.b\">u</a> \
             <a href=\"https://x.example/preferences?token=c.d\">p</a>"
        );
    }

    #[test]
    fn text_is_filled_verbatim_and_survives_json() {
        let s = Sentinels::new();
        let t = Template::split(&sample(&s), &s, Escape::Text).unwrap();
        let back = Template::from_json(&t.to_json()).unwrap();
        assert_eq!(back, t);
        assert!(back.fill(&FILL).contains("Ana <3 & co"));
    }

    #[test]
    fn the_encoded_template_decodes_to_the_filled_one() {
        let s = Sentinels::new();
        let long = format!("{}\n{} café — ☕ ", "x".repeat(300), sample(&s));
        for escape in [Escape::Html, Escape::Text] {
            let t = Template::split(&long, &s, escape).unwrap();
            let encoded = t.quoted_printable().fill(&FILL);
            assert!(encoded.split("\r\n").all(|l| l.len() <= 76));
            let decoded = String::from_utf8(qp::decode(&encoded)).unwrap();
            assert_eq!(decoded, t.fill(&FILL).replace('\n', "\r\n"));
        }
    }

    #[test]
    fn a_missing_or_repeated_placeholder_is_refused() {
        let s = Sentinels::new();
        let twice = format!("{}{}", sample(&s), s.for_slot(Slot::Greeting));
        assert!(Template::split(&twice, &s, Escape::Html).is_err());
        assert!(Template::split("<p>nothing</p>", &s, Escape::Html).is_err());
        // Another rendering's placeholders are just text.
        let other = Sentinels::new();
        let t = Template::split(
            &format!("{}{}", sample(&s), sample(&other)),
            &s,
            Escape::Text,
        );
        assert!(t.is_ok());
    }
}
