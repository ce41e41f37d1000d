//! The shell every web page shares, and the small pieces forms are built
//! from, so public pages, the admin and the embeddable form look and behave
//! alike (labels, hints, errors, focus) without each view re-deciding it.
//!
//! Nothing here needs JavaScript: forms post, errors come back as the same
//! form with messages, and the CSS is inline in the page so an error page
//! still looks right when static serving is what failed.

use maud::{DOCTYPE, Markup, PreEscaped, html};

const SITE_CSS: &str = include_str!("css/site.css");

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PageMeta {
    /// The page's own title; the publication name is appended.
    pub title: String,
    pub publication: String,
    pub flash: Option<Flash>,
    /// For pages reached by personal links (confirm, unsubscribe,
    /// preferences) and the admin, which search engines must not list.
    pub noindex: bool,
    /// The publication's accent and logo; the stock look by default (the admin keeps it).
    pub brand: crate::brand::Brand,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    pub kind: FlashKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlashKind {
    Info,
    Success,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ButtonKind {
    Primary,
    Secondary,
    /// Irreversible actions (discard, delete), visibly different from the
    /// primary action beside them.
    Danger,
}

impl ButtonKind {
    fn class(self) -> &'static str {
        match self {
            ButtonKind::Primary => "btn",
            ButtonKind::Secondary => "btn btn-secondary",
            ButtonKind::Danger => "btn btn-danger",
        }
    }
}

fn head(meta: &PageMeta, extra: Markup) -> Markup {
    let title = if meta.title.is_empty() || meta.title == meta.publication {
        meta.publication.clone()
    } else {
        format!("{} · {}", meta.title, meta.publication)
    };
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="color-scheme" content="light dark";
            @if meta.noindex {
                meta name="robots" content="noindex, nofollow";
            }
            meta name="referrer" content="same-origin";
            title { (title) }
            link rel="icon" href="/favicon.svg" type="image/svg+xml";
            style { (PreEscaped(SITE_CSS)) (PreEscaped(meta.brand.page_css())) }
            (extra)
        }
    }
}

/// A full page with the masthead and footer.
pub fn page(meta: &PageMeta, body: Markup) -> Markup {
    page_with_head(meta, html! {}, body)
}

/// [`page`] with more in the `<head>`: link-preview tags, a feed link, page styles.
pub fn page_with_head(meta: &PageMeta, extra_head: Markup, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(meta, extra_head))
            body {
                a.skip-link href="#main" { "Skip to content" }
                header.site-header {
                    div.wrap {
                        a.brand href="/" { (meta.brand.masthead(&meta.publication)) }
                    }
                }
                main #main .wrap .site-main tabindex="-1" {
                    @if let Some(f) = &meta.flash { (flash(f)) }
                    (body)
                }
                footer.site-footer {
                    div.wrap {
                        p { (meta.publication) }
                    }
                }
            }
        }
    }
}

/// The same document for an `<iframe>` on someone else's site: no masthead
/// or footer to clash with the host page.
pub fn embed_page(meta: &PageMeta, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(meta, html! {}))
            body.embed {
                main #main .site-main tabindex="-1" {
                    @if let Some(f) = &meta.flash { (flash(f)) }
                    (body)
                }
            }
        }
    }
}

/// Errors interrupt (`alert`); everything else waits its turn (`status`).
/// The visually hidden label tells screen-reader users which one it is,
/// since the colour cannot.
pub fn flash(f: &Flash) -> Markup {
    let (class, role, label) = match f.kind {
        FlashKind::Info => ("flash flash-info", "status", "Note"),
        FlashKind::Success => ("flash flash-success", "status", "Done"),
        FlashKind::Error => ("flash flash-error", "alert", "Error"),
    };
    html! {
        div class=(class) role=(role) {
            p {
                span.visually-hidden { (label) ": " }
                (f.message)
            }
        }
    }
}

/// A labelled input with its hint and error tied to it by
/// `aria-describedby`, so a screen reader reads them on focus.
/// `input_type` is any HTML input type, or "textarea".
pub fn form_field(
    label: &str,
    name: &str,
    input_type: &str,
    value: &str,
    required: bool,
    hint: Option<&str>,
    error: Option<&str>,
) -> Markup {
    let id = format!("field-{name}");
    let hint_id = format!("{id}-hint");
    let error_id = format!("{id}-error");
    let described: Vec<&str> = [
        hint.map(|_| hint_id.as_str()),
        error.map(|_| error_id.as_str()),
    ]
    .into_iter()
    .flatten()
    .collect();
    let described = (!described.is_empty()).then(|| described.join(" "));
    let is_email = input_type == "email";
    html! {
        div.field.field-has-error[error.is_some()] {
            label for=(id) {
                (label)
                @if !required { " " span.optional { "(optional)" } }
            }
            @if let Some(h) = hint { span.hint id=(hint_id) { (h) } }
            @if let Some(e) = error {
                span.field-error id=(error_id) {
                    span.visually-hidden { "Error: " }
                    (e)
                }
            }
            @if input_type == "textarea" {
                textarea id=(id) name=(name) required[required]
                    aria-invalid=[error.map(|_| "true")] aria-describedby=[described.as_deref()] { (value) }
            } @else {
                input id=(id) name=(name) type=(input_type) value=(value) required[required]
                    autocomplete=[is_email.then_some("email")]
                    spellcheck=[is_email.then_some("false")]
                    autocapitalize=[is_email.then_some("off")]
                    aria-invalid=[error.map(|_| "true")] aria-describedby=[described.as_deref()];
            }
        }
    }
}

/// A checkbox with its label beside it; `form_field` cannot express
/// "checked" through a value string without guesswork.
pub fn checkbox(label: &str, name: &str, value: &str, checked: bool, hint: Option<&str>) -> Markup {
    let id = format!("field-{name}-{value}");
    let hint_id = format!("{id}-hint");
    html! {
        div.checkbox {
            input id=(id) type="checkbox" name=(name) value=(value) checked[checked]
                aria-describedby=[hint.map(|_| hint_id.as_str())];
            div {
                label for=(id) { (label) }
                @if let Some(h) = hint { span.hint id=(hint_id) { (h) } }
            }
        }
    }
}

/// One choice of a radio group, its label beside it.
pub fn radio(id: &str, name: &str, value: &str, checked: bool, label: &str) -> Markup {
    html! {
        div.checkbox {
            input id=(id) type="radio" name=(name) value=(value) checked[checked];
            label for=(id) { (label) }
        }
    }
}

/// A submit button.
pub fn button(label: &str, kind: ButtonKind) -> Markup {
    html! {
        button type="submit" class=(kind.class()) { (label) }
    }
}

/// A link that looks like a button, for actions that are plain navigation.
pub fn link_button(label: &str, href: &str, kind: ButtonKind) -> Markup {
    html! {
        a href=(href) class=(kind.class()) { (label) }
    }
}

/// A page search engines are asked to leave out, whatever `meta` says: error pages and
/// the sign-in form.
pub fn unindexed_page(meta: &PageMeta, body: Markup) -> Markup {
    let meta = PageMeta {
        noindex: true,
        ..meta.clone()
    };
    page(&meta, body)
}

/// The answer for 400, 404, 410, 429 and friends: says what happened and
/// offers one way on. Never indexed, whatever `meta` says.
pub fn error_page(
    meta: &PageMeta,
    status_code: u16,
    heading: &str,
    message: &str,
    link: Option<(&str, &str)>,
) -> Markup {
    unindexed_page(
        meta,
        html! {
            div.error-page {
                p.status-code { "Error " (status_code) }
                h1 { (heading) }
                p.lede { (message) }
                @if let Some((label, url)) = link {
                    p { (link_button(label, url, ButtonKind::Secondary)) }
                }
            }
        },
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn meta() -> PageMeta {
        PageMeta {
            title: "Subscribe".into(),
            publication: "Breakfast in Red".into(),
            flash: Some(Flash {
                kind: FlashKind::Error,
                message: "Please check the address below.".into(),
            }),
            noindex: false,
            brand: Default::default(),
        }
    }

    pub(crate) fn sample_form() -> Markup {
        html! {
            h1 { "Breakfast in Red, every morning" }
            p.lede { "The latest articles from the paper, grouped by section, with a note from the editor. Free, and one click to leave." }
            form method="post" action="/subscribe" novalidate {
                (form_field("Email address", "email", "email", "ana@example", true, Some("We send one email a day, around 7am."), Some("Enter an email address like name@example.org")))
                (form_field("First name", "name", "text", "", false, Some("Used to greet you."), None))
                (checkbox("Also send me the weekly round-up", "lists", "weekly", true, Some("Sundays only.")))
                div.actions {
                    (button("Subscribe", ButtonKind::Primary))
                    (link_button("Read past digests", "/archive", ButtonKind::Secondary))
                }
            }
        }
    }

    #[test]
    fn page_is_a_complete_document() {
        let html = page(&meta(), sample_form()).into_string();
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(
            html.contains(
                r#"<meta name="viewport" content="width=device-width, initial-scale=1">"#
            )
        );
        assert!(html.contains("<title>Subscribe · Breakfast in Red</title>"));
        assert!(html.contains("--accent: #b3001b"));
        assert!(!html.contains("noindex"));
        assert!(!html.contains("<script"));
    }

    #[test]
    fn flash_roles() {
        let alert = flash(&Flash {
            kind: FlashKind::Error,
            message: "x".into(),
        })
        .into_string();
        assert!(alert.contains(r#"role="alert""#));
        let status = flash(&Flash {
            kind: FlashKind::Success,
            message: "<i>".into(),
        })
        .into_string();
        assert!(status.contains(r#"role="status""#));
        assert!(status.contains("&lt;i&gt;"));
    }

    #[test]
    fn field_ties_label_hint_and_error() {
        let f = form_field(
            "Email",
            "email",
            "email",
            "a\"b",
            true,
            Some("hint"),
            Some("bad"),
        )
        .into_string();
        assert!(f.contains(r#"<label for="field-email">"#));
        assert!(f.contains(r#"id="field-email""#));
        assert!(f.contains(r#"aria-describedby="field-email-hint field-email-error""#));
        assert!(f.contains(r#"aria-invalid="true""#));
        assert!(f.contains(r#"value="a&quot;b""#));
        assert!(f.contains("required"));
        assert!(f.contains("field-has-error"));

        let plain = form_field("Name", "name", "text", "", false, None, None).into_string();
        assert!(!plain.contains("aria-describedby"));
        assert!(!plain.contains("aria-invalid"));
        assert!(!plain.contains("required"));
        assert!(plain.contains("(optional)"));

        let area = form_field("Note", "note", "textarea", "<p>", true, None, None).into_string();
        assert!(area.contains("<textarea") && area.contains("&lt;p&gt;</textarea>"));
    }

    #[test]
    fn error_page_is_noindex_and_offers_a_way_on() {
        let html = error_page(
            &meta(),
            410,
            "This link has expired",
            "Ask for a new one.",
            Some(("Sign up again", "/subscribe")),
        )
        .into_string();
        assert!(html.contains("Error 410"));
        assert!(html.contains(r#"content="noindex, nofollow""#));
        assert!(html.contains(r#"href="/subscribe""#));
    }

    #[test]
    fn embed_has_no_masthead() {
        let html = embed_page(&meta(), sample_form()).into_string();
        assert!(html.contains(r#"<body class="embed">"#));
        assert!(!html.contains("site-header\""));
        assert!(!html.contains("<header"));
    }
}
