//! Job kinds that belong to no other room. Transactional email's job kind lives here
//! because every part of the service may need to send one; its handler, which needs the
//! subscriber's state, is [`crate::subscribers::transactional::send_transactional`].

use serde::{Deserialize, Serialize};

use super::Job;
use crate::{app::App, domain::EmailAddress, mail::Unsubscribe};

/// One email to one person, rendered before it is queued (confirmation links, welcome
/// notes, test sends). When `list_subscriber_id` is set the message is list mail and
/// carries that subscriber's one-click unsubscribe headers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendTransactional {
    pub to: EmailAddress,
    pub to_name: Option<String>,
    pub subject: String,
    pub html: String,
    pub text: String,
    pub list_subscriber_id: Option<i64>,
    /// Recorded on the subscriber's history when sent, e.g. "confirmation sent".
    pub event: Option<(i64, String)>,
}

impl Job for SendTransactional {
    const QUEUE: &'static str = "transactional-email";
    const MAX_ATTEMPTS: usize = 8;
}

/// The RFC 8058 headers for list mail to `subscriber_id`.
pub fn unsubscribe_for(app: &App, subscriber_id: i64) -> Unsubscribe {
    let links = crate::links::Links::new(app);
    links.list_unsubscribe(links.unsubscribe(subscriber_id))
}
