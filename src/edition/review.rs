//! Approval mode: an issue is composed ahead of its send time, every editor is asked to
//! review it, and the scheduler sends it only once one of them has approved it. An
//! issue not approved by its send time is held (visible on the schedule and the
//! dashboard) and an editor can still send it late.

use chrono::{Duration, NaiveDate};

use super::{Outcome, Prepared, Which, prefetch, prepare, resolve};
use crate::{
    app::App,
    domain::EmailAddress,
    queue::jobs::SendTransactional,
    store::{
        StoreError,
        digests::{Digest, DigestStatus, EditionKind},
    },
};

/// How long after finding nothing to review the lead-time compose tries again.
const RETRY_MS: i64 = 5 * 60 * 1000;

/// At the lead time before a scheduled send: fetches the feeds, composes the issue and
/// asks the editors to review it (once per issue). Returns whether a request went out.
pub async fn compose_for_review(
    app: &App,
    date: NaiveDate,
    kind: EditionKind,
    due: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<bool> {
    let digest = resolve(app, Which::Scheduled { date, kind }).await?;
    if digest.status.is_out() || digest.review_sent_at.is_some() {
        return Ok(false);
    }
    // Nothing to review yet: try again a few minutes later, not on every tick (each try
    // fetches every feed).
    if digest.status == DigestStatus::Skipped && app.now_ms() - digest.updated_at < RETRY_MS {
        return Ok(false);
    }
    prefetch(app).await;
    match prepare(app, &digest).await? {
        Prepared::Ready(id) => {
            let digest = app.store.digest(id).await?;
            request_review(app, &digest, due).await
        }
        Prepared::NothingToSend(_) | Prepared::AlreadyOut(_) => Ok(false),
    }
}

/// Emails every editor a link to the issue, once (the store's guard decides which
/// process sends it).
pub async fn request_review(
    app: &App,
    digest: &Digest,
    due: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<bool> {
    if !app.store.mark_review_sent(digest.id, app.now_ms()).await? {
        return Ok(false);
    }
    let zone = super::zone(app).await;
    let request = templates::email::digest::ReviewRequest {
        publication: app.config.newsletter.name.clone(),
        edition_label: edition_label(digest),
        subject: digest.subject.clone().unwrap_or_default(),
        send_at: due.with_timezone(&zone).format("%H:%M %Z").to_string(),
        review_url: app.url(&format!("/admin?digest={}", digest.id)),
    };
    let (subject, html, text) = templates::email::digest::render_review_request(&request);
    let mut asked = 0;
    for user in app.store.list_admin_users().await? {
        if user.role != crate::store::users::AdminRole::Editor {
            continue;
        }
        let Ok(to) = EmailAddress::parse(&user.email) else {
            tracing::warn!(
                admin = user.id,
                "an editor's address cannot receive mail; no review request"
            );
            continue;
        };
        app.queue
            .push(SendTransactional {
                to,
                to_name: None,
                subject: subject.clone(),
                html: html.clone(),
                text: text.clone(),
                list_subscriber_id: None,
                unsubscribe_url: None,
                event: None,
            })
            .await?;
        asked += 1;
    }
    tracing::info!(digest = digest.id, editors = asked, "review requested");
    Ok(true)
}

/// The send time came and no editor approved the issue: it is recorded as held (with
/// its history event), and the editors are asked if they were not yet.
pub async fn hold(app: &App, digest: &Digest) -> anyhow::Result<Outcome> {
    let now = app.now_ms();
    app.store
        .transition_digest(
            digest.id,
            &[DigestStatus::Composed],
            DigestStatus::Held,
            "held",
            Some("not approved by the send time"),
            now,
        )
        .await?;
    request_review(app, digest, app.clock.now()).await?;
    tracing::warn!(digest = digest.id, date = %digest.issue_date, "issue held: not approved by the send time");
    Ok(Outcome::Held {
        digest_id: digest.id,
    })
}

/// An editor approves an issue. Refused, with the reason and nothing changed, when it
/// is already sending or sent, not composed, or already approved.
pub async fn approve(app: &App, digest_id: i64, editor_id: i64) -> anyhow::Result<()> {
    match app
        .store
        .approve_digest(digest_id, editor_id, app.now_ms())
        .await
    {
        Ok(()) => {
            tracing::info!(digest = digest_id, admin = editor_id, "issue approved");
            Ok(())
        }
        Err(StoreError::Conflict(why)) => anyhow::bail!("not approved: {why}"),
        Err(StoreError::NotFound) => anyhow::bail!("there is no digest {digest_id}"),
        Err(e) => Err(e.into()),
    }
}

/// "Tuesday 1 December 2026", with the edition when it is not the daily issue.
pub fn edition_label(d: &Digest) -> String {
    let date = d.issue_date.format("%A %-d %B %Y");
    match d.kind {
        EditionKind::Daily => date.to_string(),
        EditionKind::Weekly => format!("the week to {date}"),
        EditionKind::Special => format!("{date}, special edition {}", d.edition_no),
    }
}

/// How long before the send time an issue is composed for review.
pub fn lead(app: &App) -> Duration {
    Duration::minutes(i64::from(app.config.schedule.approval_lead_minutes))
}
