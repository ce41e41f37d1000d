//! The editors' and operators' admin: sign-in, today's digest, the schedule, past
//! digests, feeds, subscribers and API tokens.
//!
//! Every page works without JavaScript: each action is a small form that posts and
//! comes back to the page with a message. Every form carries the session's CSRF token
//! (field `csrf`). Layout is one column on a phone and wider tables on a laptop.

use maud::{Markup, PreEscaped, html};

pub mod branding;
pub mod subscribers;

use crate::page::{ButtonKind, PageMeta, button, checkbox, flash, form_field, link_button, page};

/// Widens the page for tables and lays out the nav; the shared CSS is for reading pages.
const ADMIN_CSS: &str = r#"
.site-main.wrap, .site-header .wrap, .site-footer .wrap { max-width: 68rem; }
.admin-nav { display: flex; flex-wrap: wrap; gap: .25rem .9rem; align-items: center;
  border-bottom: 1px solid var(--rule); padding: .5rem 0 .75rem; margin-bottom: 1rem; font-size: .95rem; }
.admin-nav a { text-decoration: none; padding: .2rem 0; }
.admin-nav a[aria-current=page] { font-weight: 700; border-bottom: 3px solid var(--accent); }
.admin-nav .who { margin-left: auto; color: var(--muted); font-size: .85rem; }
.admin-nav form { display: inline; margin: 0; }
.actions form { margin: 0; }
.linkish { background: none; border: 0; padding: 0; font: inherit; color: var(--accent); text-decoration: underline; cursor: pointer; }
.articles { list-style: none; padding: 0; margin: 0 0 1rem; }
.articles li { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; justify-content: space-between;
  padding: .6rem 0; border-bottom: 1px solid var(--rule); }
.articles li.dropped .title { text-decoration: line-through; color: var(--muted); }
.articles .title { flex: 1 1 20rem; min-width: 0; overflow-wrap: anywhere; }
.articles .tools { display: flex; gap: .35rem; flex-wrap: wrap; }
.articles .tools form { margin: 0; }
.btn-small { min-height: 2.25rem; padding: .25rem .65rem; font-size: .85rem; }
.badge { display: inline-block; font-size: .75rem; font-weight: 700; padding: .05rem .45rem; border-radius: 1rem;
  border: 1px solid var(--control); color: var(--muted); margin-left: .35rem; vertical-align: middle; }
.badge-pin { border-color: var(--accent); color: var(--accent); }
.grid-2 { display: grid; gap: 1.5rem; }
@media (min-width: 60rem) { .grid-2 { grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); } }
.preview-frame { width: 100%; height: 42rem; border: 1px solid var(--rule); border-radius: var(--radius); background: #fff; }
.tabs { display: flex; gap: 1rem; margin: 0 0 .5rem; }
.days { display: flex; flex-wrap: wrap; gap: .25rem 1rem; border: 0; padding: 0; margin: 0 0 1rem; }
.days .checkbox { margin: 0; }
.token { font-family: ui-monospace, monospace; overflow-wrap: anywhere; padding: .5rem; background: var(--bg); border: 1px dashed var(--control); }
td, th { padding: .4rem .5rem; text-align: left; vertical-align: top; border-bottom: 1px solid var(--rule); }
.num { text-align: right; font-variant-numeric: tabular-nums; }
@media (max-width: 40rem) {
  table.stack thead { display: none; }
  table.stack tr { display: block; padding: .5rem 0; border-bottom: 1px solid var(--rule); }
  table.stack td { display: block; border: 0; padding: .15rem 0; }
}
"#;

/// Who is signed in and where they are, for the navigation bar.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdminNav {
    pub email: String,
    pub is_editor: bool,
    pub csrf: String,
    /// The path of the current section, e.g. "/admin/schedule".
    pub current: String,
}

/// The hidden field every admin form carries.
pub fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(token); }
}

fn nav(n: &AdminNav) -> Markup {
    let mut links: Vec<(&str, &str)> = Vec::new();
    if n.is_editor {
        links.extend([
            ("/admin", "Today's digest"),
            ("/admin/schedule", "Schedule"),
            ("/admin/digests", "Past digests"),
            ("/admin/feeds", "Feeds"),
            ("/admin/leaving", "Leaving"),
            ("/admin/branding", "Branding"),
        ]);
    }
    links.extend([
        ("/admin/subscribers", "Subscribers"),
        ("/admin/queue", "Queue"),
        ("/admin/bounces", "Bounces"),
        ("/admin/doctor", "Deliverability"),
        ("/admin/tokens", "API tokens"),
    ]);
    html! {
        nav.admin-nav aria-label="Admin" {
            @for (href, label) in links {
                a href=(href) aria-current=[(n.current == href).then_some("page")] { (label) }
            }
            span.who { (n.email) " · " (if n.is_editor { "editor" } else { "operator" }) }
            form method="post" action="/admin/logout" {
                (csrf_field(&n.csrf))
                button.linkish type="submit" { "Sign out" }
            }
        }
    }
}

/// An admin page: the site shell, the admin navigation, the message from the last
/// action (under the navigation, where the eye already is), then `body`.
pub fn admin_page(meta: &PageMeta, n: &AdminNav, body: Markup) -> Markup {
    let shell = PageMeta {
        noindex: true,
        flash: None,
        ..meta.clone()
    };
    page(
        &shell,
        html! {
            style { (PreEscaped(ADMIN_CSS)) }
            (nav(n))
            @if let Some(f) = &meta.flash { (flash(f)) }
            (body)
        },
    )
}

/// The sign-in form. `error` is shown above the fields.
pub fn login_page(
    meta: &PageMeta,
    email: &str,
    next: &str,
    csrf: &str,
    error: Option<&str>,
) -> Markup {
    let meta = PageMeta {
        noindex: true,
        ..meta.clone()
    };
    page(
        &meta,
        html! {
            h1 { "Sign in to the admin" }
            @if let Some(e) = error {
                div.flash.flash-error role="alert" { p { (e) } }
            }
            form method="post" action="/admin/login" {
                (csrf_field(csrf))
                input type="hidden" name="next" value=(next);
                (form_field("Email address", "email", "email", email, true, None, None))
                div.field {
                    label for="field-password" { "Password" }
                    input id="field-password" name="password" type="password" required autocomplete="current-password";
                }
                div.actions { (button("Sign in", ButtonKind::Primary)) }
            }
            p.muted { "No account? An administrator can create one with "
                code { "breakfast users add EMAIL --role editor" } "." }
        },
    )
}

/// The page operators land on: what their account can see.
pub fn operator_home(meta: &PageMeta, n: &AdminNav) -> Markup {
    admin_page(
        meta,
        n,
        html! {
            h1 { "Admin" }
            p.lede { "Your operator account can watch the queue and look after subscribers. Editing and sending digests is for editors." }
            div.actions {
                (link_button("Queue", "/admin/queue", ButtonKind::Primary))
                (link_button("Subscribers", "/admin/subscribers", ButtonKind::Secondary))
            }
        },
    )
}

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

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScheduleView {
    pub send_time: String,
    pub time_zone: String,
    /// (key, label, checked) for each weekday.
    pub days: Vec<(String, String, bool)>,
    pub skip_when_empty: bool,
    pub paused: bool,
    /// Worded, e.g. "Monday 30 November 2026, 07:00 GMT".
    pub next_sends: Vec<String>,
    pub one_offs: Vec<(i64, String)>,
    /// (local date, outcome, when it fired).
    pub runs: Vec<(String, String, String)>,
    pub daily_error: Option<String>,
    pub one_off_date: String,
    pub one_off_time: String,
    pub one_off_zone: String,
    pub one_off_error: Option<String>,
    pub grace_minutes: u32,
    /// Hold each issue for an editor's approval (else it goes out by itself).
    pub approval: bool,
    pub approval_lead_minutes: u32,
    /// Issues held or waiting for approval: (link, label).
    pub awaiting: Vec<(String, String)>,
    /// The greeting pattern (with `{first_name}`) and the one for readers without a name.
    pub greeting: String,
    pub greeting_without_name: String,
    pub csrf: String,
}

pub fn schedule_page(meta: &PageMeta, n: &AdminNav, v: &ScheduleView) -> Markup {
    admin_page(
        meta,
        n,
        html! {
            h1 { "Schedule" }
            @if v.paused {
                div.flash.flash-info role="status" { p { "The daily digest is paused: nothing goes out until you resume it." } }
            }
            @if v.approval {
                div.flash.flash-info role="status" { p {
                    "Hold for approval: each issue is composed " (v.approval_lead_minutes)
                    " minutes before its send time, every editor gets a review email, and it goes out only once one of you approves it. An issue not approved in time is held, and can be sent late from its page."
                } }
            }
            @if !v.awaiting.is_empty() {
                div.card {
                    h2 { "Waiting for approval" }
                    ul { @for (href, label) in &v.awaiting { li { a href=(href) { (label) } } } }
                }
            }
            div.grid-2 {
                section {
                    h2 { "Daily digest" }
                    form method="post" action="/admin/schedule" {
                        (csrf_field(&v.csrf))
                        @if let Some(e) = &v.daily_error {
                            div.flash.flash-error role="alert" { p { (e) } }
                        }
                        (form_field("Send time", "send_time", "time", &v.send_time, true, Some("24-hour local time in the zone below."), None))
                        (form_field("Time zone", "time_zone", "text", &v.time_zone, true, Some("An IANA name, e.g. Europe/London, America/New_York."), None))
                        fieldset.days {
                            legend { "Days it goes out" }
                            @for (key, label, checked) in &v.days {
                                (checkbox(label, "days", key, *checked, None))
                            }
                        }
                        (checkbox("Skip days with nothing new", "skip_when_empty", "1", v.skip_when_empty, Some("No email on days with no articles and no editor's note.")))
                        fieldset.field {
                            legend { "When the send time comes" }
                            div.checkbox {
                                input id="mode-approval" type="radio" name="mode" value="approval" checked[v.approval];
                                label for="mode-approval" { "Hold for approval: an editor approves each issue first" }
                            }
                            div.checkbox {
                                input id="mode-automatic" type="radio" name="mode" value="automatic" checked[!v.approval];
                                label for="mode-automatic" { "Send automatically" }
                            }
                        }
                        div.actions { (button("Save schedule", ButtonKind::Primary)) }
                    }
                    h2 { "Greeting" }
                    form method="post" action="/admin/schedule/greeting" {
                        (csrf_field(&v.csrf))
                        (form_field("Greeting", "greeting", "text", &v.greeting, false, Some("Above the editor's note. {first_name} is the reader's first name. Empty: no greeting."), None))
                        (form_field("Greeting without a name", "greeting_without_name", "text", &v.greeting_without_name, false, Some("For readers who gave no name, and the archive."), None))
                        div.actions { (button("Save greeting", ButtonKind::Secondary)) }
                    }
                    form method="post" action="/admin/schedule/pause" {
                        (csrf_field(&v.csrf))
                        input type="hidden" name="paused" value=(if v.paused { "0" } else { "1" });
                        div.actions {
                            @if v.paused { (button("Resume the daily digest", ButtonKind::Primary)) }
                            @else { (button("Pause the daily digest", ButtonKind::Secondary)) }
                        }
                    }
                    h2 { "Next five sends" }
                    @if v.paused { p.muted { "None while paused." } }
                    @else {
                        ol { @for s in &v.next_sends { li { (s) } } }
                    }
                    p.muted { "A send missed while the service was down still goes out when it comes back, if at most "
                        (v.grace_minutes) " minutes late." }
                }
                section {
                    h2 { "One-off send" }
                    p { "Sends the digest for that day at a particular time, in addition to the daily schedule." }
                    form method="post" action="/admin/schedule/oneoff" {
                        (csrf_field(&v.csrf))
                        @if let Some(e) = &v.one_off_error {
                            div.flash.flash-error role="alert" { p { (e) } }
                        }
                        (form_field("Date", "date", "date", &v.one_off_date, true, None, None))
                        (form_field("Time", "time", "time", &v.one_off_time, true, None, None))
                        (form_field("Time zone", "time_zone", "text", &v.one_off_zone, true, None, None))
                        div.actions { (button("Schedule one-off send", ButtonKind::Primary)) }
                    }
                    @if !v.one_offs.is_empty() {
                        h3 { "Planned one-offs" }
                        ul {
                            @for (id, when) in &v.one_offs {
                                li {
                                    (when) " "
                                    form style="display:inline" method="post" action=(format!("/admin/schedule/oneoff/{id}/cancel")) {
                                        (csrf_field(&v.csrf))
                                        button.linkish type="submit" { "Cancel" }
                                    }
                                }
                            }
                        }
                    }
                    h2 { "Recent runs" }
                    @if v.runs.is_empty() { p.muted { "Nothing has fired yet." } }
                    @else {
                        div.table-scroll { table {
                            thead { tr { th { "Issue" } th { "Outcome" } th { "At" } } }
                            tbody { @for (d, o, at) in &v.runs { tr { td { (d) } td { (o) } td { (at) } } } }
                        } }
                    }
                }
            }
        },
    )
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PastDigestRow {
    pub date: String,
    pub subject: String,
    pub status: String,
    pub recipients: String,
    pub sent: i64,
    pub failed: i64,
    pub archive_url: String,
}

pub fn past_digests_page(meta: &PageMeta, n: &AdminNav, rows: &[PastDigestRow]) -> Markup {
    admin_page(
        meta,
        n,
        html! {
            h1 { "Past digests" }
            @if rows.is_empty() { p.muted { "No digest has been sent yet." } }
            @else {
                div.table-scroll { table {
                    thead { tr { th { "Date" } th { "Subject" } th { "Status" } th.num { "Recipients" } th.num { "Sent" } th.num { "Failed" } } }
                    tbody {
                        @for r in rows {
                            tr {
                                td { a href=(r.archive_url) { (r.date) } }
                                td { (r.subject) }
                                td { (r.status) }
                                td.num { (r.recipients) }
                                td.num { (r.sent) }
                                td.num { (r.failed) }
                            }
                        }
                    }
                } }
            }
        },
    )
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedRow {
    pub id: i64,
    pub name: String,
    pub url: String,
    pub section: String,
    pub last_fetched: String,
    pub status: String,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedForm {
    pub name: String,
    pub url: String,
    pub section: String,
    pub error: Option<String>,
}

pub fn feeds_page(meta: &PageMeta, n: &AdminNav, feeds: &[FeedRow], form: &FeedForm) -> Markup {
    admin_page(
        meta,
        n,
        html! {
            h1 { "Feeds" }
            @if feeds.is_empty() { p.muted { "No feeds yet: add the publication's RSS, Atom or JSON feed below." } }
            @else {
                div.table-scroll { table.stack {
                    thead { tr { th { "Feed" } th { "Section" } th { "Last fetch" } th { "" } } }
                    tbody {
                        @for f in feeds {
                            tr {
                                td { strong { (f.name) } br; small.muted { (f.url) } }
                                td { (f.section) }
                                td {
                                    (f.last_fetched) br; small { (f.status) }
                                    @if let Some(e) = &f.error { br; small.field-error { (e) } }
                                }
                                td {
                                    div.actions {
                                        form method="post" action=(format!("/admin/feeds/{}/fetch", f.id)) {
                                            (csrf_field(&n.csrf))
                                            button.btn.btn-secondary.btn-small type="submit" { "Fetch now" }
                                        }
                                        form method="post" action=(format!("/admin/feeds/{}/delete", f.id)) {
                                            (csrf_field(&n.csrf))
                                            button.btn.btn-danger.btn-small type="submit" aria-label=(format!("Remove {}", f.name)) { "Remove" }
                                        }
                                    }
                                    details {
                                        summary { "Rename or change section" }
                                        form method="post" action=(format!("/admin/feeds/{}/edit", f.id)) {
                                            (csrf_field(&n.csrf))
                                            (form_field("Name", "name", "text", &f.name, true, None, None))
                                            (form_field("Section", "section", "text", &f.section, false, Some("For articles without a category."), None))
                                            div.actions { (button("Save", ButtonKind::Secondary)) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                } }
            }
            h2 { "Add a feed" }
            form method="post" action="/admin/feeds" {
                (csrf_field(&n.csrf))
                @if let Some(e) = &form.error { div.flash.flash-error role="alert" { p { (e) } } }
                (form_field("Feed address", "url", "url", &form.url, true, Some("https://… of an RSS, Atom or JSON feed."), None))
                (form_field("Name", "name", "text", &form.name, true, None, None))
                (form_field("Section", "section", "text", &form.section, false, Some("Articles from this feed are grouped under it."), None))
                div.actions { (button("Add feed", ButtonKind::Primary)) }
            }
        },
    )
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenRow {
    pub id: i64,
    pub name: String,
    /// "full" or "read-only".
    pub access: String,
    pub created: String,
    pub last_used: String,
    /// When it stops working, or "never".
    pub expires: String,
}

pub fn tokens_page(
    meta: &PageMeta,
    n: &AdminNav,
    tokens: &[TokenRow],
    new_token: Option<&str>,
    error: Option<&str>,
) -> Markup {
    admin_page(
        meta,
        n,
        html! {
            h1 { "API tokens" }
            p { "Personal tokens for the JSON API under " code { "/api/" } ". Send one as "
                code { "Authorization: Bearer TOKEN" } ". A full token acts with your role \
                (an operator's token reads subscribers, as the operator's admin does); a \
                read-only token only reads. Changing your password is a good moment to \
                revoke old tokens." }
            @if let Some(t) = new_token {
                div.flash.flash-success role="status" {
                    p { "Here is your new token. Copy it now: it is not shown again." }
                    p.token { (t) }
                }
            }
            @if !tokens.is_empty() {
                div.table-scroll { table {
                    thead { tr { th { "Name" } th { "Access" } th { "Created" } th { "Last used" } th { "Expires" } th { "" } } }
                    tbody {
                        @for t in tokens {
                            tr {
                                td { (t.name) } td { (t.access) } td { (t.created) }
                                td { (t.last_used) } td { (t.expires) }
                                td {
                                    form method="post" action=(format!("/admin/tokens/{}/revoke", t.id)) {
                                        (csrf_field(&n.csrf))
                                        button.btn.btn-danger.btn-small type="submit" { "Revoke" }
                                    }
                                }
                            }
                        }
                    }
                } }
            }
            h2 { "New token" }
            form method="post" action="/admin/tokens" {
                (csrf_field(&n.csrf))
                (form_field("Name", "name", "text", "", true, Some("What it is for, e.g. “signup form on the main site”."), error))
                div.field {
                    label for="field-access" { "Access" }
                    select id="field-access" name="access" {
                        option value="read" selected { "Read-only" }
                        option value="full" { "Full (acts with your role)" }
                    }
                }
                (form_field("Expires after (days)", "expires_days", "number", "90", false, Some("Leave empty for a token that does not expire."), None))
                div.actions { (button("Create token", ButtonKind::Primary)) }
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
