//! The feeds page: the feeds articles come from, adding and editing one.

use maud::{Markup, html};

use super::{AdminNav, admin_page, csrf_field};
use crate::page::{ButtonKind, PageMeta, button, form_field};

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
