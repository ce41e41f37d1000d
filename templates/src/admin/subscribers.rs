//! The audience in the admin: the subscribers table (filters, search, sortable columns,
//! keyset paging), one subscriber's page with its actions, adding one by hand, and the
//! import of an uploaded CSV file (column mapping, preview, progress, report).
//!
//! Like the rest of the admin, everything works without JavaScript: filters are a GET
//! form, every action is a small POST form with the CSRF token, and the import's
//! progress page refreshes itself.

use maud::{Markup, PreEscaped, html};

use super::{AdminNav, admin_page, csrf_field};
use crate::page::{ButtonKind, PageMeta, button, checkbox, form_field, link_button, radio};

const SUBSCRIBERS_CSS: &str = r#"
.filters { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: flex-end; margin-bottom: 1rem; }
.filters .field { margin: 0; flex: 1 1 10rem; }
.filters .field.grow { flex: 3 1 16rem; }
.filters select, .filters input { width: 100%; }
.filters .actions { margin: 0; }
.counts { color: var(--muted); margin: .25rem 0 1rem; }
.subscribers td.addr { overflow-wrap: anywhere; max-width: 22rem; }
.subscribers th a { text-decoration: none; white-space: nowrap; }
.subscribers td { font-size: .92rem; }
.status { font-weight: 700; font-size: .8rem; text-transform: uppercase; letter-spacing: .03em; }
.status-confirmed { color: #1b7f3b; }
.status-pending { color: #8a5a00; }
.status-unsubscribed, .status-bounced, .status-complained { color: var(--muted); }
.pager { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; margin: 1rem 0; }
.pager .muted { margin-left: auto; display: flex; flex-wrap: wrap; gap: .5rem; }
table.report { max-width: 34rem; }
dl.details { display: grid; grid-template-columns: max-content 1fr; gap: .3rem 1rem; margin: 0 0 1rem; }
dl.details dt { color: var(--muted); }
dl.details dd { margin: 0; overflow-wrap: anywhere; }
.danger-zone { border: 1px solid var(--rule); border-radius: var(--radius); padding: 1rem; margin-top: 1.5rem; }
progress { width: 100%; height: 1.25rem; accent-color: var(--accent); }
.preview td.error { color: var(--accent); }
.mapping { display: grid; gap: .5rem 1rem; grid-template-columns: max-content minmax(0, 20rem); align-items: center; margin-bottom: 1rem; }
.mapping label { font-weight: 600; }
"#;

fn styled(body: Markup) -> Markup {
    html! {
        style { (PreEscaped(SUBSCRIBERS_CSS)) }
        (body)
    }
}

/// A `<select>` with a label; `options` are (value, label).
fn select(label: &str, name: &str, options: &[(String, String)], selected: &str) -> Markup {
    let id = format!("field-{name}");
    html! {
        div.field {
            label for=(id) { (label) }
            select id=(id) name=(name) {
                @for (value, text) in options {
                    option value=(value) selected[value == selected] { (text) }
                }
            }
        }
    }
}

fn status_badge(status: &str) -> Markup {
    html! { span class=(format!("status status-{status}")) { (status) } }
}

/// The filters as chosen, echoed back into the form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterView {
    pub q: String,
    pub status: String,
    pub frequency: String,
    pub source: String,
    pub sort: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListRow {
    pub href: String,
    pub email: String,
    pub name: String,
    pub status: String,
    pub frequency: String,
    pub time_zone: String,
    pub signed_up: String,
    pub last_sent: String,
    pub bounces: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListView {
    /// Everyone, by status: (status, count).
    pub counts: Vec<(String, i64)>,
    pub filter: FilterView,
    pub sources: Vec<String>,
    /// How many subscribers the filter and search match, over all pages.
    pub matches: i64,
    pub filtered: bool,
    pub rows: Vec<ListRow>,
    pub first_href: Option<String>,
    pub prev_href: Option<String>,
    pub next_href: Option<String>,
    /// Column header links: (href, arrow shown when that column is the sort).
    pub sort_signed_up: (String, &'static str),
    pub sort_address: (String, &'static str),
    pub export_href: String,
    pub can_edit: bool,
}

fn plural(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

pub fn list_page(meta: &PageMeta, n: &AdminNav, v: &ListView) -> Markup {
    let statuses: Vec<(String, String)> = std::iter::once(("".into(), "Any status".into()))
        .chain(
            v.counts
                .iter()
                .map(|(s, c)| (s.clone(), format!("{s} ({c})"))),
        )
        .collect();
    let frequencies: Vec<(String, String)> = [
        ("", "Any frequency"),
        ("daily", "daily"),
        ("weekly", "weekly"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    let sources: Vec<(String, String)> = std::iter::once(("".into(), "Any source".into()))
        .chain(v.sources.iter().map(|s| (s.clone(), s.clone())))
        .collect();
    admin_page(
        meta,
        n,
        styled(html! {
            h1 { "Subscribers" }
            p.counts {
                @for (i, (status, count)) in v.counts.iter().enumerate() {
                    @if i > 0 { " · " }
                    strong { (count) } " " (status)
                }
            }
            form.filters method="get" action="/admin/subscribers" role="search" {
                div.field.grow {
                    label for="field-q" { "Search address or name" }
                    input id="field-q" name="q" type="search" value=(v.filter.q) spellcheck="false" autocapitalize="off";
                }
                (select("Status", "status", &statuses, &v.filter.status))
                (select("Frequency", "frequency", &frequencies, &v.filter.frequency))
                (select("Source", "source", &sources, &v.filter.source))
                input type="hidden" name="sort" value=(v.filter.sort);
                div.actions {
                    (button("Show", ButtonKind::Primary))
                    @if v.filtered { (link_button("Clear", "/admin/subscribers", ButtonKind::Secondary)) }
                }
            }
            div.pager {
                strong { (plural(v.matches, "match", "matches")) }
                @if v.filtered { span { " for this filter" } }
                span.muted {
                    (link_button("Export these as CSV", &v.export_href, ButtonKind::Secondary))
                    @if v.can_edit {
                        (link_button("Add a subscriber", "/admin/subscribers/new", ButtonKind::Secondary))
                        (link_button("Import a file", "/admin/subscribers/import", ButtonKind::Secondary))
                    }
                }
            }
            @if v.rows.is_empty() {
                p.muted { @if v.filtered { "Nobody matches." } @else { "No subscribers yet." } }
            } @else {
                div.table-scroll { table.stack.subscribers {
                    thead { tr {
                        th { a href=(v.sort_address.0) { "Address" (v.sort_address.1) } }
                        th { "Name" }
                        th { "Status" }
                        th { "Frequency" }
                        th { "Time zone" }
                        th { a href=(v.sort_signed_up.0) { "Signed up" (v.sort_signed_up.1) } }
                        th { "Last sent" }
                        th.num { "Bounces" }
                    } }
                    tbody {
                        @for r in &v.rows {
                            tr {
                                td.addr { a href=(r.href) { (r.email) } }
                                td { (r.name) }
                                td { (status_badge(&r.status)) }
                                td { (r.frequency) }
                                td { (r.time_zone) }
                                td { (r.signed_up) }
                                td { (r.last_sent) }
                                td.num { (r.bounces) }
                            }
                        }
                    }
                } }
            }
            nav.pager aria-label="Pages" {
                @if let Some(h) = &v.first_href { a href=(h) { "« First" } }
                @if let Some(h) = &v.prev_href { a href=(h) rel="prev" { "‹ Previous" } }
                @if let Some(h) = &v.next_href { a href=(h) rel="next" { "Next ›" } }
            }
        }),
    )
}

/// (when, what, detail) in a subscriber's history.
pub type HistoryLine = (String, String, String);

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryLine {
    pub issue: String,
    pub archive_href: String,
    pub subject: String,
    pub state: String,
    pub when: String,
    pub attempts: i64,
    pub error: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DetailView {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub status: String,
    pub frequency: String,
    pub time_zone: String,
    pub source: String,
    /// (label, value) lines: signed up, confirmed, last sent, bounces, …
    pub facts: Vec<(String, String)>,
    pub events: Vec<HistoryLine>,
    pub deliveries: Vec<DeliveryLine>,
    /// Statuses an editor may move this subscriber to (legal moves only).
    pub status_moves: Vec<String>,
    pub can_edit: bool,
    pub can_resend: bool,
    pub can_unsubscribe: bool,
    pub csrf: String,
    pub error: Option<String>,
    pub back_href: String,
}

pub fn detail_page(meta: &PageMeta, n: &AdminNav, v: &DetailView) -> Markup {
    let action = |what: &str| format!("/admin/subscribers/{}/{what}", v.id);
    let moves: Vec<(String, String)> =
        std::iter::once((v.status.clone(), format!("{} (unchanged)", v.status)))
            .chain(v.status_moves.iter().map(|m| (m.clone(), m.clone())))
            .collect();
    admin_page(
        meta,
        n,
        styled(html! {
            p { a href=(v.back_href) { "‹ All subscribers" } }
            h1 { (v.email) }
            p { (status_badge(&v.status)) @if !v.name.is_empty() { " · " (v.name) } }
            @if let Some(e) = &v.error { div.flash.flash-error role="alert" { p { (e) } } }
            div.grid-2 {
                section {
                    h2 { "Details" }
                    dl.details {
                        dt { "Frequency" } dd { (v.frequency) }
                        dt { "Time zone" } dd { @if v.time_zone.is_empty() { span.muted { "the publication's" } } @else { (v.time_zone) } }
                        dt { "Source" } dd { (v.source) }
                        @for (label, value) in &v.facts { dt { (label) } dd { (value) } }
                    }
                    @if v.can_resend || v.can_unsubscribe {
                        div.actions {
                            @if v.can_resend {
                                form method="post" action=(action("resend")) {
                                    (csrf_field(&v.csrf))
                                    (button("Resend the confirmation email", ButtonKind::Secondary))
                                }
                            }
                            @if v.can_unsubscribe {
                                form method="post" action=(action("unsubscribe")) {
                                    (csrf_field(&v.csrf))
                                    (button("Unsubscribe", ButtonKind::Danger))
                                }
                            }
                        }
                    }
                }
                @if v.can_edit {
                    section {
                        h2 { "Edit" }
                        form method="post" action=(action("edit")) {
                            (csrf_field(&v.csrf))
                            (form_field("Name", "name", "text", &v.name, false, None, None))
                            (select("Frequency", "frequency",
                                &[("daily".into(), "daily".into()), ("weekly".into(), "weekly".into())], &v.frequency))
                            (form_field("Time zone", "time_zone", "text", &v.time_zone, false,
                                Some("An IANA name such as Europe/London; empty for the publication's."), None))
                            (select("Status", "status", &moves, &v.status))
                            div.actions { (button("Save", ButtonKind::Primary)) }
                        }
                    }
                }
            }
            h2 { "Issues sent" }
            @if v.deliveries.is_empty() { p.muted { "No issue has been sent to this address." } }
            @else {
                div.table-scroll { table.stack {
                    thead { tr { th { "Issue" } th { "Subject" } th { "Delivery" } th { "When" } th.num { "Attempts" } } }
                    tbody {
                        @for d in &v.deliveries {
                            tr {
                                td { a href=(d.archive_href) { (d.issue) } }
                                td { (d.subject) }
                                td { (d.state) @if !d.error.is_empty() { br; small.field-error { (d.error) } } }
                                td { (d.when) }
                                td.num { (d.attempts) }
                            }
                        }
                    }
                } }
            }
            h2 { "History" }
            @if v.events.is_empty() { p.muted { "Nothing recorded." } }
            @else {
                ul { @for (at, what, detail) in &v.events { li { (at) " — " (what) @if !detail.is_empty() { " (" (detail) ")" } } } }
            }
            @if v.can_edit {
                section.danger-zone {
                    h2 { "Erase" }
                    p { "Deletes this subscriber, their history and their deliveries. Only a keyed hash of the address is kept, so that no import brings it back." }
                    (link_button("Erase this subscriber…", &action("erase"), ButtonKind::Danger))
                }
            }
        }),
    )
}

pub fn erase_page(meta: &PageMeta, n: &AdminNav, id: i64, email: &str, csrf: &str) -> Markup {
    admin_page(
        meta,
        n,
        html! {
            h1 { "Erase " (email) "?" }
            p { "This cannot be undone. The subscriber, their history and the record of what was sent to them are deleted. The address can come back only by signing up again and confirming." }
            form method="post" action=(format!("/admin/subscribers/{id}/erase")) {
                (csrf_field(csrf))
                (checkbox("Yes, erase everything about this subscriber", "confirm", "yes", false, None))
                div.actions {
                    (button("Erase", ButtonKind::Danger))
                    (link_button("Cancel", &format!("/admin/subscribers/{id}"), ButtonKind::Secondary))
                }
            }
        },
    )
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddForm {
    pub email: String,
    pub name: String,
    pub confirmed: bool,
    pub email_error: Option<String>,
    pub name_error: Option<String>,
    pub error: Option<String>,
}

pub fn add_page(meta: &PageMeta, n: &AdminNav, f: &AddForm) -> Markup {
    admin_page(
        meta,
        n,
        html! {
            p { a href="/admin/subscribers" { "‹ All subscribers" } }
            h1 { "Add a subscriber" }
            form method="post" action="/admin/subscribers/new" novalidate {
                (csrf_field(&n.csrf))
                @if let Some(e) = &f.error { div.flash.flash-error role="alert" { p { (e) } } }
                (form_field("Email address", "email", "email", &f.email, true, None, f.email_error.as_deref()))
                (form_field("Name", "name", "text", &f.name, false, None, f.name_error.as_deref()))
                fieldset.days {
                    legend { "Status" }
                    (radio("field-mode-pending", "mode", "pending", !f.confirmed, "Pending: send them a confirmation email"))
                    (radio("field-mode-confirmed", "mode", "confirmed", f.confirmed, "Confirmed: they already asked for the digest"))
                }
                div.actions { (button("Add", ButtonKind::Primary)) }
            }
        },
    )
}

pub fn upload_page(meta: &PageMeta, n: &AdminNav, limit_mb: u64, error: Option<&str>) -> Markup {
    admin_page(
        meta,
        n,
        styled(html! {
            p { a href="/admin/subscribers" { "‹ All subscribers" } }
            h1 { "Import subscribers" }
            p { "Upload a CSV file (UTF-8, comma-separated) of up to " (limit_mb) " MB. Next you choose which column holds what, see the first lines as they will be read, and start the import; it runs in the background." }
            @if let Some(e) = error { div.flash.flash-error role="alert" { p { span.visually-hidden { "Error: " } (e) } } }
            form method="post" action="/admin/subscribers/import/upload" enctype="multipart/form-data" {
                (csrf_field(&n.csrf))
                div.field {
                    label for="field-file" { "CSV file" }
                    input id="field-file" name="file" type="file" accept=".csv,text/csv" required;
                }
                div.actions { (button("Upload", ButtonKind::Primary)) }
            }
        }),
    )
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreviewRow {
    pub line: u64,
    pub email: String,
    pub name: String,
    pub status: String,
    pub frequency: String,
    pub time_zone: String,
    pub error: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MappingView {
    pub id: i64,
    pub file_name: String,
    pub size: String,
    /// The file's columns, by index: their header names or "column N".
    pub columns: Vec<String>,
    /// For each importable field: (field name, label, chosen column index or "").
    pub fields: Vec<(String, String, String)>,
    pub has_header: bool,
    pub update_existing: bool,
    pub confirmed: bool,
    pub preview: Vec<PreviewRow>,
    pub error: Option<String>,
}

pub fn mapping_page(meta: &PageMeta, n: &AdminNav, v: &MappingView) -> Markup {
    let choices: Vec<(String, String)> = std::iter::once(("".to_string(), "(none)".to_string()))
        .chain(
            v.columns
                .iter()
                .enumerate()
                .map(|(i, c)| (i.to_string(), format!("{}: {c}", i + 1))),
        )
        .collect();
    let errors = v.preview.iter().filter(|p| !p.error.is_empty()).count();
    admin_page(
        meta,
        n,
        styled(html! {
            p { a href="/admin/subscribers/import" { "‹ Upload another file" } }
            h1 { "Import " (v.file_name) }
            p.muted { (v.size) }
            @if let Some(e) = &v.error { div.flash.flash-error role="alert" { p { (e) } } }
            form method="post" action=(format!("/admin/subscribers/import/{}", v.id)) {
                (csrf_field(&n.csrf))
                h2 { "Columns" }
                div.mapping {
                    @for (field, label, chosen) in &v.fields {
                        label for=(format!("field-col-{field}")) { (label) }
                        select id=(format!("field-col-{field}")) name=(format!("col_{field}")) {
                            @for (value, text) in &choices {
                                option value=(value) selected[value == chosen] { (text) }
                            }
                        }
                    }
                }
                (checkbox("The first line is a header (names the columns)", "has_header", "yes", v.has_header, None))
                h2 { "Addresses already on the list" }
                fieldset.days {
                    legend.visually-hidden { "Addresses already on the list" }
                    (radio("field-existing-skip", "existing", "skip", !v.update_existing, "Skip them: leave those subscribers as they are"))
                    (radio("field-existing-update", "existing", "update", v.update_existing, "Update their name, frequency and time zone (never their status)"))
                }
                (checkbox("These people opted in elsewhere: import them as confirmed", "confirmed", "yes", v.confirmed,
                    Some("Otherwise new addresses come in as pending, and a row that says confirmed is imported as pending. No email is sent by an import.")))
                h2 { "First lines" }
                @if v.preview.is_empty() { p.muted { "No data lines found with these settings." } }
                @else {
                    p { (plural(errors as i64, "line", "lines")) " of the first " (v.preview.len()) " would not be imported." }
                    div.table-scroll { table.stack.preview {
                        thead { tr { th.num { "Line" } th { "Email" } th { "Name" } th { "Status" } th { "Frequency" } th { "Time zone" } th { "Problem" } } }
                        tbody {
                            @for p in &v.preview {
                                tr {
                                    td.num { (p.line) }
                                    td { (p.email) } td { (p.name) } td { (p.status) } td { (p.frequency) } td { (p.time_zone) }
                                    td.error { (p.error) }
                                }
                            }
                        }
                    } }
                }
                div.actions {
                    button.btn.btn-secondary type="submit" name="action" value="preview" { "Update the preview" }
                    button.btn type="submit" name="action" value="start" { "Start the import" }
                }
            }
        }),
    )
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportView {
    pub id: i64,
    pub file_name: String,
    /// "running", "done", "failed" or "interrupted".
    pub state: String,
    pub percent: u8,
    pub error: Option<String>,
    /// (label, count) totals, once finished.
    pub totals: Vec<(String, u64)>,
    /// The first invalid lines: (line, why).
    pub invalid: Vec<(u64, String)>,
    pub invalid_more: u64,
}

pub fn progress_page(meta: &PageMeta, n: &AdminNav, v: &ReportView) -> Markup {
    admin_page(
        meta,
        n,
        styled(html! {
            @if v.state == "running" {
                // Refreshes itself until the import ends; no script needed.
                meta http-equiv="refresh" content="2";
            }
            p { a href="/admin/subscribers" { "‹ All subscribers" } }
            h1 { "Import " (v.file_name) }
            @match v.state.as_str() {
                "running" => {
                    p role="status" { "Importing… " (v.percent) "%" }
                    progress max="100" value=(v.percent) aria-label="Import progress" { (v.percent) "%" }
                    p.muted { "This page refreshes by itself. You can leave it: the import carries on." }
                }
                "done" => { div.flash.flash-success role="status" { p { "The import is finished." } } }
                "interrupted" => { div.flash.flash-error role="alert" { p {
                    "The import stopped when the server did, at " (v.percent) "% of the file. The subscribers added so far stay; upload the file again (with “Skip”) to add the rest." } } }
                _ => { div.flash.flash-error role="alert" { p {
                    "The import stopped part-way: " (v.error.clone().unwrap_or_default())
                    ". The report below counts what was done before it stopped." } } }
            }
            @if !v.totals.is_empty() {
                h2 { "Report" }
                div.table-scroll { table.report {
                    tbody { @for (label, count) in &v.totals { tr { td { (label) } td.num { (count) } } } }
                } }
                p { (link_button("Download the report (CSV)", &format!("/admin/subscribers/import/{}/report.csv", v.id), ButtonKind::Secondary)) }
                @if !v.invalid.is_empty() {
                    h3 { "Invalid lines" }
                    ul { @for (line, why) in &v.invalid { li { "line " (line) ": " (why) } } }
                    @if v.invalid_more > 0 { p.muted { "… and " (v.invalid_more) " more in the downloadable report." } }
                }
            }
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_escapes_and_links_by_id() {
        let v = ListView {
            rows: vec![ListRow {
                href: "/admin/subscribers/7".into(),
                email: "a@example.org".into(),
                name: "<script>x</script>".into(),
                status: "confirmed".into(),
                ..Default::default()
            }],
            matches: 1,
            ..Default::default()
        };
        let html = list_page(&PageMeta::default(), &AdminNav::default(), &v).into_string();
        assert!(html.contains("/admin/subscribers/7"));
        assert!(!html.contains("<script>x"));
        assert!(html.contains("1 match<"));
    }

    #[test]
    fn detail_forms_carry_csrf() {
        let v = DetailView {
            id: 3,
            status: "pending".into(),
            status_moves: vec!["confirmed".into()],
            can_edit: true,
            can_resend: true,
            can_unsubscribe: true,
            csrf: "tok".into(),
            ..Default::default()
        };
        let n = AdminNav {
            csrf: "tok".into(),
            ..Default::default()
        };
        let html = detail_page(&PageMeta::default(), &n, &v).into_string();
        assert_eq!(
            html.matches("<form").count(),
            html.matches(r#"name="csrf" value="tok""#).count()
        );
        assert!(html.contains(r#"value="confirmed""#));
    }
}
