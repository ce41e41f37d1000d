//! `/admin/doctor`: the deliverability checks of `breakfast doctor`, for operators.

use maud::{Markup, html};

use crate::{
    admin::{AdminNav, admin_page},
    page::PageMeta,
};

/// One check as the page shows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DoctorLine {
    /// "ok", "warning" or "problem".
    pub level: String,
    pub name: String,
    pub detail: String,
    pub action: Option<String>,
}

const STYLE: &str = ".doc-ok{color:#1e6b34;font-weight:700}.doc-warning{color:#8a5a00;font-weight:700}.doc-problem{color:#b3001b;font-weight:700}.doc td{vertical-align:top;padding:6px 10px 6px 0}.doc .do{margin:4px 0 0 0}";

pub fn doctor_page(meta: &PageMeta, nav: &AdminNav, lines: &[DoctorLine]) -> Markup {
    let problems = lines.iter().filter(|l| l.level == "problem").count();
    let warnings = lines.iter().filter(|l| l.level == "warning").count();
    let body = html! {
        style { (STYLE) }
        h1 { "Deliverability" }
        p.muted {
            "What mailbox providers check before they accept bulk mail: SPF, DKIM, DMARC, \
             the bounce domain's MX, https links, and the relay. The same checks as "
            code { "breakfast doctor" } "."
        }
        p { (problems) " problem(s), " (warnings) " warning(s)." }
        table.doc {
            thead { tr { th { "Result" } th { "Check" } th { "What was seen, and what to do" } } }
            tbody {
                @for l in lines {
                    tr {
                        td class=(format!("doc-{}", l.level)) { (l.level) }
                        td { (l.name) }
                        td {
                            (l.detail)
                            @if let Some(action) = &l.action {
                                p.do { "Do: " (action) }
                            }
                        }
                    }
                }
            }
        }
    };
    admin_page(meta, nav, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_escaped_and_coloured() {
        let html = doctor_page(
            &PageMeta::default(),
            &AdminNav::default(),
            &[DoctorLine {
                level: "problem".into(),
                name: "dmarc".into(),
                detail: "no <DMARC> record".into(),
                action: Some("publish one".into()),
            }],
        )
        .into_string();
        assert!(html.contains("doc-problem"));
        assert!(html.contains("no &lt;DMARC&gt; record"));
        assert!(html.contains("Do: publish one"));
        assert!(html.contains("1 problem(s), 0 warning(s)"));
    }
}
