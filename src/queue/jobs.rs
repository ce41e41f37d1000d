//! Job kinds that belong to no other room. Transactional email lives here because every
//! part of the service may need to send one.

use apalis::prelude::{BoxDynError, Data};
use serde::{Deserialize, Serialize};

use super::Job;
use crate::{
    app::App,
    domain::EmailAddress,
    mail::{OutgoingEmail, Unsubscribe},
};

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

/// Why an email about a subscriber should not go out after all: they were erased while it
/// waited (or was retried), they have left the list (list mail), or they are no longer
/// pending (a confirmation). Emails about no subscriber (test sends) always go.
async fn no_longer_wanted(
    job: &SendTransactional,
    app: &App,
) -> Result<Option<&'static str>, BoxDynError> {
    let Some(id) = job.list_subscriber_id.or(job.event.as_ref().map(|e| e.0)) else {
        return Ok(None);
    };
    let s = match app.store.subscriber(id).await {
        Ok(s) => s,
        Err(crate::store::StoreError::NotFound) => return Ok(Some("the subscriber was erased")),
        Err(e) => return Err(e.into()),
    };
    // A move to a new address is confirmed at that address, not the stored one.
    let to_new_address = job
        .event
        .as_ref()
        .is_some_and(|(_, kind)| kind == crate::subscribers::address::CHANGE_REQUESTED);
    if s.email.key() != job.to.key() && !to_new_address {
        return Ok(Some("the subscriber's address has changed"));
    }
    let is_confirmation = job
        .event
        .as_ref()
        .is_some_and(|(_, kind)| kind == crate::subscribers::CONFIRMATION_SENT);
    let wanted = if job.list_subscriber_id.is_some() {
        s.status == crate::domain::SubscriberStatus::Confirmed
    } else if is_confirmation {
        s.status == crate::domain::SubscriberStatus::Pending
    } else {
        true
    };
    Ok((!wanted).then_some("the subscriber's status has changed"))
}

/// Sends the message; a permanent refusal is logged and recorded, not retried, since
/// sending the same message again cannot succeed.
pub async fn send_transactional(job: SendTransactional, app: Data<App>) -> Result<(), BoxDynError> {
    if let Some(why) = no_longer_wanted(&job, &app).await? {
        tracing::info!(subscriber = ?job.event.as_ref().map(|e| e.0), why, "transactional email dropped");
        return Ok(());
    }
    let unsubscribe = job.list_subscriber_id.map(|id| unsubscribe_for(&app, id));
    let email = OutgoingEmail {
        to: job.to.clone(),
        to_name: job.to_name.clone(),
        subject: job.subject.clone(),
        html: job.html.clone(),
        text: job.text.clone(),
        unsubscribe,
    };
    // Bounces of mail to a subscriber come back to an address naming them (VERP).
    let return_path = job
        .list_subscriber_id
        .or(job.event.as_ref().map(|e| e.0))
        .and_then(|subscriber_id| {
            crate::bounces::return_path(
                &app,
                crate::bounces::BounceRef::Subscriber { subscriber_id },
            )
        });
    let message = email.to_message_returning(&app.identity, return_path.as_ref())?;
    match app.mailer.send(message).await {
        Ok(()) => {
            metrics::counter!("breakfast_transactional_sent_total").increment(1);
            if let Some((subscriber_id, kind)) = &job.event {
                app.store
                    .record_event(*subscriber_id, kind, None, app.now_ms())
                    .await?;
            }
            Ok(())
        }
        Err(e) if e.is_permanent() => {
            metrics::counter!("breakfast_transactional_failed_total").increment(1);
            tracing::warn!(subscriber = ?job.event.as_ref().map(|e| e.0), error = %e, "transactional email refused");
            if let Some((subscriber_id, _)) = &job.event {
                app.store
                    .record_event(
                        *subscriber_id,
                        "email refused",
                        Some(&e.to_string()),
                        app.now_ms(),
                    )
                    .await?;
            }
            Ok(())
        }
        Err(e) => {
            metrics::counter!("breakfast_transactional_retried_total").increment(1);
            Err(e.into())
        }
    }
}

/// The RFC 8058 headers for list mail to `subscriber_id`.
pub fn unsubscribe_for(app: &App, subscriber_id: i64) -> Unsubscribe {
    let links = crate::links::Links::new(app);
    links.list_unsubscribe(links.unsubscribe(subscriber_id))
}
