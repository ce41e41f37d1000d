//! The editors' and operators' admin: sign-in, today's digest, the schedule, past
//! digests, feeds, subscribers and API tokens.
//!
//! Every page works without JavaScript: each action is a small form that posts and
//! comes back to the page with a message. Every form carries the session's CSRF token
//! (field `csrf`). Layout is one column on a phone and wider tables on a laptop.

use maud::{Markup, PreEscaped, html};

pub mod branding;
pub mod digest;
pub mod feeds;
pub mod home;
pub mod login;
pub mod past_digests;
pub mod queue;
pub mod schedule;
pub mod subscribers;
pub mod tokens;

pub use feeds::*;
pub use home::*;
pub use login::*;
pub use past_digests::*;
pub use schedule::*;
pub use tokens::*;

use crate::page::{PageMeta, flash, page};

/// Widens the page for tables and lays out the nav; the shared CSS is for reading pages.
const ADMIN_CSS: &str = r#"
.site-main.wrap, .site-header .wrap, .site-footer .wrap { max-width: 68rem; }
.admin-nav { display: flex; flex-wrap: wrap; gap: .25rem .9rem; align-items: center;
  border-bottom: 1px solid var(--rule); padding: .5rem 0 .75rem; margin-bottom: 1rem; font-size: .95rem; }
.admin-nav a { text-decoration: none; padding: .2rem 0; }
.admin-nav a[aria-current=page] { font-weight: 700; border-bottom: 3px solid var(--accent); }
.admin-nav .who { margin-left: auto; color: var(--muted); font-size: .85rem; }
.admin-nav form { display: inline; margin: 0; }
.actions form { margin: 0; }
.linkish { background: none; border: 0; padding: 0; font: inherit; color: var(--accent); text-decoration: underline; cursor: pointer; }
.articles { list-style: none; padding: 0; margin: 0 0 1rem; }
.articles li { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; justify-content: space-between;
  padding: .6rem 0; border-bottom: 1px solid var(--rule); }
.articles li.dropped .title { text-decoration: line-through; color: var(--muted); }
.articles .title { flex: 1 1 20rem; min-width: 0; overflow-wrap: anywhere; }
.articles .tools { display: flex; gap: .35rem; flex-wrap: wrap; }
.articles .tools form { margin: 0; }
.btn-small { min-height: 2.25rem; padding: .25rem .65rem; font-size: .85rem; }
.badge { display: inline-block; font-size: .75rem; font-weight: 700; padding: .05rem .45rem; border-radius: 1rem;
  border: 1px solid var(--control); color: var(--muted); margin-left: .35rem; vertical-align: middle; }
.badge-pin { border-color: var(--accent); color: var(--accent); }
.grid-2 { display: grid; gap: 1.5rem; }
@media (min-width: 60rem) { .grid-2 { grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); } }
.preview-frame { width: 100%; height: 42rem; border: 1px solid var(--rule); border-radius: var(--radius); background: #fff; }
.tabs { display: flex; gap: 1rem; margin: 0 0 .5rem; }
.days { display: flex; flex-wrap: wrap; gap: .25rem 1rem; border: 0; padding: 0; margin: 0 0 1rem; }
.days .checkbox { margin: 0; }
.token { font-family: ui-monospace, monospace; overflow-wrap: anywhere; padding: .5rem; background: var(--bg); border: 1px dashed var(--control); }
td, th { padding: .4rem .5rem; text-align: left; vertical-align: top; border-bottom: 1px solid var(--rule); }
.num { text-align: right; font-variant-numeric: tabular-nums; }
@media (max-width: 40rem) {
  table.stack thead { display: none; }
  table.stack tr { display: block; padding: .5rem 0; border-bottom: 1px solid var(--rule); }
  table.stack td { display: block; border: 0; padding: .15rem 0; }
}
"#;

/// Who is signed in and where they are, for the navigation bar.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdminNav {
    pub email: String,
    pub is_editor: bool,
    pub csrf: String,
    /// The path of the current section, e.g. "/admin/schedule".
    pub current: String,
}

/// The hidden field every admin form carries.
pub fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(token); }
}

fn nav(n: &AdminNav) -> Markup {
    let mut links: Vec<(&str, &str)> = Vec::new();
    if n.is_editor {
        links.extend([
            ("/admin", "Today's digest"),
            ("/admin/schedule", "Schedule"),
            ("/admin/digests", "Past digests"),
            ("/admin/feeds", "Feeds"),
            ("/admin/leaving", "Leaving"),
            ("/admin/branding", "Branding"),
        ]);
    }
    links.extend([
        ("/admin/subscribers", "Subscribers"),
        ("/admin/queue", "Queue"),
        ("/admin/bounces", "Bounces"),
        ("/admin/doctor", "Deliverability"),
        ("/admin/tokens", "API tokens"),
    ]);
    html! {
        nav.admin-nav aria-label="Admin" {
            @for (href, label) in links {
                a href=(href) aria-current=[(n.current == href).then_some("page")] { (label) }
            }
            span.who { (n.email) " · " (if n.is_editor { "editor" } else { "operator" }) }
            form method="post" action="/admin/logout" {
                (csrf_field(&n.csrf))
                button.linkish type="submit" { "Sign out" }
            }
        }
    }
}

/// An admin page: the site shell, the admin navigation, the message from the last
/// action (under the navigation, where the eye already is), then `body`.
pub fn admin_page(meta: &PageMeta, n: &AdminNav, body: Markup) -> Markup {
    let shell = PageMeta {
        noindex: true,
        flash: None,
        ..meta.clone()
    };
    page(
        &shell,
        html! {
            style { (PreEscaped(ADMIN_CSS)) }
            (nav(n))
            @if let Some(f) = &meta.flash { (flash(f)) }
            (body)
        },
    )
}
