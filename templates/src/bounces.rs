//! The admin's bounces page: recent issues' bounce and complaint rates beside the
//! bulk-sender limits, one issue's failed deliveries, and the reports nobody could match.

use maud::{Markup, html};

use crate::{
    admin::{AdminNav, admin_page, csrf_field},
    page::{ButtonKind, PageMeta, button},
};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct IssueRates {
    pub digest_id: i64,
    pub date: String,
    pub sent: i64,
    pub hard: i64,
    pub soft: i64,
    pub complaints: i64,
    pub hard_rate: f64,
    pub complaint_rate: f64,
    /// Set when a rate breaks a rule, e.g. "0.1 % or more", "past the pause limit".
    pub hard_warning: Option<String>,
    pub complaint_warning: Option<String>,
}

/// The limits shown beside the rates: the service's own auto-pause limits (fractions;
/// 0 means the check is off). The bulk-sender rule is fixed text.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Limits {
    pub pause_complaint_rate: f64,
    pub pause_hard_bounce_rate: f64,
    pub pause_min_sent: i64,
}

/// One issue's failures, listed under the rates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectedIssue {
    pub digest_id: i64,
    pub date: String,
    pub rows: Vec<FailedRow>,
    /// Some deliveries failed at send time without a bounce or complaint: offer the
    /// retry (it queues only those whose retries ran out; the answer says how many).
    pub can_retry: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FailedRow {
    pub email: String,
    pub outcome: String,
    pub reason: String,
    pub at: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnmatchedRow {
    pub id: i64,
    pub received: String,
    pub source: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct BouncesView {
    pub issues: Vec<IssueRates>,
    pub limits: Limits,
    /// The issue whose failures are listed, with them.
    pub selected: Option<SelectedIssue>,
    pub unmatched: Vec<UnmatchedRow>,
    pub csrf: String,
}

fn percent(rate: f64) -> String {
    format!("{:.2} %", rate * 100.0)
}

/// Where an issue's failures are listed (and can be retried).
pub fn issue_failures_path(digest_id: i64) -> String {
    format!("/admin/bounces?digest={digest_id}")
}

/// Where the retry button posts.
pub fn retry_path(digest_id: i64) -> String {
    format!("/admin/bounces/digest/{digest_id}/retry")
}

/// The rules the rates are read against, in one paragraph: the receivers' rule for
/// complaints and this publication's own pause limits.
pub fn limits_note(l: &Limits) -> Markup {
    let mut pauses = Vec::new();
    if l.pause_complaint_rate > 0.0 {
        pauses.push(format!(
            "a complaint rate over {}",
            percent(l.pause_complaint_rate)
        ));
    }
    if l.pause_hard_bounce_rate > 0.0 {
        pauses.push(format!(
            "a hard-bounce rate over {}",
            percent(l.pause_hard_bounce_rate)
        ));
    }
    html! {
        p.muted {
            "Bulk senders are held to a complaint rate under 0.1 %, and never 0.3 %. "
            @if pauses.is_empty() {
                "Automatic pausing is off."
            } @else {
                "The daily schedule pauses itself at " (pauses.join(" or "))
                " once an issue has sent " (l.pause_min_sent) " messages."
            }
        }
    }
}

fn rate_cell(n: i64, rate: f64, warning: Option<&str>) -> Markup {
    html! {
        td.num {
            (n) " (" (percent(rate)) ")"
            @if let Some(w) = warning { " " strong { "⚠ " (w) } }
        }
    }
}

/// Each issue's counts and rates, its date linking to its list of failures: the one
/// table on this page and on the queue dashboard.
pub fn rates_table(issues: &[IssueRates]) -> Markup {
    html! {
        div.table-scroll { table.stack {
            thead { tr {
                th scope="col" { "Issue" } th.num scope="col" { "Sent" }
                th.num scope="col" { "Hard bounces" } th.num scope="col" { "Soft" }
                th.num scope="col" { "Complaints" }
            } }
            tbody { @for i in issues { tr {
                td { a href=(issue_failures_path(i.digest_id)) { (i.date) } }
                td.num { (i.sent) }
                (rate_cell(i.hard, i.hard_rate, i.hard_warning.as_deref()))
                td.num { (i.soft) }
                (rate_cell(i.complaints, i.complaint_rate, i.complaint_warning.as_deref()))
            } } }
        } }
    }
}

pub fn bounces_page(meta: &PageMeta, n: &AdminNav, v: &BouncesView) -> Markup {
    admin_page(
        meta,
        n,
        html! {
            h1 { "Bounces and complaints" }
            (limits_note(&v.limits))
            @if v.issues.is_empty() { p.muted { "No digest has been sent yet." } }
            @else { (rates_table(&v.issues)) }
            @if let Some(issue) = &v.selected {
                h2 { "Failed, bounced and complained: " (issue.date) }
                @if issue.rows.is_empty() { p.muted { "None." } }
                @else {
                    div.table-scroll { table.stack {
                        thead { tr { th { "Address" } th { "Outcome" } th { "Reason" } th { "When" } } }
                        tbody { @for r in &issue.rows { tr {
                            td { (r.email) } td { (r.outcome) } td { (r.reason) } td { (r.at) }
                        } } }
                    } }
                }
                @if issue.can_retry {
                    form method="post" action=(retry_path(issue.digest_id)) {
                        (csrf_field(&v.csrf))
                        p.muted {
                            "Sends again the deliveries that failed only because their retries ran out "
                            "(temporary errors). Permanent refusals, bounces and complaints stay as they are."
                        }
                        (button("Retry the temporary failures", ButtonKind::Primary))
                    }
                }
            }
            h2 { "Reports nobody could match" }
            @if v.unmatched.is_empty() { p.muted { "None waiting." } }
            @else {
                div.table-scroll { table.stack {
                    thead { tr { th { "Received" } th { "From" } th { "Why" } th { "" } } }
                    tbody { @for u in &v.unmatched { tr {
                        td { (u.received) } td { (u.source) } td { (u.reason) }
                        td {
                            form method="post" action={ "/admin/bounces/" (u.id) "/reprocess" } {
                                (csrf_field(&v.csrf))
                                button type="submit" { "Re-process" }
                            }
                        }
                    } } }
                } }
            }
        },
    )
}
