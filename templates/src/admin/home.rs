//! The page operators land on.

use maud::{Markup, html};

use super::{AdminNav, admin_page};
use crate::page::{ButtonKind, PageMeta, link_button};

/// The page operators land on: what their account can see.
pub fn operator_home(meta: &PageMeta, n: &AdminNav) -> Markup {
    admin_page(
        meta,
        n,
        html! {
            h1 { "Admin" }
            p.lede { "Your operator account can watch the queue and look after subscribers. Editing and sending digests is for editors." }
            div.actions {
                (link_button("Queue", "/admin/queue", ButtonKind::Primary))
                (link_button("Subscribers", "/admin/subscribers", ButtonKind::Secondary))
            }
        },
    )
}
