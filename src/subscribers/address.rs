//! Changing one's address from the preferences page. The new address is only used once
//! a link sent *to it* is followed, so nobody can move a subscription to a mailbox they
//! do not read, and the link is tied to that exact address (a later request for another
//! address makes it useless).

use chrono::Duration;
use templates::email::transactional::TransactionalEmail;

use super::{LinkError, ServiceError, ServiceResult, holder, load};
use crate::{
    app::App,
    domain::{EmailAddress, Purpose, TokenError, token::constant_time_eq},
    queue::jobs::SendTransactional,
    store::{StoreError, subscribers::Subscriber},
};

/// How long the link to the new address works.
pub const CHANGE_LINK_DAYS: i64 = 2;

fn address_tag(app: &App, email: &EmailAddress) -> String {
    app.signer.fingerprint(&format!("change:{}", email.key()))
}

/// Records the wish to move to `raw_new` and mails a confirmation link to it. The answer
/// is the same whether or not the address is free, so the page reveals nobody's address.
pub async fn request_change(app: &App, token: &str, raw_new: &str) -> ServiceResult<EmailAddress> {
    let s = holder(app, token, Purpose::Preferences).await?;
    let new = EmailAddress::parse(raw_new)
        .map_err(|e| ServiceError::Invalid(format!("the new address: {e}")))?;
    if new.key() == s.email.key() {
        return Err(ServiceError::Invalid("that is already your address".into()));
    }
    let now = app.now_ms();
    app.store.put_email_change(s.id, &new, now).await?;
    if app.store.subscriber_by_email(&new).await?.is_some() {
        tracing::info!(
            subscriber = s.id,
            "address change to an address on the list; not sent"
        );
        return Ok(new);
    }
    let expires = now + Duration::days(CHANGE_LINK_DAYS).num_milliseconds();
    let link = app.url(&format!(
        "/preferences/address?token={}&tag={}",
        app.signer.sign(s.id, Purpose::ChangeEmail, Some(expires)),
        address_tag(app, &new)
    ));
    let job = change_email(app, &s, &new, link);
    app.queue
        .push(job)
        .await
        .map_err(|e| ServiceError::Queue(e.to_string()))?;
    Ok(new)
}

/// The history event of a change request; its email goes to the new address.
pub const CHANGE_REQUESTED: &str = "address change requested";

fn change_email(app: &App, s: &Subscriber, new: &EmailAddress, link: String) -> SendTransactional {
    let newsletter = &app.config.newsletter;
    let m = TransactionalEmail {
        preheader: "One click and your subscription moves here.".into(),
        heading: "Confirm your new address".into(),
        paragraphs: vec![
            format!(
                "Someone with the preferences link of a {} subscriber asked to move the subscription to this address.",
                newsletter.name
            ),
            format!("If that was you, confirm below. The link works for {CHANGE_LINK_DAYS} days."),
        ],
        button: Some(("Use this address".into(), link)),
        footer_note: "If you did not ask for this, ignore this email: nothing changes.".into(),
        ..super::framing::framed(app, &app.look.current(), None)
    };
    let subject = format!("Confirm your new address for {}", newsletter.name);
    // To the new address: that is the one the link proves.
    SendTransactional {
        to: new.clone(),
        ..super::framing::job(s, subject, &m, CHANGE_REQUESTED)
    }
}

/// The subscriber and the address a change link is for, if it is still the one asked for.
pub async fn pending_change(
    app: &App,
    token: &str,
    tag: &str,
) -> ServiceResult<(Subscriber, EmailAddress)> {
    let id = match app.signer.verify(token, Purpose::ChangeEmail, app.now_ms()) {
        Ok(id) => id,
        Err(TokenError::Expired { .. }) => {
            return Err(ServiceError::Invalid(
                "this link has expired; ask for the change again on your preferences page".into(),
            ));
        }
        Err(_) => return Err(LinkError::Invalid.into()),
    };
    let s = load(app, id).await?;
    let superseded = || {
        ServiceError::Invalid(
            "this link is for an address change that was made or replaced since; use the newest email, or ask again on your preferences page"
                .into(),
        )
    };
    let (raw, _) = app.store.email_change(id).await?.ok_or_else(superseded)?;
    let new = EmailAddress::parse(&raw).map_err(|_| superseded())?;
    // Constant-time, so the tag cannot be guessed byte by byte.
    if !constant_time_eq(address_tag(app, &new).as_bytes(), tag.trim().as_bytes()) {
        return Err(superseded());
    }
    Ok((s, new))
}

/// Follows the change link (by its page's button): the subscription moves to the new
/// address.
pub async fn confirm_change(app: &App, token: &str, tag: &str) -> ServiceResult<Subscriber> {
    let (s, new) = pending_change(app, token, tag).await?;
    match app.store.apply_email_change(s.id, &new, app.now_ms()).await {
        Ok(s) => {
            tracing::info!(subscriber = s.id, "address changed");
            Ok(s)
        }
        Err(StoreError::Conflict(_)) => Err(ServiceError::Invalid(
            "that address is already subscribed, so this one cannot move to it".into(),
        )),
        Err(e) => Err(e.into()),
    }
}
