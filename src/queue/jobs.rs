//! Job kinds that belong to no other room. Transactional email's job kind lives here
//! because every part of the service may need to send one; its handler, which needs the
//! subscriber's state, is [`crate::subscribers::transactional::send_transactional`].

use serde::{Deserialize, Serialize};

use super::Job;
use crate::domain::EmailAddress;

/// One email to one person, rendered before it is queued (confirmation links, welcome
/// notes, test sends). When `list_subscriber_id` is set the message is list mail and
/// carries that subscriber's one-click unsubscribe headers, with the link the body shows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendTransactional {
    pub to: EmailAddress,
    pub to_name: Option<String>,
    pub subject: String,
    pub html: String,
    pub text: String,
    pub list_subscriber_id: Option<i64>,
    /// List mail's unsubscribe link, the one in the body (signed once, when rendered),
    /// for the `List-Unsubscribe` header. Absent in jobs queued by older versions.
    #[serde(default)]
    pub unsubscribe_url: Option<String>,
    /// Recorded on the subscriber's history when sent, e.g. "confirmation sent".
    pub event: Option<(i64, String)>,
}

impl Job for SendTransactional {
    const QUEUE: &'static str = "transactional-email";
    const MAX_ATTEMPTS: usize = 8;
}
