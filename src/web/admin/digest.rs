//! Today's digest: the articles, the editor's note and subject, preview, test and send.
//!
//! Every change re-composes the digest, so the article list, the preview, the test and
//! the send all show exactly what subscribers would get.

use std::collections::HashMap;

use axum::{
    extract::{Path, Query, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::NaiveDate;
use serde::Deserialize;
use templates::admin::{DigestArticle, DigestView};

use super::{Fields, flash_for, html_page, meta, nav, see_other};
use crate::{
    app::App,
    digest::{Personaliser, section_of},
    domain::EmailAddress,
    edition::{self, By, Outcome, Which, review, test_copy},
    queue::jobs::SendTransactional,
    schedule::runner,
    store::{
        StoreError,
        digests::{Digest, DigestPick, DigestStatus},
        schedules::ScheduleMode,
    },
    web::auth::{PageError, RequireEditor, RequireOperator, no_store},
};

#[derive(Deserialize, Default)]
pub struct DayQuery {
    date: Option<String>,
    /// A particular edition (a special or weekly one, or the link in a review email).
    digest: Option<i64>,
    /// The next weekly edition, to preview and review ahead of its day.
    weekly: Option<String>,
    msg: Option<String>,
}

/// `/admin`: today's digest for editors; a short landing page for operators.
pub async fn today(
    State(app): State<App>,
    RequireOperator(user): RequireOperator,
    Query(q): Query<DayQuery>,
) -> Result<Response, PageError> {
    let flash = flash_for(q.msg.as_deref());
    if !user.is_editor() {
        return Ok(html_page(templates::admin::operator_home(
            &meta(&app, "Admin", flash),
            &nav(&user, "/admin"),
        )));
    }
    let internal = |e: anyhow::Error| PageError::internal(&app, e);
    let digest = if q.weekly.is_some() {
        next_weekly(&app).await.map_err(internal)?
    } else if let Some(id) = q.digest {
        match app.store.digest(id).await {
            Ok(d) => d,
            Err(StoreError::NotFound) => return Err(PageError::not_found(&app, "digest")),
            Err(e) => return Err(PageError::internal(&app, e)),
        }
    } else {
        let date = match q.date.as_deref().map(str::parse::<NaiveDate>) {
            Some(Ok(d)) => d,
            Some(Err(_)) => {
                return Err(PageError::new(
                    &app,
                    StatusCode::BAD_REQUEST,
                    "Not a date",
                    "Dates look like 2026-11-28.",
                ));
            }
            None => edition::today(&app).await,
        };
        app.store
            .get_or_create_digest(date, app.now_ms())
            .await
            .map_err(|e| PageError::internal(&app, e))?
    };
    let view = digest_view(&app, digest, &user.csrf)
        .await
        .map_err(internal)?;
    Ok(html_page(templates::admin::digest_page(
        &meta(&app, "Today's digest", flash),
        &nav(&user, "/admin"),
        &view,
    )))
}

/// The weekly edition of the next weekly day (created as a draft to preview).
async fn next_weekly(app: &App) -> anyhow::Result<Digest> {
    let daily = runner::daily_schedule(app).await?;
    let rule = runner::weekly_rule_of(app, &daily).map_err(|e| anyhow::anyhow!(e))?;
    let now = app.clock.now();
    // Today's weekly edition, until it has gone out; then next week's.
    let today = edition::today(app).await;
    let date = match app
        .store
        .edition_for_date(today, crate::store::digests::EditionKind::Weekly)
        .await?
    {
        Some(d) if !d.status.is_out() => today,
        _ if rule.fire_on(today).is_some_and(|at| at.instant() > now) => today,
        _ => rule
            .next_fires(now, 1)
            .first()
            .map(|(d, _)| *d)
            .unwrap_or(today),
    };
    Ok(app
        .store
        .get_or_create_edition(
            date,
            crate::store::digests::EditionKind::Weekly,
            app.now_ms(),
        )
        .await?)
}

/// Composes (unless it has gone out or was approved) and gathers what the page shows.
async fn digest_view(app: &App, digest: Digest, csrf: &str) -> anyhow::Result<DigestView> {
    let mut digest = digest;
    let mut problem = None;
    if !digest.status.is_out() {
        if let Err(e) = edition::prepare(app, &digest).await {
            tracing::warn!(digest = digest.id, error = %format!("{e:#}"), "compose for the admin failed");
            problem = Some(format!("The digest could not be composed: {e:#}"));
        }
        digest = app.store.digest(digest.id).await?;
    }
    if digest.status == DigestStatus::Skipped && problem.is_none() {
        problem = Some(
            "There is nothing to send for this issue: no articles and no editor's note (nothing \
             new came in, or every article was dropped). Restore an article, write a note, or \
             wait for the feeds."
                .into(),
        );
    }
    let today = edition::today(app).await;
    let date = digest.issue_date;
    let articles = article_rows(app, &digest).await?;
    let recipients = edition::audience(app, digest.kind).await?;
    let subject = digest
        .subject
        .clone()
        .unwrap_or_else(|| crate::digest::subject_for(app, digest.kind, digest.edition_no, date));
    let mode = runner::daily_schedule(app).await?.mode;
    let todays_out = app
        .store
        .digest_for_date(today)
        .await?
        .is_some_and(|d| d.status.is_out());
    let awaiting = app
        .store
        .digests_awaiting_approval()
        .await?
        .into_iter()
        .filter(|d| d.id != digest.id)
        .map(|d| {
            (
                format!("/admin?digest={}", d.id),
                format!("{} — {}", review::edition_label(&d), d.status.as_str()),
            )
        })
        .collect();
    Ok(DigestView {
        id: digest.id,
        date_label: review::edition_label(&digest),
        date: date.to_string(),
        status: describe_status(&digest),
        editable: !digest.status.is_out(),
        sendable: DigestStatus::SENDABLE.contains(&digest.status) && date <= today,
        not_yet: (date > today && !digest.status.is_out()).then(|| {
            format!(
                "This issue goes out on {} by the schedule; it cannot be sent before its day.",
                date.format("%A %-d %B")
            )
        }),
        can_approve: mode == ScheduleMode::Approval
            && matches!(digest.status, DigestStatus::Composed | DigestStatus::Held),
        offer_special: todays_out && date == today,
        audience: audience_label(digest.kind).into(),
        readers_line: format!(
            "{} daily and {} weekly subscribers (confirmed, not paused).",
            edition::audience(app, crate::store::digests::EditionKind::Daily).await?,
            edition::audience(app, crate::store::digests::EditionKind::Weekly).await?
        ),
        awaiting,
        subject,
        subject_override: digest.subject_override.clone().unwrap_or_default(),
        editor_note: digest.editor_note.clone(),
        articles,
        problem,
        recipients,
        csrf: csrf.into(),
        schedule_line: schedule_line(app).await,
        zones: crate::delivery::progress::zone_rows(app, digest.id).await?,
    })
}

/// Who an edition goes to, in the editor's words.
fn audience_label(kind: crate::store::digests::EditionKind) -> &'static str {
    match kind {
        crate::store::digests::EditionKind::Weekly => "weekly",
        _ => "daily",
    }
}

fn describe_status(d: &Digest) -> String {
    match d.status {
        DigestStatus::Draft => "draft, not composed yet".into(),
        DigestStatus::Composed if d.review_sent_at.is_some() => {
            "ready, waiting for an editor's approval".into()
        }
        DigestStatus::Composed => "ready, not sent".into(),
        DigestStatus::Held => {
            "held: not approved by its send time — approve it or send it now".into()
        }
        DigestStatus::Approved => "approved: goes out at the scheduled time".into(),
        DigestStatus::Sending => "sending now".into(),
        DigestStatus::Sent => "sent".into(),
        DigestStatus::Skipped => "skipped: nothing to send".into(),
        DigestStatus::Cancelled => "cancelled".into(),
    }
}

async fn schedule_line(app: &App) -> String {
    let Ok(daily) = runner::daily_schedule(app).await else {
        return String::new();
    };
    if daily.paused {
        return "The daily schedule is paused.".into();
    }
    let Ok(rule) = runner::rule_of(&daily) else {
        return "The daily schedule needs fixing.".into();
    };
    match rule.next_fires(app.clock.now(), 1).first() {
        Some((_, at)) => format!(
            "Next scheduled send: {}.",
            at.instant()
                .with_timezone(&rule.zone)
                .format("%A %-d %B, %H:%M %Z")
        ),
        None => "No send is scheduled.".into(),
    }
}

/// The composed order, then the dropped articles so they can be put back.
async fn article_rows(app: &App, digest: &Digest) -> anyhow::Result<Vec<DigestArticle>> {
    let picks = app.store.digest_picks(digest.id).await?;
    let pick_of: HashMap<i64, DigestPick> = picks.iter().map(|p| (p.article_id, *p)).collect();
    let mut ids = digest.article_ids.clone();
    ids.extend(
        picks
            .iter()
            .filter(|p| p.dropped && !digest.article_ids.contains(&p.article_id))
            .map(|p| p.article_id),
    );
    let mut by_id: HashMap<i64, crate::store::articles::Article> = app
        .store
        .articles_by_ids(&ids)
        .await?
        .into_iter()
        .map(|a| (a.id, a))
        .collect();
    let feeds: HashMap<i64, String> = app
        .store
        .feeds()
        .await?
        .into_iter()
        .map(|f| (f.id, f.name))
        .collect();
    Ok(ids
        .iter()
        .filter_map(|id| by_id.remove(id))
        .map(|a| {
            let pick = pick_of.get(&a.id);
            let feed = feeds.get(&a.feed_id).cloned().unwrap_or_default();
            DigestArticle {
                id: a.id,
                // The section exactly as the email shows it.
                source: format!("{} · {feed}", section_of(&a, &app.config.digest)),
                title: a.title,
                link: a.link,
                pinned: pick.is_some_and(|p| p.pinned),
                dropped: pick.is_some_and(|p| p.dropped),
            }
        })
        .collect())
}

async fn editable_digest(app: &App, id: i64) -> Result<Digest, PageError> {
    let digest = match app.store.digest(id).await {
        Ok(d) => d,
        Err(StoreError::NotFound) => return Err(PageError::not_found(app, "digest")),
        Err(e) => return Err(PageError::internal(app, e)),
    };
    if digest.status.is_out() {
        return Err(already_sent(app, &digest));
    }
    Ok(digest)
}

fn already_sent(app: &App, d: &Digest) -> PageError {
    PageError::new(
        app,
        StatusCode::CONFLICT,
        "This digest has already gone out",
        format!(
            "The digest for {} is {} and cannot be changed or sent again.",
            d.issue_date,
            d.status.as_str()
        ),
    )
}

fn back_to(d: &Digest, msg: Option<&str>, anchor: &str) -> Response {
    let msg = msg.map(|m| format!("&msg={m}")).unwrap_or_default();
    see_other(&format!("/admin?date={}{msg}{anchor}", d.issue_date))
}

/// Drop, restore, pin, unpin, move up or down one article.
pub async fn article_action(
    State(app): State<App>,
    RequireEditor(user): RequireEditor,
    Path((id, article_id)): Path<(i64, i64)>,
    f: Fields,
) -> Result<Response, PageError> {
    f.check_csrf(&app, &user)?;
    let digest = editable_digest(&app, id).await?;
    let internal = |e: StoreError| PageError::internal(&app, e);
    let picks = app.store.digest_picks(id).await.map_err(internal)?;
    let current = picks
        .iter()
        .find(|p| p.article_id == article_id)
        .copied()
        .unwrap_or(DigestPick {
            article_id,
            pinned: false,
            dropped: false,
            position: None,
        });
    match f.get("action").unwrap_or("") {
        "drop" => {
            set(
                &app,
                id,
                DigestPick {
                    dropped: true,
                    pinned: false,
                    ..current
                },
            )
            .await?
        }
        "restore" => {
            set(
                &app,
                id,
                DigestPick {
                    dropped: false,
                    ..current
                },
            )
            .await?
        }
        "pin" => {
            set(
                &app,
                id,
                DigestPick {
                    pinned: true,
                    dropped: false,
                    ..current
                },
            )
            .await?
        }
        "unpin" => {
            set(
                &app,
                id,
                DigestPick {
                    pinned: false,
                    ..current
                },
            )
            .await?
        }
        dir @ ("up" | "down") => {
            move_article(&app, &digest, &picks, article_id, dir == "up").await?
        }
        _ => {
            return Err(PageError::new(
                &app,
                StatusCode::BAD_REQUEST,
                "Unknown action",
                "Use the buttons beside each article.",
            ));
        }
    }
    recompose(&app, &digest).await;
    Ok(back_to(&digest, None, ""))
}

async fn set(app: &App, digest_id: i64, pick: DigestPick) -> Result<(), PageError> {
    app.store
        .set_digest_pick(digest_id, &pick)
        .await
        .map_err(|e| PageError::internal(app, e))
}

/// Swaps an article with its neighbour and writes every article's place, so the order
/// shown is the order stored.
async fn move_article(
    app: &App,
    digest: &Digest,
    picks: &[DigestPick],
    article_id: i64,
    up: bool,
) -> Result<(), PageError> {
    let mut order = digest.article_ids.clone();
    let Some(i) = order.iter().position(|a| *a == article_id) else {
        return Ok(());
    };
    let j = if up { i.checked_sub(1) } else { Some(i + 1) };
    let Some(j) = j.filter(|j| *j < order.len()) else {
        return Ok(());
    };
    order.swap(i, j);
    for (pos, aid) in order.iter().enumerate() {
        let old = picks.iter().find(|p| p.article_id == *aid);
        let pick = DigestPick {
            article_id: *aid,
            pinned: old.is_some_and(|p| p.pinned),
            dropped: false,
            position: Some(pos as i64),
        };
        set(app, digest.id, pick).await?;
    }
    Ok(())
}

/// An editor's change: an approval is withdrawn, and the issue recomposed.
async fn recompose(app: &App, digest: &Digest) {
    if let Err(e) = edition::revise(app, digest).await {
        tracing::warn!(digest = digest.id, error = %format!("{e:#}"), "recompose failed");
    }
}

const MAX_NOTE_CHARS: usize = 20_000;
const MAX_SUBJECT_CHARS: usize = 200;

pub async fn save_note(
    State(app): State<App>,
    RequireEditor(user): RequireEditor,
    Path(id): Path<i64>,
    f: Fields,
) -> Result<Response, PageError> {
    f.check_csrf(&app, &user)?;
    let digest = editable_digest(&app, id).await?;
    let note = f.get("editor_note").unwrap_or("").replace("\r\n", "\n");
    let subject: String = f
        .text("subject_override")
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    if note.chars().count() > MAX_NOTE_CHARS || subject.chars().count() > MAX_SUBJECT_CHARS {
        return Err(PageError::new(
            &app,
            StatusCode::BAD_REQUEST,
            "Too long",
            format!(
                "The note can be at most {MAX_NOTE_CHARS} characters and the subject {MAX_SUBJECT_CHARS}. Nothing was saved; go back to shorten them."
            ),
        ));
    }
    let now = app.now_ms();
    let store_err = |e: StoreError| match e {
        StoreError::Conflict(_) => already_sent(&app, &digest),
        e => PageError::internal(&app, e),
    };
    app.store
        .set_editor_note(id, note.trim_end(), now)
        .await
        .map_err(store_err)?;
    let subject = (!subject.is_empty()).then_some(subject.as_str());
    app.store
        .set_subject_override(id, subject, now)
        .await
        .map_err(store_err)?;
    recompose(&app, &digest).await;
    Ok(back_to(&digest, Some("saved"), "#preview"))
}

/// The preview must not run anything that got into the email, nor load anything but
/// images: the CSP says so even if the sanitiser missed something.
const PREVIEW_CSP: &str = "default-src 'none'; img-src https: http: data:; style-src 'unsafe-inline'; \
     font-src https: data:; frame-ancestors 'self'; sandbox allow-popups allow-popups-to-escape-sandbox";

async fn preview_parts(app: &App, id: i64) -> Result<(String, String, String), PageError> {
    let digest = match app.store.digest(id).await {
        Ok(d) => d,
        Err(StoreError::NotFound) => return Err(PageError::not_found(app, "digest")),
        Err(e) => return Err(PageError::internal(app, e)),
    };
    match Personaliser::load(app, id).await {
        Ok(p) => Ok(p.render_test_copy(&test_copy::test_page_url(app))),
        Err(e) => Err(PageError::new(
            app,
            StatusCode::CONFLICT,
            "Nothing to preview yet",
            format!(
                "The digest for {} has not been composed: {e:#}",
                digest.issue_date
            ),
        )),
    }
}

pub async fn preview_html(
    State(app): State<App>,
    RequireEditor(_user): RequireEditor,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let (_, html, _) = preview_parts(&app, id).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, PREVIEW_CSP),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response())
}

pub async fn preview_text(
    State(app): State<App>,
    RequireEditor(_user): RequireEditor,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let (subject, _, text) = preview_parts(&app, id).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        format!("Subject: {subject}\n\n{text}"),
    )
        .into_response())
}

/// Sends the digest as composed right now to the editor's own address (not list mail:
/// no unsubscribe headers, nothing recorded against a subscriber).
pub async fn send_test(
    State(app): State<App>,
    RequireEditor(user): RequireEditor,
    Path(id): Path<i64>,
    f: Fields,
) -> Result<Response, PageError> {
    f.check_csrf(&app, &user)?;
    let digest = match app.store.digest(id).await {
        Ok(d) => d,
        Err(StoreError::NotFound) => return Err(PageError::not_found(&app, "digest")),
        Err(e) => return Err(PageError::internal(&app, e)),
    };
    if !digest.status.is_out()
        && let Err(e) = edition::prepare(&app, &digest).await
    {
        tracing::warn!(digest = digest.id, error = %format!("{e:#}"), "recompose failed");
    }
    let (subject, html, text) = match test_copy::test_copy(&app, id).await {
        Ok(parts) => parts,
        Err(e) => {
            return Err(PageError::new(
                &app,
                StatusCode::CONFLICT,
                "Nothing to test yet",
                format!("The digest has not been composed: {e:#}"),
            ));
        }
    };
    let to = EmailAddress::parse(&user.email).map_err(|e| {
        PageError::new(
            &app,
            StatusCode::BAD_REQUEST,
            "Your address cannot receive mail",
            format!("Your admin account's address is not usable: {e}"),
        )
    })?;
    app.queue
        .push(SendTransactional {
            to,
            to_name: None,
            subject,
            html,
            text,
            list_subscriber_id: None,
            event: None,
        })
        .await
        .map_err(|e| PageError::internal(&app, e))?;
    tracing::info!(admin = user.id, digest = id, "test digest queued");
    Ok(back_to(&digest, Some("test-sent"), ""))
}

pub async fn confirm_send(
    State(app): State<App>,
    RequireEditor(user): RequireEditor,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let digest = editable_digest(&app, id).await?;
    if let Err(e) = edition::resolve(&app, Which::Digest(id)).await {
        return Err(not_sent(&app, &e));
    }
    if digest.status != DigestStatus::Approved {
        recompose(&app, &digest).await;
    }
    let digest = editable_digest(&app, id).await?;
    if digest.status == DigestStatus::Skipped {
        return Err(PageError::new(
            &app,
            StatusCode::CONFLICT,
            "Nothing to send",
            "This issue has no articles and no editor's note, so there is nothing to send. \
             Nothing was changed.",
        ));
    }
    let recipients = edition::audience(&app, digest.kind)
        .await
        .map_err(|e| PageError::internal(&app, e))?;
    let subject = digest.subject.clone().unwrap_or_default();
    Ok((
        no_store(),
        templates::admin::send_confirm_page(
            &meta(&app, "Send now?", None),
            &nav(&user, "/admin"),
            id,
            &subject,
            &review::edition_label(&digest),
            recipients,
            audience_label(digest.kind),
        ),
    )
        .into_response())
}

fn not_sent(app: &App, e: &anyhow::Error) -> PageError {
    PageError::new(
        app,
        StatusCode::CONFLICT,
        "Not sent",
        format!("Nothing was sent: {e:#}."),
    )
}

/// Starts the send through the edition. A second press (or a second editor) is refused
/// by the digest's status, checked atomically when it is marked `sending`.
pub async fn send_now(
    State(app): State<App>,
    RequireEditor(user): RequireEditor,
    Path(id): Path<i64>,
    f: Fields,
) -> Result<Response, PageError> {
    f.check_csrf(&app, &user)?;
    let digest = editable_digest(&app, id).await?;
    match edition::send(&app, Which::Digest(id), By::Editor(user.id)).await {
        Ok(Outcome::Started { .. }) => {
            tracing::info!(admin = user.id, digest = id, "send started from the admin");
            Ok(back_to(&digest, Some("sending"), ""))
        }
        Ok(Outcome::AlreadyOut { .. }) => Err(already_sent(&app, &digest)),
        Ok(Outcome::NothingToSend { .. }) => Err(PageError::new(
            &app,
            StatusCode::CONFLICT,
            "Nothing to send",
            "This issue has no articles and no editor's note, so nothing was sent.",
        )),
        Ok(Outcome::Held { .. }) => Err(PageError::new(
            &app,
            StatusCode::CONFLICT,
            "Held",
            "The issue is held for approval.",
        )),
        Err(e) => Err(not_sent(&app, &e)),
    }
}

/// An editor approves an issue for its scheduled send.
pub async fn approve(
    State(app): State<App>,
    RequireEditor(user): RequireEditor,
    Path(id): Path<i64>,
    f: Fields,
) -> Result<Response, PageError> {
    f.check_csrf(&app, &user)?;
    let digest = match app.store.digest(id).await {
        Ok(d) => d,
        Err(StoreError::NotFound) => return Err(PageError::not_found(&app, "digest")),
        Err(e) => return Err(PageError::internal(&app, e)),
    };
    match review::approve(&app, id, user.id).await {
        Ok(()) => Ok(back_to(&digest, Some("approved"), "")),
        Err(e) => Err(PageError::new(
            &app,
            StatusCode::CONFLICT,
            "Not approved",
            format!("{e:#}."),
        )),
    }
}

/// Starts (or reopens) today's special edition, after today's issue went out.
pub async fn start_special(
    State(app): State<App>,
    RequireEditor(user): RequireEditor,
    f: Fields,
) -> Result<Response, PageError> {
    f.check_csrf(&app, &user)?;
    match edition::new_special(&app).await {
        Ok(d) => {
            tracing::info!(admin = user.id, digest = d.id, "special edition started");
            Ok(see_other(&format!("/admin?digest={}", d.id)))
        }
        Err(e) => Err(PageError::new(
            &app,
            StatusCode::CONFLICT,
            "No special edition",
            format!("{e:#}."),
        )),
    }
}

#[derive(Deserialize)]
pub struct DraftQuery {
    token: Option<String>,
}

/// A test copy's "View in browser": the draft, through a signed link that expires.
pub async fn draft_view(
    State(app): State<App>,
    Path(id): Path<i64>,
    Query(q): Query<DraftQuery>,
) -> Result<Response, PageError> {
    let valid = q
        .token
        .as_deref()
        .and_then(|t| test_copy::verify_draft_token(&app, t));
    if valid != Some(id) {
        return Err(PageError::new(
            &app,
            StatusCode::FORBIDDEN,
            "This link has expired or is not valid",
            "Links to drafts in test copies work for a few days. Send yourself a new test from /admin.",
        ));
    }
    let (_, html, _) = preview_parts(&app, id).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, PREVIEW_CSP),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response())
}

/// Where a test copy's unsubscribe and preferences links lead.
pub async fn test_copy_page(State(app): State<App>) -> Response {
    html_page(templates::admin::test_copy_page(
        &meta(&app, "This was a test copy", None),
        &app.config.newsletter.name,
    ))
}
