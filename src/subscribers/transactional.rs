//! Sending one queued transactional email ([`SendTransactional`]): the job's handler,
//! beside the subscriber state it checks before sending. The emails themselves are built
//! on [`super::framing`].

use apalis::prelude::{BoxDynError, Data};

use crate::{
    app::App,
    links::Links,
    mail::{Head, OutgoingEmail},
    queue::jobs::SendTransactional,
};

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
#[tracing::instrument(name = "job", skip_all, fields(kind = "transactional", subscriber = ?job.list_subscriber_id.or(job.event.as_ref().map(|e| e.0))))]
pub async fn send_transactional(job: SendTransactional, app: Data<App>) -> Result<(), BoxDynError> {
    if let Some(why) = no_longer_wanted(&job, &app).await? {
        tracing::info!(subscriber = ?job.event.as_ref().map(|e| e.0), why, "transactional email dropped");
        return Ok(());
    }
    let unsubscribe = job.list_subscriber_id.map(|id| {
        let links = Links::new(&app);
        // The link the body shows, signed when the email was rendered; a job queued by an
        // older version has none, and gets one signed now.
        let url = job
            .unsubscribe_url
            .clone()
            .unwrap_or_else(|| links.unsubscribe(id));
        links.list_unsubscribe(url)
    });
    let email = OutgoingEmail {
        head: Head {
            to: job.to.clone(),
            to_name: job.to_name.clone(),
            subject: job.subject.clone(),
            unsubscribe,
        },
        html: job.html.clone(),
        text: job.text.clone(),
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
            metrics::counter!(crate::ops::metric_names::TRANSACTIONAL_SENT).increment(1);
            if let Some((subscriber_id, kind)) = &job.event {
                app.store
                    .record_event(*subscriber_id, kind, None, app.now_ms())
                    .await?;
            }
            Ok(())
        }
        Err(e) if e.is_permanent() => {
            metrics::counter!(crate::ops::metric_names::TRANSACTIONAL_FAILED).increment(1);
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
            metrics::counter!(crate::ops::metric_names::TRANSACTIONAL_RETRIED).increment(1);
            Err(e.into())
        }
    }
}
