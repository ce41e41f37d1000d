//! The composer: today's issue with its articles (pin, drop, restore, move), the
//! subject and editor's note, the preview, the test copy and the send confirmation.

use maud::{Markup, PreEscaped, html};

use super::{AdminNav, admin_page, csrf_field, schedule::awaiting_card};
use crate::page::{ButtonKind, PageMeta, button, form_field, link_button};

/// The composer's script: pin, drop, move, drag and edit without reloading. Served by
/// the service as a file (`/admin/assets/composer.js`) so the page's Content-Security-
/// Policy can forbid inline script; every form works without it.
pub const COMPOSER_JS: &str = include_str!("composer.js");
pub const COMPOSER_JS_PATH: &str = "/admin/assets/composer.js";

const COMPOSER_CSS: &str = r#"
.articles li[draggable=true] { cursor: grab; }
.articles li:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.articles li.dragging { opacity: .45; }
.articles li.drop-before { box-shadow: inset 0 3px 0 var(--accent); }
.articles li.drop-after { box-shadow: inset 0 -3px 0 var(--accent); }
.articles .grip { color: var(--muted); padding-right: .25rem; user-select: none; }
.articles details.edit { flex: 1 1 100%; }
.articles details.edit summary { cursor: pointer; color: var(--accent); font-size: .85rem; width: max-content; }
.articles details.edit .field { margin: .5rem 0; }
.articles details.edit input, .articles details.edit textarea { width: 100%; }
.badge-edit { border-color: #8a5a00; color: #8a5a00; }
.feed-text { font-size: .8rem; color: var(--muted); }
.composer-busy { opacity: .6; pointer-events: none; }
.visually-hidden-live { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
"#;

/// "1 subscriber", "2 subscribers".
pub fn subscribers(n: i64) -> String {
    format!("{n} subscriber{}", if n == 1 { "" } else { "s" })
}

/// One article in today's digest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DigestArticle {
    pub id: i64,
    /// As the email shows it (the override, if any).
    pub title: String,
    pub source: String,
    pub link: Option<String>,
    pub pinned: bool,
    pub dropped: bool,
    /// Added to this issue by URL rather than from a feed.
    pub added: bool,
    /// The feed's own headline, shown under an overridden one.
    pub feed_title: String,
    /// The editor's overrides for this issue (empty: the feed's is used).
    pub override_title: String,
    pub override_summary: String,
    pub override_image: String,
    /// The feed's summary and image, as placeholders of the override fields.
    pub feed_summary: String,
    pub feed_image: String,
}

impl DigestArticle {
    pub fn overridden(&self) -> bool {
        !(self.override_title.is_empty()
            && self.override_summary.is_empty()
            && self.override_image.is_empty())
    }
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
    /// The subject it will go out with.
    pub subject: String,
    /// The subject it gets when the editor sets none.
    pub default_subject: String,
    pub subject_override: String,
    pub editor_note: String,
    pub articles: Vec<DigestArticle>,
    /// The announcement block's Markdown, and after how many articles it goes.
    pub announcement: String,
    pub announcement_after: i64,
    /// What the editor typed into "Add by URL" and why it failed, to show again.
    pub add_url: String,
    pub add_url_error: Option<String>,
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
    /// Delivery in each reader's zone: where the send stands per zone (empty otherwise).
    pub zones: Vec<ZoneRow>,
    /// Articles the composition had no room for, and the cap (`digest.max_articles`).
    pub left_out: i64,
    pub max_articles: usize,
    /// Held (not approved by its send time): "Send now" is one click, a form that posts
    /// straight away, since the issue is already late.
    pub held: bool,
}

/// One reader zone of a send: counts, and when its waiting readers get it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZoneRow {
    pub zone: String,
    pub sent: i64,
    pub waiting: i64,
    pub failed: i64,
    /// "done", "going out now" or "at 07:00 EST, Sat 7 Mar (12:00 UTC)".
    pub when: String,
}

/// The per-zone progress table of a send in each reader's zone.
fn zone_table(zones: &[ZoneRow]) -> Markup {
    html! {
        div.card {
            h2 { "Delivery by time zone" }
            div.table-scroll {
                table {
                    thead { tr { th scope="col" { "Zone" } th.num scope="col" { "Sent" } th.num scope="col" { "Waiting" } th.num scope="col" { "Failed" } th scope="col" { "Waiting readers get it" } } }
                    tbody {
                        @for z in zones {
                            tr { td { (z.zone) } td.num { (z.sent) } td.num { (z.waiting) } td.num { (z.failed) } td { (z.when) } }
                        }
                    }
                }
            }
        }
    }
}

fn article_tool(
    v: &DigestView,
    a: &DigestArticle,
    action: &str,
    label: &str,
    aria: &str,
) -> Markup {
    html! {
        form method="post" action=(format!("/admin/digest/{}/articles/{}", v.id, a.id)) data-live="" {
            (csrf_field(&v.csrf))
            input type="hidden" name="action" value=(action);
            button.btn.btn-secondary.btn-small type="submit" data-action=(action) aria-label=(format!("{aria}: {}", a.title)) { (label) }
        }
    }
}

/// The per-issue headline, summary and image of one article, with "Revert".
fn override_form(v: &DigestView, a: &DigestArticle) -> Markup {
    let id = |f: &str| format!("ov-{}-{f}", a.id);
    html! {
        details.edit {
            summary { "Edit for this issue" }
            form method="post" action=(format!("/admin/digest/{}/articles/{}/override", v.id, a.id)) data-live="" {
                (csrf_field(&v.csrf))
                div.field {
                    label for=(id("title")) { "Headline " span.optional { "(empty: the feed's)" } }
                    input id=(id("title")) type="text" name="title" maxlength="300" value=(a.override_title) placeholder=(a.feed_title);
                }
                div.field {
                    label for=(id("summary")) { "Summary " span.optional { "(empty: the feed's)" } }
                    textarea id=(id("summary")) name="summary" rows="3" maxlength="2000" placeholder=(a.feed_summary) { (a.override_summary) }
                }
                div.field {
                    label for=(id("image")) { "Image URL " span.optional { "(https://…; empty: the feed's)" } }
                    input id=(id("image")) type="url" name="image_url" maxlength="2000" value=(a.override_image) placeholder=(a.feed_image);
                }
                div.actions {
                    button.btn.btn-primary.btn-small type="submit" name="action" value="save" data-action="save" { "Save for this issue" }
                    @if a.overridden() {
                        button.btn.btn-secondary.btn-small type="submit" name="action" value="revert" data-action="revert" { "Revert to the feed's" }
                    }
                }
            }
        }
    }
}

/// The issue's articles in their composed order, then the dropped ones. This is also
/// the fragment the composer's script swaps in after each change.
pub fn article_list(v: &DigestView) -> Markup {
    let last = v.articles.iter().filter(|a| !a.dropped).count();
    html! {
        @if v.articles.is_empty() {
            p.muted { "No articles yet for this issue: nothing new has come in from the feeds since the last digest." }
        }
        ol.articles #articles data-digest=(v.id) aria-describedby="articles-help" {
            @for (i, a) in v.articles.iter().enumerate() {
                li.dropped[a.dropped] #(format!("article-{}", a.id)) data-article=(a.id)
                    draggable=[(v.editable && !a.dropped).then_some("true")]
                    tabindex=[(v.editable && !a.dropped).then_some("0")]
                    aria-label=(format!("{}. {}", i + 1, a.title)) {
                    span.title {
                        @if v.editable && !a.dropped { span.grip aria-hidden="true" { "⠿" } }
                        @if let Some(l) = &a.link { a href=(l) rel="noopener noreferrer" target="_blank" { (a.title) } }
                        @else { (a.title) }
                        @if a.pinned { span.badge.badge-pin { "pinned" } }
                        @if a.dropped { span.badge { "dropped" } }
                        @if a.added { span.badge { "added by URL" } }
                        @if a.overridden() { span.badge.badge-edit { "edited for this issue" } }
                        br;
                        small.muted { (a.source) }
                        @if !a.override_title.is_empty() && a.feed_title != a.title {
                            br; span.feed-text { "Feed's headline: " (a.feed_title) }
                        }
                    }
                    @if v.editable {
                        span.tools {
                            @if a.dropped {
                                (article_tool(v, a, "restore", "Restore", "Put back"))
                            } @else {
                                @if i > 0 { (article_tool(v, a, "top", "⤒ Top", "Move to the top")) }
                                @if i > 0 { (article_tool(v, a, "up", "↑ Up", "Move up")) }
                                @if i + 1 < last { (article_tool(v, a, "down", "↓ Down", "Move down")) }
                                @if a.pinned { (article_tool(v, a, "unpin", "Unpin", "Unpin")) }
                                @else { (article_tool(v, a, "pin", "Pin", "Pin to the top")) }
                                (article_tool(v, a, "drop", "Drop", "Drop"))
                            }
                        }
                        @if !a.dropped { (override_form(v, a)) }
                    }
                }
            }
        }
    }
}

/// "Add an article by URL" and the announcement block.
fn additions(v: &DigestView, base: &str) -> Markup {
    let placed = v.articles.iter().filter(|a| !a.dropped).count() as i64;
    html! {
        h2 #add { "Add an article by URL" }
        form method="post" action=(format!("{base}/add-url")) {
            (csrf_field(&v.csrf))
            (form_field("Web address of the article", "url", "url", &v.add_url, true,
                Some("Its headline, summary and image are read from the page; you can edit them afterwards."),
                v.add_url_error.as_deref()))
            div.actions { (button("Add to this issue", ButtonKind::Secondary)) }
        }
        h2 #announcement { "Announcement" }
        form method="post" action=(format!("{base}/announcement")) {
            (csrf_field(&v.csrf))
            (form_field("Announcement", "announcement", "textarea", &v.announcement, false,
                Some("A short block between the articles (Markdown or plain text). Leave empty for none."), None))
            div.field {
                label for="field-after" { "Place it" }
                select #field-after name="after" {
                    option value="0" selected[v.announcement_after <= 0] { "Before the first article" }
                    @for k in 1..=placed.max(1) {
                        option value=(k) selected[v.announcement_after == k] {
                            @if k >= placed { "After the last article" } @else { "After article " (k) }
                        }
                    }
                }
            }
            div.actions { (button("Save the announcement", ButtonKind::Secondary)) }
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
            style { (PreEscaped(COMPOSER_CSS)) }
            h1 { "Digest for " (v.date_label) }
            p.lede {
                "Status: " strong #digest-status { (v.status) } ". " (v.schedule_line) " "
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
            @if v.left_out > 0 {
                div.flash.flash-info role="status" #left-out {
                    p {
                        (v.left_out) " more article" @if v.left_out != 1 { "s" }
                        " came in than this issue has room for (digest.max_articles = " (v.max_articles)
                        "): the oldest are not in it, and will not be in a later issue either. "
                        "Pin an article to put it in, drop others, or raise digest.max_articles."
                    }
                }
            }
            @if !v.zones.is_empty() { (zone_table(&v.zones)) }
            (awaiting_card(&v.awaiting))
            div.grid-2 {
                section {
                    h2 { "Articles" }
                    @if v.editable {
                        p.muted #articles-help {
                            "Drag an article to move it, or focus it and press Alt+↑ / Alt+↓ (Alt+Home: to the top)."
                        }
                    }
                    div.visually-hidden-live #composer-status role="status" aria-live="polite" {}
                    div #article-list { (article_list(v)) }
                    @if v.editable { (additions(v, &base)) }
                    h2 #note { "Subject and editor's note" }
                    @if v.editable {
                        form method="post" action=(format!("{base}/note")) {
                            (csrf_field(&v.csrf))
                            (form_field("Subject", "subject_override", "text", &v.subject_override, false,
                                Some(&format!("Leave empty for the usual subject: “{}”", v.default_subject)), None))
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
                    iframe.preview-frame #preview-frame src=(format!("{base}/preview.html")) title="Preview of the email" sandbox="" {}
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
                    @if v.sendable && v.held {
                        form method="post" action=(format!("{base}/send")) {
                            (csrf_field(&v.csrf))
                            (button(&format!("Send now to {}", subscribers(v.recipients)), ButtonKind::Danger))
                        }
                    } @else if v.sendable {
                        (link_button(&format!("Send now to {}…", subscribers(v.recipients)), &format!("{base}/send"), ButtonKind::Danger))
                    }
                    @if v.offer_special {
                        form method="post" action="/admin/special" {
                            (csrf_field(&v.csrf))
                            (button("Start a special edition for today", ButtonKind::Secondary))
                        }
                    }
                }
                @if let Some(why) = &v.not_yet { p.muted { (why) } }
                p.muted { "Goes to " (v.recipients) " " (v.audience) " subscriber" @if v.recipients != 1 { "s" } " (confirmed, not paused)." }
            }
            @if v.editable { script src=(COMPOSER_JS_PATH) defer {} }
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
                        (button(&format!("Yes, send to {}", subscribers(recipients)), ButtonKind::Danger))
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
