//! The subscriber side of the service: signing up, confirming, leaving, preferences,
//! erasure, and bulk import/export. No HTTP here: the web and CLI layers translate.
//!
//! Erased addresses: erasure keeps only a keyed hash in `suppressions` so that an import
//! or an API call never brings the address back by mistake. A *new explicit sign-up* by
//! the person is not a mistake, so it is let through as `pending` and must be confirmed
//! from the mailbox; only then is the suppression lifted. Imports and the API skip or
//! refuse suppressed addresses.

pub mod address;
pub mod csv_safe;
pub mod framing;
pub mod import;
pub mod leaving;
pub mod transactional;
pub mod upload;

use chrono::Duration;
use templates::email::transactional::TransactionalEmail;

use crate::{
    app::App,
    brand::{CopyKey, Look, copy::Rendered},
    domain::{EmailAddress, Frequency, Purpose, SubscriberStatus, TokenError},
    links::Links,
    queue::jobs::SendTransactional,
    store::{
        StoreError,
        subscribers::{NewSubscriber, PreferencesUpdate, Subscriber, SubscriberEvent},
    },
};

pub use import::{ImportOptions, ImportReport, export_csv, import_csv};

/// The history entry of a confirmation email, which also marks the job as one.
pub const CONFIRMATION_SENT: &str = "confirmation sent";

/// Longest name we keep; a name is for a greeting, not an essay.
pub const MAX_NAME_CHARS: usize = 100;
/// Longest pause a subscriber can ask for.
pub const MAX_PAUSE_DAYS: u32 = 365;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Input a person can correct; the message says how.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Queue(String),
}

/// Why a personal link did not work, sorted by what the page should offer.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("this link is incomplete or damaged")]
    Invalid,
    #[error("this link has expired")]
    Expired { token: String },
    #[error("this link is for someone who is no longer on the list")]
    Gone,
    /// A confirmation link for an address that has since left the list.
    #[error("this link is no longer valid")]
    Stale,
}

pub type ServiceResult<T> = Result<T, ServiceError>;

/// Checks an optional name from a form: trimmed, empty is none, bounded in length.
pub fn clean_name(raw: Option<&str>) -> Result<Option<String>, String> {
    let name = raw.map(str::trim).unwrap_or_default();
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(format!("a name has at most {MAX_NAME_CHARS} characters"));
    }
    if name.chars().any(char::is_control) {
        return Err("a name cannot contain control characters".into());
    }
    Ok((!name.is_empty()).then(|| name.to_string()))
}

/// Checks an optional IANA time zone name (e.g. "Europe/London") and returns its
/// canonical spelling.
pub fn clean_time_zone(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    raw.parse::<chrono_tz::Tz>()
        .map(|tz| tz.name().to_string())
        .map_err(|_| format!("{raw:?} is not a time zone name like Europe/London"))
}

pub(crate) fn email_hash(app: &App, email: &EmailAddress) -> String {
    app.signer.fingerprint(&email.key())
}

/// A sign-up from the web form or the public JSON endpoint. Whatever the address's state,
/// the caller answers the same way; only what happens behind differs.
pub async fn signup(app: &App, email: &EmailAddress, name: Option<&str>) -> ServiceResult<()> {
    let now = app.now_ms();
    let existing = match app.store.subscriber_by_email(email).await? {
        Some(s) => s,
        None => {
            let new = NewSubscriber {
                email,
                name,
                status: SubscriberStatus::Pending,
                source: "web",
            };
            match app.store.insert_subscriber(&new, now).await {
                Ok(s) => {
                    tracing::info!(subscriber = s.id, "new sign-up");
                    return send_confirmation(app, &s).await;
                }
                // A concurrent request inserted the same address first: carry on with it.
                Err(StoreError::Conflict(_)) => app
                    .store
                    .subscriber_by_email(email)
                    .await?
                    .ok_or(StoreError::NotFound)?,
                Err(e) => return Err(e.into()),
            }
        }
    };
    rejoin(app, existing).await
}

/// The weekly round-up chosen on the sign-up form. Only a pending address changes: a
/// sign-up form must not change a confirmed reader's choice (that takes their own
/// preferences link).
pub async fn choose_weekly_at_signup(app: &App, email: &EmailAddress) -> ServiceResult<()> {
    let Some(s) = app.store.subscriber_by_email(email).await? else {
        return Ok(());
    };
    if s.status != SubscriberStatus::Pending || s.frequency == crate::domain::Frequency::Weekly {
        return Ok(());
    }
    let update = crate::store::subscribers::PreferencesUpdate {
        name: s.name.as_deref(),
        frequency: crate::domain::Frequency::Weekly,
        paused_until: s.paused_until,
    };
    app.store
        .update_preferences(s.id, &update, app.now_ms())
        .await?;
    Ok(())
}

/// The time zone the sign-up page's script read from the browser. Only a pending address
/// takes it (as with the weekly choice); a value that is not an IANA zone is ignored,
/// leaving the publication's zone.
pub async fn choose_zone_at_signup(
    app: &App,
    email: &EmailAddress,
    raw: &str,
) -> ServiceResult<()> {
    let Ok(zone) = clean_time_zone(raw) else {
        if !raw.trim().is_empty() {
            tracing::info!("sign-up with an unknown time zone; using the publication's");
        }
        return Ok(());
    };
    let Some(s) = app.store.subscriber_by_email(email).await? else {
        return Ok(());
    };
    if s.status != SubscriberStatus::Pending || s.time_zone.as_deref() == Some(zone.as_str()) {
        return Ok(());
    }
    app.store
        .set_subscriber_time_zone(s.id, Some(&zone))
        .await?;
    Ok(())
}

/// What a sign-up form chose besides the address: the weekly round-up, the zone.
#[derive(Debug, Clone, Default)]
pub struct SignupChoices {
    pub weekly: bool,
    pub time_zone: Option<String>,
}

/// Sign-ups worked on behind answered requests at once; beyond this many (a flood the
/// per-client limit did not stop) the request waits for its own, so work cannot pile up.
const BACKGROUND_SIGNUPS: usize = 32;
static SIGNUP_SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(BACKGROUND_SIGNUPS);

/// Starts [`signup`] for the public form and returns without waiting for it: what it does
/// (insert, resend, nothing) differs by the address's state, and the time it takes must not
/// tell a stranger which. Failures are logged, since the answer has gone.
/// `choices` (the round-up, the zone) are applied once the sign-up is stored.
pub async fn signup_after_answer(
    app: &App,
    email: EmailAddress,
    name: Option<String>,
    choices: SignupChoices,
) {
    let slot = match SIGNUP_SLOTS.try_acquire() {
        Ok(slot) => slot,
        Err(_) => match SIGNUP_SLOTS.acquire().await {
            Ok(slot) => slot,
            Err(_) => return,
        },
    };
    slot.forget();
    let app = app.clone();
    tokio::spawn(async move {
        let stored = signup(&app, &email, name.as_deref()).await;
        let chosen = match stored {
            Ok(()) if choices.weekly => choose_weekly_at_signup(&app, &email).await,
            other => other,
        };
        let chosen = match (chosen, choices.time_zone.as_deref()) {
            (Ok(()), Some(zone)) => choose_zone_at_signup(&app, &email, zone).await,
            (other, _) => other,
        };
        if let Err(e) = chosen {
            tracing::error!(error = %e, "sign-up failed");
        }
        SIGNUP_SLOTS.add_permits(1);
    });
}

/// Waits (up to `limit`) until no sign-up started by [`signup_after_answer`] is still
/// running in this process: for tests and for an orderly shutdown.
pub async fn signups_settled(limit: std::time::Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    while SIGNUP_SLOTS.available_permits() < BACKGROUND_SIGNUPS
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Someone already known signs up again: pending gets the link again (throttled), people
/// who left go back through double opt-in, confirmed and complained are left alone.
async fn rejoin(app: &App, s: Subscriber) -> ServiceResult<()> {
    match s.status {
        SubscriberStatus::Pending => send_confirmation(app, &s).await,
        SubscriberStatus::Unsubscribed | SubscriberStatus::Bounced => {
            let s = app
                .store
                .set_subscriber_status(s.id, SubscriberStatus::Pending, app.now_ms())
                .await?;
            tracing::info!(subscriber = s.id, "returning subscriber must confirm again");
            send_confirmation(app, &s).await
        }
        SubscriberStatus::Confirmed | SubscriberStatus::Complained => Ok(()),
    }
}

/// Queues the confirmation email unless one went out within the configured interval.
pub async fn send_confirmation(app: &App, s: &Subscriber) -> ServiceResult<()> {
    let now = app.now_ms();
    let interval = i64::from(app.config.subscribers.resend_confirmation_minutes) * 60_000;
    if !app
        .store
        .claim_confirmation_send(s.id, now, now - interval)
        .await?
    {
        tracing::debug!(
            subscriber = s.id,
            "confirmation recently sent; not resending"
        );
        return Ok(());
    }
    let job = confirmation_email(app, s, now).await;
    if let Err(e) = app.queue.push(job).await {
        app.store.release_confirmation_send(s.id).await?;
        return Err(ServiceError::Queue(e.to_string()));
    }
    Ok(())
}

async fn confirmation_email(app: &App, s: &Subscriber, now: i64) -> SendTransactional {
    let days = app.config.subscribers.confirm_token_days.max(1);
    let expires = now + Duration::days(i64::from(days)).num_milliseconds();
    let link = Links::new(app).confirm(s.id, expires);
    let look = app.look.fresh(app).await;
    let intro = look.copy.rendered(CopyKey::Confirmation, app);
    let m = confirmation_message(app, &look, &intro, link);
    let subject = format!(
        "Confirm your subscription to {}",
        app.config.newsletter.name
    );
    framing::job(s, subject, &m, CONFIRMATION_SENT)
}

/// The confirmation email around `intro` (the editable words): the fixed parts (the
/// button and its link, how long it works, "ignore this") are always added here. The
/// admin's preview builds it the same way.
pub fn confirmation_message(
    app: &App,
    look: &Look,
    intro: &Rendered,
    link: String,
) -> TransactionalEmail {
    let days = app.config.subscribers.confirm_token_days.max(1);
    TransactionalEmail {
        preheader: "One click and you are on the list.".into(),
        heading: "Confirm your subscription".into(),
        paragraphs: vec![format!(
            "Please confirm that this is your address. The link works for {days} {}.",
            if days == 1 { "day" } else { "days" }
        )],
        button: Some(("Confirm my subscription".into(), link)),
        footer_note:
            "If you did not ask for this, ignore this email and you will hear nothing more.".into(),
        ..framing::framed(app, look, Some(intro))
    }
}

/// List mail: the body's visible unsubscribe link and the `List-Unsubscribe` header are
/// one link, signed once here.
async fn welcome_email(app: &App, s: &Subscriber) -> SendTransactional {
    let look = app.look.fresh(app).await;
    let intro = look.copy.rendered(CopyKey::Welcome, app);
    let when = crate::archive::next_issue_sentence(app).await;
    let links = Links::new(app).personal(s.id);
    let m = welcome_message(
        app,
        &look,
        &intro,
        s.name.as_deref(),
        when,
        links.preferences,
        links.unsubscribe.clone(),
    );
    let subject = format!("Welcome to {}", app.config.newsletter.name);
    SendTransactional {
        list_subscriber_id: Some(s.id),
        unsubscribe_url: Some(links.unsubscribe),
        ..framing::job(s, subject, &m, "welcome sent")
    }
}

/// The welcome email around `intro`: when issues arrive, the preferences button and a
/// visible unsubscribe link are always added here, whatever the editable words say.
pub fn welcome_message(
    app: &App,
    look: &Look,
    intro: &Rendered,
    name: Option<&str>,
    next_issue: Option<String>,
    preferences: String,
    unsubscribe: String,
) -> TransactionalEmail {
    let greeting = match name {
        Some(n) => format!("Welcome, {n}!"),
        None => "Welcome!".into(),
    };
    let when = next_issue.unwrap_or_else(|| {
        "The next issue comes as soon as the editors send it; there is none scheduled just now."
            .into()
    });
    TransactionalEmail {
        preheader: "You are on the list.".into(),
        heading: greeting,
        paragraphs: vec![when],
        button: Some(("Manage my preferences".into(), preferences)),
        footer_note: "Every email we send has a one-click unsubscribe link.".into(),
        unsubscribe_url: Some(unsubscribe),
        ..framing::framed(app, look, Some(intro))
    }
}

pub fn preferences_url(app: &App, id: i64) -> String {
    Links::new(app).preferences(id)
}

pub fn preferences_token(app: &App, id: i64) -> String {
    Links::new(app).preferences_token(id)
}

pub use crate::links::preferences_expiry;

pub fn unsubscribe_token(app: &App, id: i64) -> String {
    Links::new(app).unsubscribe_token(id)
}

/// The subscriber a never-expiring link names, or why not.
async fn holder(app: &App, token: &str, purpose: Purpose) -> Result<Subscriber, ServiceError> {
    let id = match app.signer.verify(token, purpose, app.now_ms()) {
        Ok(id) => id,
        Err(TokenError::Expired { .. }) => {
            return Err(LinkError::Expired {
                token: token.to_string(),
            }
            .into());
        }
        Err(_) => return Err(LinkError::Invalid.into()),
    };
    load(app, id).await
}

async fn load(app: &App, id: i64) -> Result<Subscriber, ServiceError> {
    match app.store.subscriber(id).await {
        Ok(s) => Ok(s),
        Err(StoreError::NotFound) => Err(LinkError::Gone.into()),
        Err(e) => Err(e.into()),
    }
}

/// What confirming did, for the page.
#[derive(Debug)]
pub struct Confirmed {
    pub subscriber: Subscriber,
    /// False when the link had already been used: the page is just as friendly.
    pub newly: bool,
    /// True when the link had expired (the address was confirmed before): the page then
    /// hands out no preferences link.
    pub link_expired: bool,
}

/// What a confirmation link leads to, looked at without changing anything (link scanners
/// follow links; only a person's POST confirms).
#[derive(Debug)]
pub enum ConfirmStep {
    /// Pending: ask the person to press the button.
    Ask(Subscriber),
    /// Nothing left to do.
    Done(Confirmed),
}

/// Reads a confirmation link. Clicking it twice, or after it expired but once
/// confirmed, still lands on the confirmed page.
pub async fn confirm_step(app: &App, token: &str) -> ServiceResult<ConfirmStep> {
    let s = match holder(app, token, Purpose::Confirm).await {
        Ok(s) => s,
        Err(ServiceError::Link(LinkError::Expired { token })) => {
            let id = app
                .signer
                .verify(&token, Purpose::Confirm, 0)
                .map_err(|_| LinkError::Invalid)?;
            let s = load(app, id).await?;
            if s.status == SubscriberStatus::Confirmed {
                return Ok(ConfirmStep::Done(Confirmed {
                    subscriber: s,
                    newly: false,
                    link_expired: true,
                }));
            }
            return Err(LinkError::Expired { token }.into());
        }
        Err(e) => return Err(e),
    };
    match s.status {
        SubscriberStatus::Confirmed => Ok(ConfirmStep::Done(Confirmed {
            subscriber: s,
            newly: false,
            link_expired: false,
        })),
        SubscriberStatus::Pending => Ok(ConfirmStep::Ask(s)),
        _ => Err(LinkError::Stale.into()),
    }
}

/// Confirms the subscription a confirmation link names (the POST from the page
/// [`confirm_step`] led to).
pub async fn confirm(app: &App, token: &str) -> ServiceResult<Confirmed> {
    let s = match confirm_step(app, token).await? {
        ConfirmStep::Done(done) => return Ok(done),
        ConfirmStep::Ask(s) => s,
    };
    // Of several confirmations at once (double clicks, a scanner and a person), only the
    // one that made the change goes on to send the welcome.
    let changed = app
        .store
        .change_status_from(
            s.id,
            SubscriberStatus::Pending,
            SubscriberStatus::Confirmed,
            app.now_ms(),
        )
        .await?;
    let s = load(app, s.id).await?;
    if !changed {
        return match s.status {
            SubscriberStatus::Confirmed => Ok(Confirmed {
                subscriber: s,
                newly: false,
                link_expired: false,
            }),
            _ => Err(LinkError::Stale.into()),
        };
    }
    app.store
        .remove_suppression(&email_hash(app, &s.email))
        .await?;
    tracing::info!(subscriber = s.id, "subscription confirmed");
    if app.config.subscribers.send_welcome
        && let Err(e) = app.queue.push(welcome_email(app, &s).await).await
    {
        tracing::warn!(subscriber = s.id, error = %e, "could not queue the welcome email");
    }
    Ok(Confirmed {
        subscriber: s,
        newly: true,
        link_expired: false,
    })
}

/// Sends a fresh confirmation link for the subscriber an (expired) confirmation token
/// names. Answers the same whether or not anything was sent.
pub async fn resend_confirmation(app: &App, token: &str) -> ServiceResult<()> {
    let id = match app.signer.verify(token, Purpose::Confirm, app.now_ms()) {
        Ok(id) | Err(TokenError::Expired { subscriber_id: id }) => id,
        Err(_) => return Err(LinkError::Invalid.into()),
    };
    let s = load(app, id).await?;
    if s.status == SubscriberStatus::Pending {
        send_confirmation(app, &s).await?;
    }
    Ok(())
}

/// The subscriber behind an unsubscribe link, without changing anything (for the GET page).
pub async fn unsubscribe_target(app: &App, token: &str) -> ServiceResult<Subscriber> {
    holder(app, token, Purpose::Unsubscribe).await
}

/// Unsubscribes at once; idempotent, and a complaint stays a complaint.
pub async fn unsubscribe(app: &App, token: &str) -> ServiceResult<Subscriber> {
    let s = holder(app, token, Purpose::Unsubscribe).await?;
    match s.status {
        SubscriberStatus::Pending | SubscriberStatus::Confirmed | SubscriberStatus::Bounced => {
            let s = app
                .store
                .set_subscriber_status(s.id, SubscriberStatus::Unsubscribed, app.now_ms())
                .await?;
            tracing::info!(subscriber = s.id, "unsubscribed");
            Ok(s)
        }
        SubscriberStatus::Unsubscribed | SubscriberStatus::Complained => Ok(s),
    }
}

/// What a resubscribe did, for the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resubscribed {
    /// Back on the list now.
    Now,
    /// Already on the list; nothing changed.
    Already,
    /// A complaint is final: nothing changed, and the page says how to come back.
    Refused,
}

/// "I changed my mind" from the unsubscribe or preferences page. The link is signed and
/// was only ever mailed to this address, so following it proves the reader owns the
/// mailbox as well as a confirmation link would: the subscription is restored at once
/// (through `pending`, as the lifecycle requires) rather than by another email, which
/// the confirmation throttle would often swallow.
pub async fn resubscribe(app: &App, token: &str) -> ServiceResult<(Subscriber, Resubscribed)> {
    let s = holder(app, token, Purpose::Unsubscribe).await?;
    let now = app.now_ms();
    match s.status {
        SubscriberStatus::Confirmed => Ok((s, Resubscribed::Already)),
        SubscriberStatus::Complained => Ok((s, Resubscribed::Refused)),
        SubscriberStatus::Unsubscribed | SubscriberStatus::Bounced | SubscriberStatus::Pending => {
            app.store
                .set_subscriber_status(s.id, SubscriberStatus::Pending, now)
                .await?;
            let s = app
                .store
                .set_subscriber_status(s.id, SubscriberStatus::Confirmed, now)
                .await?;
            app.store
                .record_event(s.id, "resubscribed", Some("from a signed link"), now)
                .await?;
            tracing::info!(subscriber = s.id, "resubscribed from a signed link");
            Ok((s, Resubscribed::Now))
        }
    }
}

/// Everything the preferences page shows: the row and its history.
#[derive(Debug)]
pub struct Profile {
    pub subscriber: Subscriber,
    pub events: Vec<SubscriberEvent>,
    /// A new address waiting for its confirmation link to be followed.
    pub pending_address: Option<String>,
}

async fn profile_of(app: &App, subscriber: Subscriber) -> ServiceResult<Profile> {
    let events = app.store.subscriber_events(subscriber.id).await?;
    let pending_address = app.store.email_change(subscriber.id).await?.map(|(e, _)| e);
    Ok(Profile {
        subscriber,
        events,
        pending_address,
    })
}

pub async fn profile(app: &App, token: &str) -> ServiceResult<Profile> {
    let subscriber = holder(app, token, Purpose::Preferences).await?;
    profile_of(app, subscriber).await
}

/// A preferences form as submitted, before checking.
#[derive(Debug, Default, Clone)]
pub struct PreferencesInput {
    pub name: Option<String>,
    pub frequency: Option<String>,
    pub pause_days: Option<String>,
    /// An IANA zone; empty: the publication's; absent: unchanged.
    pub time_zone: Option<String>,
}

/// The zone a reader (or an operator for them) asked for: empty clears it (the
/// publication's zone applies), anything else must be an IANA name.
fn chosen_zone(raw: &str) -> ServiceResult<Option<String>> {
    match raw.trim() {
        "" => Ok(None),
        z => clean_time_zone(z).map(Some).map_err(ServiceError::Invalid),
    }
}

/// Every IANA zone name, for the preferences page's searchable list.
pub fn zone_names() -> Vec<String> {
    chrono_tz::TZ_VARIANTS
        .iter()
        .map(|z| z.name().to_string())
        .collect()
}

/// Sets a subscriber's zone by id (the API). A send already fanned out keeps the moment
/// it fixed for them (see [`crate::schedule::moments`]): they are sent once.
pub async fn set_time_zone(app: &App, id: i64, raw: Option<&str>) -> ServiceResult<Subscriber> {
    let zone = chosen_zone(raw.unwrap_or(""))?;
    app.store
        .set_subscriber_time_zone(id, zone.as_deref())
        .await?;
    Ok(app.store.subscriber(id).await?)
}

pub async fn update_preferences(
    app: &App,
    token: &str,
    input: &PreferencesInput,
) -> ServiceResult<Profile> {
    let s = holder(app, token, Purpose::Preferences).await?;
    let name = clean_name(input.name.as_deref()).map_err(ServiceError::Invalid)?;
    let frequency: Frequency = match input.frequency.as_deref().map(str::trim) {
        None | Some("") => s.frequency,
        Some(f) => f.parse().map_err(ServiceError::Invalid)?,
    };
    let now = app.now_ms();
    let paused_until = match input.pause_days.as_deref().map(str::trim) {
        None | Some("") => s.paused_until.filter(|&t| t > now),
        Some(d) => {
            let days: u32 = d.parse().map_err(|_| {
                ServiceError::Invalid(format!(
                    "pause for a whole number of days from 0 to {MAX_PAUSE_DAYS}"
                ))
            })?;
            if days > MAX_PAUSE_DAYS {
                return Err(ServiceError::Invalid(format!(
                    "a pause lasts at most {MAX_PAUSE_DAYS} days"
                )));
            }
            (days > 0).then(|| now + Duration::days(i64::from(days)).num_milliseconds())
        }
    };
    let update = PreferencesUpdate {
        name: name.as_deref(),
        frequency,
        paused_until,
    };
    let zone = match input.time_zone.as_deref() {
        None => s.time_zone.clone(),
        Some(raw) => chosen_zone(raw)?,
    };
    let mut subscriber = app.store.update_preferences(s.id, &update, now).await?;
    if zone != s.time_zone {
        app.store
            .set_subscriber_time_zone(s.id, zone.as_deref())
            .await?;
        subscriber.time_zone = zone;
    }
    profile_of(app, subscriber).await
}

/// "Delete everything about me": the row and history go, a hash of the address stays.
pub async fn erase(app: &App, token: &str) -> ServiceResult<()> {
    let s = holder(app, token, Purpose::Preferences).await?;
    erase_subscriber(app, &s, "erased at the subscriber's request").await
}

pub async fn erase_subscriber(app: &App, s: &Subscriber, reason: &str) -> ServiceResult<()> {
    app.store
        .erase_subscriber(s.id, &email_hash(app, &s.email), reason, app.now_ms())
        .await?;
    // Queued emails to them are cancelled, and finished ones (which keep the address and
    // whole messages with links) go too. A job already running re-checks the subscriber
    // before it sends (queue::jobs::send_transactional).
    let cancelled = app.store.delete_jobs_mentioning(&job_mentions(s)).await?;
    // Bounce reports kept unmatched quote the address (and the message) too.
    let reports = forget_reports_quoting(app, s.email.as_str()).await?;
    if !app.store.flush_erased_rows().await? {
        tracing::warn!(
            subscriber = s.id,
            "the database's write-ahead log was busy: the erased rows' old copies stay in it until the next checkpoint completes"
        );
    }
    tracing::info!(
        subscriber = s.id,
        jobs = cancelled,
        reports,
        "subscriber erased"
    );
    Ok(())
}

/// Kept bounce reports read per page when an erasure searches them.
const ERASURE_REPORT_PAGE: i64 = 200;

/// Every kept bounce report that quotes `address` (in any case, or inside an encoded part:
/// [`crate::bounces::parse::quotes_address`]) loses its text and is resolved. Returns how
/// many.
async fn forget_reports_quoting(app: &App, address: &str) -> ServiceResult<u64> {
    let (mut after, mut forgotten) = (0, 0);
    loop {
        let page = app
            .store
            .report_texts_after(after, ERASURE_REPORT_PAGE)
            .await?;
        let Some(&(last, _)) = page.last() else {
            return Ok(forgotten);
        };
        for (id, raw) in &page {
            if crate::bounces::parse::quotes_address(raw, address) {
                app.store.erase_report_text(*id, app.now_ms()).await?;
                forgotten += 1;
            }
        }
        after = last;
    }
}

/// Substrings that only a job for `s` has in its JSON payload: its address as the
/// recipient, and its id as the one the email is about.
fn job_mentions(s: &Subscriber) -> Vec<String> {
    let mut needles = vec![
        format!("\"event\":[{},", s.id),
        format!("\"list_subscriber_id\":{},", s.id),
    ];
    if let Ok(address) = serde_json::to_string(&s.email) {
        needles.push(format!("\"to\":{address}"));
    }
    needles
}

/// Adds a subscriber for an operator (API): confirmed directly, or pending with a
/// confirmation email. Erased addresses are refused: only the person can bring them back.
pub async fn create_by_operator(
    app: &App,
    email: &EmailAddress,
    name: Option<&str>,
    confirmed: bool,
) -> ServiceResult<Subscriber> {
    create_by_hand(app, email, name, confirmed, "api").await
}

/// [`create_by_operator`] with the source to record ("api", "admin").
pub async fn create_by_hand(
    app: &App,
    email: &EmailAddress,
    name: Option<&str>,
    confirmed: bool,
    source: &str,
) -> ServiceResult<Subscriber> {
    if app.store.is_suppressed(&email_hash(app, email)).await? {
        return Err(StoreError::Conflict(
            "this address asked to be erased; only a new sign-up by its owner can add it again"
                .into(),
        )
        .into());
    }
    let status = if confirmed {
        SubscriberStatus::Confirmed
    } else {
        SubscriberStatus::Pending
    };
    let s = app
        .store
        .insert_subscriber(
            &NewSubscriber {
                email,
                name,
                status,
                source,
            },
            app.now_ms(),
        )
        .await?;
    if !confirmed {
        send_confirmation(app, &s).await?;
    }
    Ok(s)
}

/// The statuses an editor may set by hand: the lifecycle's legal moves, except back to
/// `pending`. Pending means "we asked them to confirm", which only a sign-up or a
/// confirmation email makes true; an editor uses "resend the confirmation" for that.
pub fn editor_moves(from: SubscriberStatus) -> Vec<SubscriberStatus> {
    SubscriberStatus::ALL
        .into_iter()
        .filter(|&to| to != from && to != SubscriberStatus::Pending && from.can_become(to))
        .collect()
}

/// Unsubscribes for an operator (API), by id.
pub async fn unsubscribe_by_id(app: &App, id: i64) -> ServiceResult<Subscriber> {
    let token = unsubscribe_token(app, id);
    match unsubscribe(app, &token).await {
        Err(ServiceError::Link(LinkError::Gone)) => Err(StoreError::NotFound.into()),
        other => other,
    }
}
