//! Past digests: what went out, and how each send went.

use maud::{Markup, html};

use super::{AdminNav, admin_page};
use crate::page::PageMeta;

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
