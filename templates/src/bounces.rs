//! The admin's bounces page: recent issues' bounce and complaint rates beside the
//! bulk-sender limits, one issue's failed deliveries, and the reports nobody could match.

use maud::{Markup, html};

use crate::{
    admin::{AdminNav, admin_page, csrf_field},
    page::PageMeta,
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
    /// The issue whose failures are listed, with them.
    pub selected: Option<(String, Vec<FailedRow>)>,
    pub unmatched: Vec<UnmatchedRow>,
    pub csrf: String,
}

fn percent(rate: f64) -> String {
    format!("{:.2} %", rate * 100.0)
}

pub fn bounces_page(meta: &PageMeta, n: &AdminNav, v: &BouncesView) -> Markup {
    admin_page(
        meta,
        n,
        html! {
            h1 { "Bounces and complaints" }
            p.muted { "Bulk senders are held to a complaint rate under 0.1 %, and never 0.3 %." }
            @if v.issues.is_empty() { p.muted { "No digest has been sent yet." } }
            @else {
                div.table-scroll { table.stack {
                    thead { tr {
                        th { "Issue" } th.num { "Sent" } th.num { "Hard bounces" }
                        th.num { "Soft" } th.num { "Complaints" }
                    } }
                    tbody { @for i in &v.issues { tr {
                        td { a href={ "/admin/bounces?digest=" (i.digest_id) } { (i.date) } }
                        td.num { (i.sent) }
                        td.num { (i.hard) " (" (percent(i.hard_rate)) ")" }
                        td.num { (i.soft) }
                        td.num { (i.complaints) " (" (percent(i.complaint_rate)) ")" }
                    } } }
                } }
            }
            @if let Some((date, rows)) = &v.selected {
                h2 { "Failed, bounced and complained: " (date) }
                @if rows.is_empty() { p.muted { "None." } }
                @else {
                    div.table-scroll { table.stack {
                        thead { tr { th { "Address" } th { "Outcome" } th { "Reason" } th { "When" } } }
                        tbody { @for r in rows { tr {
                            td { (r.email) } td { (r.outcome) } td { (r.reason) } td { (r.at) }
                        } } }
                    } }
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
