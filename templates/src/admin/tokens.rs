//! Personal API tokens: listing, creating (shown once), revoking.

use maud::{Markup, html};

use super::{AdminNav, admin_page, csrf_field};
use crate::page::{ButtonKind, PageMeta, button, form_field};

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
