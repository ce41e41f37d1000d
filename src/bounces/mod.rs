//! Bounces and complaints that arrive after the server said 250: delivery status
//! notifications and feedback reports from the bounce mailbox, and providers' webhooks.
//!
//! Data flows one way: a report comes in ([`mailbox`] or `web::webhooks` with
//! [`providers`]), is read ([`parse`]), matched to a delivery by its VERP token
//! ([`verp`]), and applied in one transaction by the store ([`apply`]).

pub mod apply;
pub mod mailbox;
pub mod parse;
pub mod providers;
pub mod verp;

pub use apply::{Handled, ProviderEvent, handle_event, handle_message, reprocess};
pub use verp::{BounceRef, return_path};

/// Bounces and complaints applied, labelled by kind (hard, soft, complaint).
pub const METRIC_EVENTS: &str = "breakfast_bounce_events_total";
/// Reports kept as unreadable or unmatched.
pub const METRIC_UNMATCHED: &str = "breakfast_bounce_unmatched_total";
