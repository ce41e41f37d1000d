//! The composer: today's issue with its articles (pin, drop, restore, move), the
//! subject and editor's note, the preview, the test copy and the send confirmation.

use maud::{Markup, html};

use super::{AdminNav, admin_page, csrf_field};
use crate::page::{ButtonKind, PageMeta, button, form_field, link_button};

/// One article in today's digest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DigestArticle {
    pub id: i64,
    pub title: String,
    pub source: String,
    pub link: Option<String>,
    pub pinned: bool,
    pub dropped: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DigestView {
    pub id: i64,
    /// "Saturday 28 November 2026".
    pub date_label: String,
    /// "2026-11-28", for links to other days.
    pub date: String,
    pub status: String,
    /// Whether the digest can still be changed (not sending or sent).
    pub editable: bool,
    pub subject: String,
    pub subject_override: String,
    pub editor_note: String,
    pub articles: Vec<DigestArticle>,
    /// Why the digest could not be composed, if it could not.
    pub problem: Option<String>,
    /// Who it would go to right now, by the fan-out's own rule.
    pub recipients: i64,
    /// "daily" or "weekly": whose edition this is.
    pub audience: String,
    /// Both audiences, e.g. "120 daily and 30 weekly subscribers (…)".
    pub readers_line: String,
    pub csrf: String,
    /// "Next scheduled send: …", or that the schedule is paused.
    pub schedule_line: String,
    /// Whether "Send now" is offered: composed (or held, or approved) and its day has come.
    pub sendable: bool,
    /// Why a future issue cannot be sent yet.
    pub not_yet: Option<String>,
    /// Approval mode, and waiting for an editor.
    pub can_approve: bool,
    /// Today's issue went out: offer a special edition.
    pub offer_special: bool,
    /// Other issues waiting for approval or held: (link, label).
    pub awaiting: Vec<(String, String)>,
}

fn article_tool(
    v: &DigestView,
    a: &DigestArticle,
    action: &str,
    label: &str,
    aria: &str,
) -> Markup {
    html! {
        form method="post" action=(format!("/admin/digest/{}/articles/{}", v.id, a.id)) {
            (csrf_field(&v.csrf))
            input type="hidden" name="action" value=(action);
            button.btn.btn-secondary.btn-small type="submit" aria-label=(format!("{aria}: {}", a.title)) { (label) }
        }
    }
}

fn article_list(v: &DigestView) -> Markup {
    let last = v.articles.iter().filter(|a| !a.dropped).count();
    html! {
        @if v.articles.is_empty() {
            p.muted { "No articles yet for this issue: nothing new has come in from the feeds since the last digest." }
        }
        ol.articles {
            @for (i, a) in v.articles.iter().enumerate() {
                li.dropped[a.dropped] {
                    span.title {
                        @if let Some(l) = &a.link { a href=(l) rel="noopener noreferrer" target="_blank" { (a.title) } }
                        @else { (a.title) }
                        @if a.pinned { span.badge.badge-pin { "pinned" } }
                        @if a.dropped { span.badge { "dropped" } }
                        br;
                        small.muted { (a.source) }
                    }
                    @if v.editable {
                        span.tools {
                            @if a.dropped {
                                (article_tool(v, a, "restore", "Restore", "Put back"))
                            } @else {
                                @if i > 0 { (article_tool(v, a, "up", "↑ Up", "Move up")) }
                                @if i + 1 < last { (article_tool(v, a, "down", "↓ Down", "Move down")) }
                                @if a.pinned { (article_tool(v, a, "unpin", "Unpin", "Unpin")) }
                                @else { (article_tool(v, a, "pin", "Pin", "Pin to the top")) }
                                (article_tool(v, a, "drop", "Drop", "Drop"))
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Today's digest: articles, note and subject, preview, test and send.
pub fn digest_page(meta: &PageMeta, n: &AdminNav, v: &DigestView) -> Markup {
    let base = format!("/admin/digest/{}", v.id);
    admin_page(
        meta,
        n,
        html! {
            h1 { "Digest for " (v.date_label) }
            p.lede {
                "Status: " strong { (v.status) } ". " (v.schedule_line) " "
                a href="/admin/schedule" { "Change the schedule" }
            }
            p.muted {
                (v.readers_line) " "
                a href="/admin" { "Today's issue" } " · "
                a href="/admin?weekly=1" { "The next weekly edition" }
            }
            @if let Some(p) = &v.problem {
                div.flash.flash-error role="alert" { p { (p) } }
            }
            @if !v.awaiting.is_empty() {
                div.card {
                    h2 { "Waiting for approval" }
                    ul { @for (href, label) in &v.awaiting { li { a href=(href) { (label) } } } }
                }
            }
            div.grid-2 {
                section {
                    h2 { "Articles" }
                    (article_list(v))
                    h2 #note { "Subject and editor's note" }
                    @if v.editable {
                        form method="post" action=(format!("{base}/note")) {
                            (csrf_field(&v.csrf))
                            (form_field("Subject", "subject_override", "text", &v.subject_override, false,
                                Some(&format!("Leave empty for the usual subject: “{}”", v.subject)), None))
                            (form_field("Editor's note", "editor_note", "textarea", &v.editor_note, false,
                                Some("Markdown: *italic*, **bold**, [links](https://…), blank line between paragraphs."), None))
                            div.actions {
                                (button("Save and preview", ButtonKind::Primary))
                            }
                        }
                    } @else {
                        p { "Subject: " strong { (v.subject) } }
                        p.muted { "This digest has gone out and can no longer be changed." }
                    }
                }
                section #preview {
                    h2 { "Preview" }
                    p.tabs {
                        a href=(format!("{base}/preview.html")) target="_blank" { "Open the HTML email" }
                        a href=(format!("{base}/preview.txt")) target="_blank" { "Plain-text version" }
                    }
                    iframe.preview-frame src=(format!("{base}/preview.html")) title="Preview of the email" sandbox="" {}
                }
            }
            section #send {
                h2 { "Test and send" }
                div.actions {
                    form method="post" action=(format!("{base}/test")) {
                        (csrf_field(&v.csrf))
                        (button(&format!("Send a test to {}", n.email), ButtonKind::Secondary))
                    }
                    @if v.can_approve {
                        form method="post" action=(format!("{base}/approve")) {
                            (csrf_field(&v.csrf))
                            (button("Approve for the scheduled send", ButtonKind::Primary))
                        }
                    }
                    @if v.sendable {
                        (link_button(&format!("Send now to {} subscribers…", v.recipients), &format!("{base}/send"), ButtonKind::Danger))
                    }
                    @if v.offer_special {
                        form method="post" action="/admin/special" {
                            (csrf_field(&v.csrf))
                            (button("Start a special edition for today", ButtonKind::Secondary))
                        }
                    }
                }
                @if let Some(why) = &v.not_yet { p.muted { (why) } }
                p.muted { "Goes to " (v.recipients) " " (v.audience) " subscribers (confirmed, not paused)." }
            }
        },
    )
}

/// Where a test copy's unsubscribe and preferences links lead: nothing happens to
/// anyone's subscription.
pub fn test_copy_page(meta: &PageMeta, publication: &str) -> Markup {
    crate::page::page(
        meta,
        html! {
            h1 { "This was a test copy" }
            p { "The email you opened was a test copy of " (publication) " sent to an editor. Its unsubscribe and preferences links do nothing: no subscription was changed." }
        },
    )
}

/// "Send to N people?" — the last step before a send.
pub fn send_confirm_page(
    meta: &PageMeta,
    n: &AdminNav,
    digest_id: i64,
    subject: &str,
    date_label: &str,
    recipients: i64,
    audience: &str,
) -> Markup {
    admin_page(
        meta,
        n,
        html! {
            h1 { "Send the digest now?" }
            div.card {
                p { "“" strong { (subject) } "”, the digest for " (date_label) ", will go to "
                    strong { (recipients) " confirmed subscriber" @if recipients != 1 { "s" } } " of the " (audience) " edition now." }
                p { "This cannot be undone, and the digest cannot be sent a second time." }
                form method="post" action=(format!("/admin/digest/{digest_id}/send")) {
                    (csrf_field(&n.csrf))
                    input type="hidden" name="expected_recipients" value=(recipients);
                    div.actions {
                        (button(&format!("Yes, send to {recipients} subscribers"), ButtonKind::Danger))
                        (link_button("Cancel", "/admin", ButtonKind::Secondary))
                    }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> PageMeta {
        PageMeta {
            title: "Admin".into(),
            publication: "Breakfast in Red".into(),
            ..Default::default()
        }
    }

    fn nav() -> AdminNav {
        AdminNav {
            email: "ed@example.org".into(),
            is_editor: true,
            csrf: "tok".into(),
            current: "/admin".into(),
        }
    }

    #[test]
    fn digest_page_escapes_and_carries_csrf_everywhere() {
        let v = DigestView {
            id: 3,
            editable: true,
            editor_note: "<script>alert(1)</script>".into(),
            articles: vec![DigestArticle {
                id: 9,
                title: "<b>Strike</b>".into(),
                ..Default::default()
            }],
            csrf: "tok".into(),
            ..Default::default()
        };
        let html = digest_page(&meta(), &nav(), &v).into_string();
        assert!(!html.contains("<script>alert"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("<b>Strike</b>"));
        assert_eq!(
            html.matches("<form").count(),
            html.matches(r#"name="csrf" value="tok""#).count()
        );
        assert!(html.contains(r#"sandbox="""#));
        assert!(html.contains("noindex"));
    }
}
