//! The public archive: every digest that went out, newest first. Each digest itself is
//! shown as the stored email, not through a template here.

use maud::{Markup, html};

use crate::page::{ButtonKind, PageMeta, link_button, page};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ArchiveEntry {
    /// e.g. "Monday 6 March 2026".
    pub date_label: String,
    /// YYYY-MM-DD, for the `<time>` element.
    pub iso_date: String,
    pub subject: String,
    pub preheader: String,
    pub href: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ArchiveView {
    pub publication: String,
    pub pitch: String,
    pub entries: Vec<ArchiveEntry>,
    pub newer_href: Option<String>,
    pub older_href: Option<String>,
}

pub fn archive_page(v: &ArchiveView) -> Markup {
    let meta = PageMeta {
        title: "Past digests".into(),
        publication: v.publication.clone(),
        flash: None,
        noindex: false,
    };
    page(
        &meta,
        html! {
            h1 { "Past digests" }
            p.lede { (v.pitch) }
            p { (link_button("Subscribe", "/", ButtonKind::Primary)) }
            @if v.entries.is_empty() {
                p.muted { "Nothing has been sent yet. The first digest will appear here once it goes out." }
            } @else {
                ol style="list-style:none;padding:0;margin:1.5rem 0 0" {
                    @for e in &v.entries {
                        li.card {
                            p.muted style="margin:0 0 .25rem;font-size:.9rem" {
                                time datetime=(e.iso_date) { (e.date_label) }
                            }
                            h2 style="margin:0 0 .5rem;font-size:1.25rem" {
                                a href=(e.href) { (e.subject) }
                            }
                            @if !e.preheader.is_empty() {
                                p style="margin:0" { (e.preheader) }
                            }
                        }
                    }
                }
            }
            @if v.newer_href.is_some() || v.older_href.is_some() {
                nav aria-label="More digests" {
                    p.actions {
                        @if let Some(href) = &v.newer_href {
                            (link_button("Newer", href, ButtonKind::Secondary))
                        }
                        @if let Some(href) = &v.older_href {
                            (link_button("Older", href, ButtonKind::Secondary))
                        }
                    }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_entries_escaped_with_links() {
        let v = ArchiveView {
            publication: "Breakfast in Red".into(),
            pitch: "Daily.".into(),
            entries: vec![ArchiveEntry {
                date_label: "Monday 6 March 2026".into(),
                iso_date: "2026-03-06".into(),
                subject: "Tom & <Jerry>".into(),
                preheader: "Hello".into(),
                href: "/archive/2026-03-06".into(),
            }],
            newer_href: None,
            older_href: Some("/archive?page=2".into()),
        };
        let html = archive_page(&v).into_string();
        assert!(html.contains("Tom &amp; &lt;Jerry&gt;"));
        assert!(html.contains("href=\"/archive/2026-03-06\""));
        assert!(html.contains("href=\"/archive?page=2\""));
        assert!(!html.contains("Newer"));
    }

    #[test]
    fn empty_archive_says_so() {
        let html = archive_page(&ArchiveView::default()).into_string();
        assert!(html.contains("Nothing has been sent yet"));
    }
}
