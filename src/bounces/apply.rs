//! From a read report to a stored outcome: match it to a delivery, apply the rules, keep
//! what cannot be matched, and pause the schedule when an issue's rates pass the limits.

use crate::{
    app::App,
    domain::{EmailAddress, SubscriberStatus},
    queue::jobs::SendTransactional,
    store::{
        StoreError,
        bounces::{Applied, BouncePolicy, BounceRecord},
    },
};

use super::{
    parse::{self, Finding, Kind, Parsed},
    providers::ProviderEvent,
    verp::{self, BounceRef},
};

/// What became of one report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    Applied {
        subscriber_id: i64,
        kind: Kind,
        became: Option<SubscriberStatus>,
    },
    /// Applied before, by this process or another.
    Duplicate,
    /// A genuine report that changes nothing (a "delayed" DSN).
    NoAction(String),
    /// Kept in the unmatched table with this reason.
    Unmatched(String),
}

/// Where a report came from: `mailbox` or `webhook:PROVIDER`.
pub struct Source<'a> {
    pub name: &'a str,
    pub key: String,
    /// Set when re-processing a stored report.
    pub resolves_unmatched: Option<i64>,
}

/// Handles one message from the bounce mailbox. Only a verified VERP token matches a
/// mailbox report to a subscriber: anybody can send mail to the bounce address.
pub async fn handle_message(app: &App, src: Source<'_>, raw: &[u8]) -> anyhow::Result<Handled> {
    let max = app.config.bounces.max_message_bytes.max(1024);
    if raw.len() > max {
        let why = format!(
            "message of {} bytes is larger than bounces.max_message_bytes ({max}); its headers are kept",
            raw.len()
        );
        return unmatched(app, &src, &why, headers_only(raw)).await;
    }
    let finding = match parse::parse(raw) {
        Ok(Parsed::Finding(f)) => f,
        Ok(Parsed::NoAction(why)) => return no_action(app, &src, why).await,
        Err(e) => return unmatched(app, &src, &e.to_string(), raw).await,
    };
    let text = String::from_utf8_lossy(raw);
    let Some(r) = verp::find_ref(&text, &app.config.bounces.local_part, &app.signer) else {
        let why = "no valid bounce token: not about mail we sent, or the token was altered";
        return unmatched(app, &src, why, raw).await;
    };
    // Erasure deletes the subscriber's ledger rows too: ask about the subscriber first, so
    // the reason kept says "erased" and not "never sent".
    if !subscriber_exists(app, r.subscriber_id()).await? {
        return unmatched(app, &src, ERASED, crate::store::bounces::ERASED_TEXT).await;
    }
    if let Some(digest_id) = r.digest_id()
        && !app
            .store
            .delivery_exists(digest_id, r.subscriber_id())
            .await?
    {
        let why = format!("digest {digest_id} was never sent to this subscriber");
        return unmatched(app, &src, &why, raw).await;
    }
    apply(app, &src, r, &finding).await
}

/// Handles one authenticated provider event. The provider vouches for the recipient, so
/// an event without our token is matched by address to the subscriber's latest digest.
pub async fn handle_event(
    app: &App,
    provider: &str,
    event: &ProviderEvent,
) -> anyhow::Result<Handled> {
    let name = format!("webhook:{provider}");
    let src = Source {
        name: &name,
        key: format!("{provider}:{}", event.key),
        resolves_unmatched: None,
    };
    match_event(app, &src, event).await
}

/// Why a report naming a subscriber who is gone is kept.
const ERASED: &str = "the subscriber it names no longer exists (erased)";

async fn subscriber_exists(app: &App, id: i64) -> anyhow::Result<bool> {
    match app.store.subscriber(id).await {
        Ok(_) => Ok(true),
        Err(StoreError::NotFound) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// How a provider event is kept when it cannot be matched: what [`event_from_stored`]
/// reads back when it is re-processed.
fn stored_event(event: &ProviderEvent) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec(&serde_json::json!({
        "recipient": event.recipient, "kind": event.kind.as_str(),
        "status": event.status, "detail": event.detail, "echoed": event.echoed,
    }))
}

fn event_from_stored(key: &str, raw: &[u8]) -> Option<ProviderEvent> {
    let v: serde_json::Value = serde_json::from_slice(raw).ok()?;
    let text = |k: &str| {
        v.get(k)
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
    };
    Some(ProviderEvent {
        key: key.to_string(),
        kind: Kind::from_name(&text("kind")?)?,
        recipient: text("recipient").unwrap_or_default(),
        status: text("status"),
        detail: text("detail").unwrap_or_default(),
        echoed: text("echoed").unwrap_or_default(),
    })
}

async fn match_event(
    app: &App,
    src: &Source<'_>,
    event: &ProviderEvent,
) -> anyhow::Result<Handled> {
    let raw = stored_event(event)?;
    let finding = Finding {
        kind: event.kind,
        recipient: Some(event.recipient.clone()),
        status: event.status.clone(),
        detail: crate::ops::redact_addresses(&event.detail)
            .chars()
            .take(300)
            .collect(),
    };
    let by_token = verp::find_ref(&event.echoed, &app.config.bounces.local_part, &app.signer);
    let r = match by_token {
        Some(r) => Some(r),
        None => match EmailAddress::parse(&event.recipient) {
            Ok(email) => match app.store.subscriber_by_email(&email).await? {
                Some(s) => Some(match app.store.latest_sent_digest_for(s.id).await? {
                    Some(digest_id) => BounceRef::Delivery {
                        digest_id,
                        subscriber_id: s.id,
                    },
                    None => BounceRef::Subscriber {
                        subscriber_id: s.id,
                    },
                }),
                None => {
                    let hash = crate::subscribers::email_hash(app, &email);
                    if app.store.is_suppressed(&hash).await? {
                        // An erased subscriber's address is kept only as a hash: the
                        // stored event does not bring it back.
                        let mut gone = event.clone();
                        gone.recipient = "[suppressed address]".into();
                        gone.detail = crate::ops::redact_addresses(&gone.detail);
                        gone.echoed = String::new();
                        let why = "the recipient is not a subscriber; the address is on the \
                                   suppression list (erased or suppressed), so it is not kept";
                        return unmatched(app, src, why, &stored_event(&gone)?).await;
                    }
                    None
                }
            },
            Err(_) => None,
        },
    };
    let Some(r) = r else {
        return unmatched(app, src, "the recipient is not a subscriber", &raw).await;
    };
    apply(app, src, r, &finding).await
}

async fn apply(
    app: &App,
    src: &Source<'_>,
    r: BounceRef,
    finding: &Finding,
) -> anyhow::Result<Handled> {
    let subscriber = match app.store.subscriber(r.subscriber_id()).await {
        Ok(s) => s,
        Err(StoreError::NotFound) => {
            return unmatched(app, src, ERASED, crate::store::bounces::ERASED_TEXT).await;
        }
        Err(e) => return Err(e.into()),
    };
    let now = app.now_ms();
    let b = &app.config.bounces;
    let policy = BouncePolicy {
        hard_threshold: i64::from(app.config.subscribers.bounce_threshold.max(1)),
        soft_limit: i64::from(b.soft_bounce_limit.max(1)),
        soft_since: now - i64::from(b.soft_bounce_days) * 86_400_000,
    };
    let email_hash = crate::subscribers::email_hash(app, &subscriber.email);
    let key = match src.resolves_unmatched {
        Some(id) => format!("reprocessed:{id}"),
        None => src.key.clone(),
    };
    let record = BounceRecord {
        source_key: &key,
        source: src.name,
        subscriber_id: subscriber.id,
        digest_id: r.digest_id(),
        kind: finding.kind.as_str(),
        status_code: finding.status.as_deref(),
        detail: &finding.detail,
        email_hash: &email_hash,
        resolves_unmatched: src.resolves_unmatched,
        now,
    };
    match app.store.apply_bounce(&record, policy).await? {
        Applied::Duplicate => {
            tracing::debug!(source = src.name, "bounce report already applied");
            Ok(Handled::Duplicate)
        }
        Applied::Recorded { became } => {
            metrics::counter!(crate::bounces::METRIC_EVENTS, "kind" => finding.kind.as_str())
                .increment(1);
            tracing::info!(
                source = src.name,
                subscriber = subscriber.id,
                digest = ?r.digest_id(),
                kind = finding.kind.as_str(),
                status = ?finding.status,
                became = ?became.map(|s| s.as_str()),
                "bounce report applied"
            );
            if let Some(digest_id) = r.digest_id() {
                check_rates(app, digest_id).await?;
            }
            Ok(Handled::Applied {
                subscriber_id: subscriber.id,
                kind: finding.kind,
                became,
            })
        }
    }
}

async fn no_action(app: &App, src: &Source<'_>, why: String) -> anyhow::Result<Handled> {
    match src.resolves_unmatched {
        Some(id) => {
            app.store
                .note_unmatched(id, &format!("no action needed: {why}"), Some(app.now_ms()))
                .await?
        }
        None => {
            app.store
                .mark_bounce_processed(&src.key, &format!("no action: {why}"), app.now_ms())
                .await?;
        }
    }
    tracing::info!(source = src.name, reason = %why, "report needs no action");
    Ok(Handled::NoAction(why))
}

async fn unmatched(app: &App, src: &Source<'_>, why: &str, raw: &[u8]) -> anyhow::Result<Handled> {
    tracing::warn!(
        source = src.name,
        reason = why,
        "bounce report kept as unmatched"
    );
    match src.resolves_unmatched {
        Some(id) => app.store.note_unmatched(id, why, None).await?,
        None => {
            if !app
                .store
                .store_unmatched(src.name, &src.key, why, raw, app.now_ms())
                .await?
            {
                return Ok(Handled::Duplicate);
            }
            metrics::counter!(crate::bounces::METRIC_UNMATCHED).increment(1);
        }
    }
    Ok(Handled::Unmatched(why.to_string()))
}

/// Keeps a message that is not read at all (too large) as an unmatched report.
pub async fn keep_unreadable(
    app: &App,
    src: &Source<'_>,
    why: &str,
    raw: &[u8],
) -> anyhow::Result<Handled> {
    unmatched(app, src, why, raw).await
}

/// The header block of a message (up to the first blank line), at most 64 KiB.
fn headers_only(raw: &[u8]) -> &[u8] {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n"))
        .unwrap_or(raw.len());
    &raw[..end.min(64 * 1024)]
}

/// The `source_key` prefix of a whole webhook body kept because it could not be read.
/// Single unmatched events are kept under `PROVIDER:EVENT-ID`; provider names never
/// start with `body`, so the two cannot be confused.
const BODY_KEY_PREFIX: &str = "body:";

/// Keeps a webhook body whose signature verified but which cannot be read as the provider
/// documents it (a changed payload shape, an event type we do not know yet), with the
/// reason, so that an operator sees it and can re-process it once Breakfast reads it.
/// Its key is the body's hash: the provider retrying the same body stores it once. False
/// when that body was kept (or handled) before. Only verified bodies may come here — the
/// signature is not checked again when the body is re-read.
pub async fn keep_unreadable_webhook(
    app: &App,
    provider: &str,
    why: &str,
    body: &[u8],
) -> anyhow::Result<bool> {
    use sha2::{Digest, Sha256};
    let name = format!("webhook:{provider}");
    let src = Source {
        name: &name,
        key: format!(
            "{BODY_KEY_PREFIX}{provider}:{}",
            hex::encode(Sha256::digest(body))
        ),
        resolves_unmatched: None,
    };
    let why = format!("the body cannot be read: {why}");
    Ok(matches!(
        unmatched(app, &src, &why, body).await?,
        Handled::Unmatched(_)
    ))
}

/// Re-reads a stored unmatched report (after a fix, or once its subscriber exists).
///
/// A mailbox message is read again from the start. A provider event is matched again
/// (its signature was checked when it arrived). A whole webhook body that could not be
/// read is run through its provider's parser again; each event in it is then handled as
/// if it had just arrived (an event the provider has since re-sent and we applied is a
/// duplicate), events that still match nobody are kept as reports of their own, and the
/// body's report is resolved.
pub async fn reprocess(app: &App, id: i64) -> anyhow::Result<Handled> {
    let report = app.store.unmatched_report(id).await?;
    if report.resolved_at.is_some() {
        return Ok(Handled::Duplicate);
    }
    if let Some(provider) = report.source.strip_prefix("webhook:") {
        let src = Source {
            name: &report.source,
            key: report.source_key.clone(),
            resolves_unmatched: Some(id),
        };
        if report.source_key.starts_with(BODY_KEY_PREFIX) {
            return reread_webhook_body(app, id, provider, &report.raw).await;
        }
        let event_key = report
            .source_key
            .strip_prefix(&format!("{provider}:"))
            .unwrap_or(&report.source_key);
        let Some(event) = event_from_stored(event_key, &report.raw) else {
            let why = "the stored event cannot be read back";
            app.store.note_unmatched(id, why, None).await?;
            return Ok(Handled::Unmatched(why.into()));
        };
        return match_event(app, &src, &event).await;
    }
    let src = Source {
        name: "reprocess",
        key: report.source_key.clone(),
        resolves_unmatched: Some(id),
    };
    handle_message(app, src, &report.raw).await
}

async fn reread_webhook_body(
    app: &App,
    id: i64,
    provider: &str,
    body: &[u8],
) -> anyhow::Result<Handled> {
    let events = match super::providers::events_of(provider, body) {
        Ok(events) => events,
        Err(e) => {
            let why = format!("the body cannot be read: {e}");
            app.store.note_unmatched(id, &why, None).await?;
            tracing::warn!(report = id, provider, reason = %e, "stored webhook body still unreadable");
            return Ok(Handled::Unmatched(why));
        }
    };
    let (mut first_applied, mut duplicates, mut unmatched, mut no_action) = (None, 0, 0, 0);
    let mut applied = 0;
    for event in &events {
        match handle_event(app, provider, event).await? {
            a @ Handled::Applied { .. } => {
                applied += 1;
                first_applied.get_or_insert(a);
            }
            Handled::Duplicate => duplicates += 1,
            Handled::Unmatched(_) => unmatched += 1,
            Handled::NoAction(_) => no_action += 1,
        }
    }
    let summary = format!(
        "re-read: {} event(s); applied {applied}, duplicates {duplicates}, \
         unmatched {unmatched} (kept as reports of their own), no action {no_action}",
        events.len()
    );
    app.store
        .note_unmatched(id, &summary, Some(app.now_ms()))
        .await?;
    tracing::info!(report = id, provider, %summary, "stored webhook body re-read");
    Ok(match first_applied {
        Some(a) => a,
        None if unmatched > 0 => Handled::Unmatched(summary),
        None if duplicates > 0 && no_action == 0 => Handled::Duplicate,
        None => Handled::NoAction(summary),
    })
}

/// Pauses the schedule and tells every operator, once per issue, when its complaint or
/// hard-bounce rate passes the configured limit (after enough messages to mean something).
async fn check_rates(app: &App, digest_id: i64) -> anyhow::Result<()> {
    let counts = app.store.digest_bounce_counts(digest_id).await?;
    let limits = super::Thresholds::from_config(&app.config.bounces);
    let Some(reason) = limits.pause_reason(&counts) else {
        return Ok(());
    };
    if !app
        .store
        .insert_bounce_alert(digest_id, &reason, app.now_ms())
        .await?
    {
        return Ok(());
    }
    if let Some(schedule_id) = app.store.daily_schedule_id().await? {
        app.store
            .set_schedule_paused(schedule_id, true, app.now_ms())
            .await?;
    }
    tracing::warn!(digest = digest_id, reason = %reason, "schedule paused: an issue passed a bounce or complaint limit");
    email_operators(app, digest_id, &reason).await
}

async fn email_operators(app: &App, digest_id: i64, reason: &str) -> anyhow::Result<()> {
    use templates::email::transactional::{
        TransactionalEmail, render_transactional_html, render_transactional_text,
    };
    let newsletter = &app.config.newsletter;
    let m = TransactionalEmail {
        publication: newsletter.name.clone(),
        preheader: "The daily schedule is paused.".into(),
        heading: "Sending paused".into(),
        paragraphs: vec![
            format!("Issue {digest_id}: {reason}."),
            "The daily schedule has paused itself so that no further issue goes out until \
             someone has looked. Bulk senders should keep complaints under 0.1 % and never \
             reach 0.3 %. See `breakfast digest status ID --failed` for who failed and why, \
             then resume the schedule in the admin."
                .into(),
        ],
        button: Some(("Open the schedule".into(), app.url("/admin/schedule"))),
        footer_note: "You get this because you are an operator of this Breakfast.".into(),
        postal_address: newsletter.postal_address.clone(),
        unsubscribe_url: None,
        ..Default::default()
    };
    for user in app.store.list_admin_users().await? {
        if !user.role.can_operate() {
            continue;
        }
        let Ok(to) = EmailAddress::parse(&user.email) else {
            continue;
        };
        app.queue
            .push(SendTransactional {
                to,
                to_name: None,
                subject: format!("{}: sending paused", newsletter.name),
                html: render_transactional_html(&m),
                text: render_transactional_text(&m),
                list_subscriber_id: None,
                unsubscribe_url: None,
                event: None,
            })
            .await?;
    }
    Ok(())
}
