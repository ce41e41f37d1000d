//! The editors' view of why readers leave: counts only, since the reasons are stored
//! without addresses.

use maud::{Markup, html};

use crate::admin::{AdminNav, admin_page};
use crate::page::PageMeta;

pub fn leaving_page(meta: &PageMeta, n: &AdminNav, rows: &[(String, i64)]) -> Markup {
    let total: i64 = rows.iter().map(|(_, c)| c).sum();
    admin_page(
        meta,
        n,
        html! {
            h1 { "Why readers leave" }
            p.muted { "Reasons given on the unsubscribe page (the question is optional). Only counts are kept, never who gave them." }
            @if rows.is_empty() {
                p { "Nobody has given a reason yet." }
            } @else {
                div.table-scroll { table {
                    thead { tr { th scope="col" { "Reason" } th.num scope="col" { "Readers" } th.num scope="col" { "Share" } } }
                    tbody {
                        @for (label, count) in rows {
                            tr {
                                td { (label) }
                                td.num { (count) }
                                td.num { (count * 100 / total.max(1)) "%" }
                            }
                        }
                    }
                } }
            }
        },
    )
}
