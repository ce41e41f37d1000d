//! The sign-in page.

use maud::{Markup, html};

use super::csrf_field;
use crate::page::{ButtonKind, PageMeta, button, form_field, unindexed_page};

/// The sign-in form. `error` is shown above the fields.
pub fn login_page(
    meta: &PageMeta,
    email: &str,
    next: &str,
    csrf: &str,
    error: Option<&str>,
) -> Markup {
    unindexed_page(
        meta,
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
