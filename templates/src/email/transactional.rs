//! One-off messages (confirm your subscription, welcome, test send) in the
//! digest's livery, so a subscriber recognises the sender before the first
//! digest ever arrives.

use maud::{PreEscaped, html};

use super::{
    CARD_BG, button, digest::inline_note, document, ink, logo_or_name, muted, push_signature, rule,
    safe_accent, sans, serif, underlined, wrap,
};
use crate::brand::Brand;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TransactionalEmail {
    pub publication: String,
    pub preheader: String,
    pub heading: String,
    /// The editable part (the publication's own words), already rendered from Markdown
    /// and cleaned by the service, with its plain-text twin; shown before `paragraphs`.
    pub intro_html: Option<String>,
    pub intro_text: Option<String>,
    /// Plain text, one entry per paragraph: the fixed sentences no edit can remove.
    pub paragraphs: Vec<String>,
    /// (label, url): the one thing the reader should do.
    pub button: Option<(String, String)>,
    /// e.g. "If you did not ask for this, ignore this email."
    pub footer_note: String,
    pub postal_address: String,
    /// List mail (the welcome email) carries a visible unsubscribe link, as the
    /// bulk-sender rules ask of every list message; a confirmation request does not.
    pub unsubscribe_url: Option<String>,
    pub brand: Brand,
}

pub fn render_transactional_html(m: &TransactionalEmail) -> String {
    let accent = safe_accent(&m.brand.accent);
    let intro = m.intro_html.as_deref().map(|h| inline_note(h, accent));
    let column = html! {
        tr {
            td.bf-card bgcolor=(CARD_BG) style={ "background-color:" (CARD_BG) ";border-top:5px solid " (accent) ";border-radius:3px" } {
                table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="border-collapse:collapse" {
                    tr {
                        td.bf-pad style="padding:26px 32px 0 32px" {
                            p.bf-accent.bf-rule style={ "margin:0;padding:0 0 18px 0;font-family:" (serif!()) ";font-size:20px;line-height:24px;font-weight:700;color:" (accent) ";border-bottom:1px solid " (rule!()) } {
                                (logo_or_name(&m.brand, &m.publication, accent, 40))
                            }
                        }
                    }
                    tr {
                        td.bf-pad style="padding:26px 32px 32px 32px" {
                            h1.bf-ink style=(concat!("margin:0 0 16px 0;font-family:", serif!(), ";font-size:28px;line-height:34px;font-weight:700;color:", ink!())) {
                                (m.heading)
                            }
                            @if let Some(intro) = intro {
                                div.bf-ink.bf-note style=(concat!("margin:0 0 16px 0;font-family:", sans!(), ";font-size:16px;line-height:25px;color:", ink!())) {
                                    (PreEscaped(intro))
                                }
                            }
                            @for p in &m.paragraphs {
                                p.bf-ink style=(concat!("margin:0 0 16px 0;font-family:", sans!(), ";font-size:16px;line-height:25px;color:", ink!())) {
                                    (p)
                                }
                            }
                            @if let Some((label, url)) = &m.button {
                                div style="padding:8px 0 18px 0" {
                                    (button(label, url, &m.brand))
                                }
                                // Some clients strip or break buttons; the
                                // address in full is the fallback.
                                p.bf-muted style=(concat!("margin:0;font-family:", sans!(), ";font-size:13px;line-height:19px;color:", muted!(), ";word-break:break-all")) {
                                    "Or paste this link into your browser: "
                                    a.bf-accent href=(url) target="_blank" style={ "color:" (accent) ";text-decoration:underline" } { (url) }
                                }
                            }
                        }
                    }
                }
            }
        }
        tr {
            td.bf-muted align="center" style="padding:24px 24px 0 24px" {
                @if !m.footer_note.is_empty() {
                    p.bf-muted style=(concat!("margin:0 0 10px 0;font-family:", sans!(), ";font-size:12px;line-height:19px;color:", muted!())) {
                        (m.footer_note)
                    }
                }
                @if let Some(url) = &m.unsubscribe_url {
                    p.bf-muted style=(concat!("margin:0 0 10px 0;font-family:", sans!(), ";font-size:12px;line-height:19px;color:", muted!())) {
                        a.bf-muted href=(url) target="_blank" style=(concat!("color:", muted!(), ";text-decoration:underline")) { "Unsubscribe" }
                        " with one click."
                    }
                }
                p.bf-muted style=(concat!("margin:0;font-family:", sans!(), ";font-size:12px;line-height:19px;color:", muted!())) {
                    (m.publication) " · " (m.postal_address)
                }
            }
        }
    };
    document(&m.heading, &m.preheader, &m.brand, column).into_string()
}

pub fn render_transactional_text(m: &TransactionalEmail) -> String {
    let mut out = String::new();
    out.push_str(&m.publication);
    out.push_str("\n\n");
    out.push_str(&underlined(&m.heading, '='));
    out.push_str("\n\n");
    if let Some(intro) = m.intro_text.as_deref().filter(|t| !t.trim().is_empty()) {
        out.push_str(&wrap(intro, 72));
        out.push_str("\n\n");
    }
    for p in &m.paragraphs {
        out.push_str(&wrap(p, 72));
        out.push_str("\n\n");
    }
    if let Some((label, url)) = &m.button {
        out.push_str(label);
        out.push_str(":\n");
        out.push_str(url);
        out.push_str("\n\n");
    }
    out.push_str("-- \n");
    if !m.footer_note.is_empty() {
        out.push_str(&wrap(&m.footer_note, 72));
        out.push_str("\n\n");
    }
    if let Some(url) = &m.unsubscribe_url {
        out.push_str("Unsubscribe with one click:\n");
        out.push_str(url);
        out.push_str("\n\n");
    }
    push_signature(&mut out, &m.publication, &m.postal_address);
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> TransactionalEmail {
        TransactionalEmail {
            publication: "Breakfast in Red".into(),
            preheader: "One click and you are on the list.".into(),
            heading: "Confirm your subscription".into(),
            paragraphs: vec![
                "Thanks for signing up to the Breakfast in Red daily digest: the latest articles every morning, with a note from the editor.".into(),
                "Please confirm that this is your address. The link works for seven days.".into(),
            ],
            button: Some(("Confirm my subscription".into(), "https://example.org/confirm?token=abc&x=1".into())),
            footer_note: "If you did not ask for this, ignore this email and you will hear nothing more.".into(),
            postal_address: "1 Example Street, London E1 0AA".into(),
            unsubscribe_url: None,
            ..Default::default()
        }
    }

    #[test]
    fn list_mail_shows_its_unsubscribe_link() {
        let m = TransactionalEmail {
            unsubscribe_url: Some("https://example.org/unsubscribe?token=t&x=1".into()),
            ..sample()
        };
        assert!(
            render_transactional_html(&m)
                .contains("href=\"https://example.org/unsubscribe?token=t&amp;x=1\"")
        );
        assert!(render_transactional_text(&m).contains(
            "Unsubscribe with one click:\nhttps://example.org/unsubscribe?token=t&x=1\n"
        ));
        assert!(!render_transactional_html(&sample()).contains("Unsubscribe"));
    }

    #[test]
    fn html_has_button_link_escaped_and_no_script() {
        let html = render_transactional_html(&sample());
        assert!(!html.contains("<script"));
        assert!(html.contains("href=\"https://example.org/confirm?token=abc&amp;x=1\""));
        assert!(html.contains("One click and you are on the list."));
        assert!(html.contains("role=\"presentation\""));
    }

    #[test]
    fn text_spells_out_the_button() {
        let text = render_transactional_text(&sample());
        assert!(
            text.contains("Confirm my subscription:\nhttps://example.org/confirm?token=abc&x=1\n")
        );
        assert!(text.contains("Confirm your subscription\n========================="));
        assert!(
            text.lines()
                .all(|l| l.chars().count() <= 78 || l.contains("://"))
        );
    }

    #[test]
    fn no_button_no_fallback_link() {
        let m = TransactionalEmail {
            button: None,
            ..sample()
        };
        assert!(!render_transactional_html(&m).contains("paste this link"));
    }
}
