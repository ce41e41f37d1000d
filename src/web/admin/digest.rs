//! Today's digest: the articles (pin, drop, restore, move, per-issue overrides, add by
//! URL, the announcement), the editor's note and subject, preview, test and send.
//!
//! Every change re-composes the digest, so the article list, the preview, the test and
//! the send all show exactly what subscribers would get. The article actions answer a
//! plain form post with a redirect back to the article, and the composer's script
//! (`Accept: application/json`) with the new list to swap in.

use std::collections::HashMap;

use axum::{
    Json,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::NaiveDate;
use serde::Deserialize;
use templates::admin::digest::{DigestArticle, DigestView};

/// "subscriber" or "subscribers", for a count.
fn plural(n: i64) -> &'static str {
    if n == 1 { "subscriber" } else { "subscribers" }
}

use super::{CheckedForm, Fields, flash_for, html_page, meta, nav, see_other};
use crate::{
    app::App,
    digest::{Personaliser, section_of},
    domain::EmailAddress,
    edition::{self, By, Outcome, Which, review, test_copy},
    feeds::parse::absolute_http_url,
    queue::jobs::SendTransactional,
    schedule::runner,
    store::{
        StoreError,
        curation::{Announcement, ArticleOverride},
        digests::{Digest, DigestPick, DigestStatus},
        schedules::ScheduleMode,
    },
    web::auth::{CurrentUser, PageError, RequireEditor, RequireOperator, no_store},
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
    let digest = if q.weekly.is_some() {
        next_weekly(&app).await?
    } else if let Some(id) = q.digest {
        load_digest(&app, id).await?
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
        app.store.get_or_create_digest(date, app.now_ms()).await?
    };
    let view = digest_view(&app, digest, &user.csrf).await?;
    let page = templates::admin::digest::digest_page(
        &meta(&app, "Today's digest", flash),
        &nav(&user, "/admin"),
        &view,
    );
    Ok((composer_headers(), page).into_response())
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
    let default_subject = crate::digest::subject_for(app, digest.kind, digest.edition_no, date);
    let subject = digest
        .subject
        .clone()
        .unwrap_or_else(|| default_subject.clone());
    let announcement = app.store.announcement(digest.id).await?;
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
        readers_line: {
            let daily = edition::audience(app, crate::store::digests::EditionKind::Daily).await?;
            let weekly = edition::audience(app, crate::store::digests::EditionKind::Weekly).await?;
            format!(
                "{daily} daily {} and {weekly} weekly {} (confirmed, not paused).",
                plural(daily),
                plural(weekly)
            )
        },
        awaiting,
        subject,
        default_subject,
        subject_override: digest.subject_override.clone().unwrap_or_default(),
        announcement: announcement
            .as_ref()
            .map(|a| a.body.clone())
            .unwrap_or_default(),
        announcement_after: announcement.as_ref().map_or(1, |a| a.after_article),
        add_url: String::new(),
        add_url_error: None,
        editor_note: digest.editor_note.clone(),
        articles,
        problem,
        recipients,
        csrf: csrf.into(),
        schedule_line: schedule_line(app).await,
        zones: crate::delivery::progress::zone_rows(app, digest.id).await?,
        left_out: app.store.articles_left_out(digest.id).await?,
        max_articles: app.config.digest.max_articles,
        held: digest.status == DigestStatus::Held,
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
    match crate::schedule::daily::next_daily_sends(app, &rule, 1)
        .await
        .first()
    {
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
    let overrides: HashMap<i64, ArticleOverride> = app
        .store
        .article_overrides(digest.id)
        .await?
        .into_iter()
        .map(|o| (o.article_id, o))
        .collect();
    let added = app.store.added_article_ids(digest.id).await?;
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
            let o = overrides.get(&a.id).cloned().unwrap_or_default();
            DigestArticle {
                id: a.id,
                // The section exactly as the email shows it.
                source: format!("{} · {feed}", section_of(&a, &app.config.digest)),
                title: o.title.clone().unwrap_or_else(|| a.title.clone()),
                link: a.link,
                pinned: pick.is_some_and(|p| p.pinned),
                dropped: pick.is_some_and(|p| p.dropped),
                added: added.contains(&a.id),
                feed_title: a.title,
                override_title: o.title.unwrap_or_default(),
                override_summary: o.summary.unwrap_or_default(),
                override_image: o.image_url.unwrap_or_default(),
                feed_summary: a.summary_text,
                feed_image: a.image_url.unwrap_or_default(),
            }
        })
        .collect())
}

/// The digest `id`, or the "no such digest" page (rather than `From`'s generic 404, so
/// the editor is told what was missing).
async fn load_digest(app: &App, id: i64) -> Result<Digest, PageError> {
    match app.store.digest(id).await {
        Err(StoreError::NotFound) => Err(PageError::not_found(app, "digest")),
        other => Ok(other?),
    }
}

async fn editable_digest(app: &App, id: i64) -> Result<Digest, PageError> {
    let digest = load_digest(app, id).await?;
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

/// Whether the request came from the composer's script, which asks for JSON: it gets
/// the new article list to swap in instead of a redirect.
fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

/// The answer to the script: what changed (for the live region), the new list and the
/// digest's status, after the change was composed.
async fn live_answer(app: &App, user: &CurrentUser, id: i64, message: String) -> Response {
    let view = match app.store.digest(id).await {
        Ok(d) => digest_view(app, d, &user.csrf).await,
        Err(e) => Err(e.into()),
    };
    match view {
        Ok(view) => (
            no_store(),
            Json(serde_json::json!({
                "ok": true,
                "message": message,
                "status": view.status,
                "list": templates::admin::digest::article_list(&view).into_string(),
            })),
        )
            .into_response(),
        Err(e) => live_error(&PageError::from(e)),
    }
}

/// A refused change, as JSON for the script (the same words as the error page).
fn live_error(e: &PageError) -> Response {
    (
        e.status(),
        no_store(),
        Json(serde_json::json!({ "ok": false, "error": e.0.message })),
    )
        .into_response()
}

/// Where an article now stands, in the editor's words.
async fn describe_move(app: &App, id: i64, article_id: i64, what: &str) -> String {
    let Ok(digest) = app.store.digest(id).await else {
        return what.to_owned();
    };
    let title = app
        .store
        .article(article_id)
        .await
        .map(|a| a.title)
        .unwrap_or_default();
    match digest.article_ids.iter().position(|a| *a == article_id) {
        Some(i) => format!(
            "{what}: “{title}”, now {} of {}.",
            i + 1,
            digest.article_ids.len()
        ),
        None => format!("{what}: “{title}”."),
    }
}

/// Drop, restore, pin, unpin, move up or down one place, to the top, or to a place
/// (`to`, from dragging). Answers the script with JSON and a browser without it with a
/// redirect back to the article.
pub async fn article_action(
    State(app): State<App>,
    RequireEditor(user): RequireEditor,
    Path((id, article_id)): Path<(i64, i64)>,
    headers: HeaderMap,
    f: Fields,
) -> Result<Response, PageError> {
    let json = wants_json(&headers);
    let outcome = match apply_article_action(&app, &user, id, article_id, &f).await {
        // Only the script's answer says where the article went.
        Ok((digest, what)) if json => {
            let said = describe_move(&app, digest.id, article_id, what).await;
            Ok((digest, said))
        }
        other => other.map(|(digest, what)| (digest, what.to_owned())),
    };
    answer_tool(&app, &user, json, article_id, outcome, None).await
}

/// How an article's tools answer: the script (`json`) gets the live panel saying `said`
/// (or the error, as JSON), a browser without it a redirect back to the article, with
/// the `flash` code.
async fn answer_tool(
    app: &App,
    user: &CurrentUser,
    json: bool,
    article_id: i64,
    outcome: Result<(Digest, String), PageError>,
    flash: Option<&str>,
) -> Result<Response, PageError> {
    match outcome {
        Ok((digest, said)) if json => Ok(live_answer(app, user, digest.id, said).await),
        Ok((digest, _)) => Ok(back_to(&digest, flash, &format!("#article-{article_id}"))),
        Err(e) if json => Ok(live_error(&e)),
        Err(e) => Err(e),
    }
}

async fn apply_article_action(
    app: &App,
    user: &CurrentUser,
    id: i64,
    article_id: i64,
    f: &Fields,
) -> Result<(Digest, &'static str), PageError> {
    f.check_csrf(app, user)?;
    let digest = editable_digest(app, id).await?;
    let picks = app.store.digest_picks(id).await?;
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
    let action = f.get("action").unwrap_or("");
    let what = if let Some((pick, done)) = changed_pick(action, current) {
        app.store.set_digest_pick(id, &pick).await?;
        done
    } else {
        let place = digest.article_ids.iter().position(|a| *a == article_id);
        let (to, done) = match action {
            "up" => (place.map(|i| i.saturating_sub(1)), "Moved up"),
            "down" => (place.map(|i| i + 1), "Moved down"),
            "top" => (Some(0), "Moved to the top"),
            "move" => {
                let to = f.text("to").parse::<usize>().map_err(|_| {
                    PageError::new(
                        app,
                        StatusCode::BAD_REQUEST,
                        "Where to?",
                        "A move needs the place to move the article to.",
                    )
                })?;
                (Some(to), "Moved")
            }
            _ => {
                return Err(PageError::new(
                    app,
                    StatusCode::BAD_REQUEST,
                    "Unknown action",
                    "Use the buttons beside each article.",
                ));
            }
        };
        if let Some(to) = to {
            move_article(app, &digest, &picks, article_id, to).await?;
        }
        done
    };
    recompose(app, &digest).await;
    Ok((digest, what))
}

/// What the four pick buttons do to an article's pick (dropping unpins; pinning brings a
/// dropped article back), and what the answer says; `None` for the other actions.
fn changed_pick(action: &str, current: DigestPick) -> Option<(DigestPick, &'static str)> {
    let (pinned, dropped, done) = match action {
        "drop" => (Some(false), Some(true), "Dropped"),
        "restore" => (None, Some(false), "Restored"),
        "pin" => (Some(true), Some(false), "Pinned"),
        "unpin" => (Some(false), None, "Unpinned"),
        _ => return None,
    };
    let pick = DigestPick {
        pinned: pinned.unwrap_or(current.pinned),
        dropped: dropped.unwrap_or(current.dropped),
        ..current
    };
    Some((pick, done))
}

/// Moves an article to place `to` of the composed order and writes every article's
/// place, so the order shown is the order stored. The top stories are the pinned ones:
/// an article put among them (or at the very top) is pinned, and a pinned one put
/// below them is unpinned; elsewhere it keeps its section, whose order it takes.
async fn move_article(
    app: &App,
    digest: &Digest,
    picks: &[DigestPick],
    article_id: i64,
    to: usize,
) -> Result<(), PageError> {
    let mut order = digest.article_ids.clone();
    let Some(from) = order.iter().position(|a| *a == article_id) else {
        return Ok(());
    };
    let pinned_now = |aid: i64| picks.iter().any(|p| p.article_id == aid && p.pinned);
    let was_pinned = pinned_now(article_id);
    order.remove(from);
    let to = to.min(order.len());
    order.insert(to, article_id);
    let pinned_after = if to == 0 {
        was_pinned || order.get(1).is_some_and(|a| pinned_now(*a)) || to < from
    } else {
        pinned_now(order[to - 1])
    };
    for (pos, aid) in order.iter().enumerate() {
        let pinned = if *aid == article_id {
            pinned_after
        } else {
            pinned_now(*aid)
        };
        let pick = DigestPick {
            article_id: *aid,
            pinned,
            dropped: false,
            position: Some(pos as i64),
        };
        app.store.set_digest_pick(digest.id, &pick).await?;
    }
    Ok(())
}

const MAX_OVERRIDE_TITLE_CHARS: usize = 300;
const MAX_OVERRIDE_SUMMARY_CHARS: usize = 2_000;

/// An article's headline, summary and image for this issue only (`action=save`), or
/// back to the feed's (`action=revert`). The feed's text is never touched.
pub async fn article_override(
    State(app): State<App>,
    RequireEditor(user): RequireEditor,
    Path((id, article_id)): Path<(i64, i64)>,
    headers: HeaderMap,
    f: Fields,
) -> Result<Response, PageError> {
    let json = wants_json(&headers);
    let outcome = apply_override(&app, &user, id, article_id, &f)
        .await
        .map(|(digest, what)| (digest, what.to_owned()));
    answer_tool(&app, &user, json, article_id, outcome, Some("saved")).await
}

async fn apply_override(
    app: &App,
    user: &CurrentUser,
    id: i64,
    article_id: i64,
    f: &Fields,
) -> Result<(Digest, &'static str), PageError> {
    f.check_csrf(app, user)?;
    let digest = editable_digest(app, id).await?;
    let article = match app.store.article(article_id).await {
        Ok(a) => a,
        Err(StoreError::NotFound) => return Err(PageError::not_found(app, "article")),
        Err(e) => return Err(e.into()),
    };
    let bad = |msg: &str| PageError::new(app, StatusCode::BAD_REQUEST, "Not saved", msg);
    let one_line = |name: &str| -> String {
        f.text(name)
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect()
    };
    let o = if f.get("action") == Some("revert") {
        ArticleOverride {
            article_id,
            ..Default::default()
        }
    } else {
        let title = one_line("title");
        let summary = f.text("summary").replace("\r\n", "\n");
        let image = f.text("image_url");
        if title.chars().count() > MAX_OVERRIDE_TITLE_CHARS
            || summary.chars().count() > MAX_OVERRIDE_SUMMARY_CHARS
        {
            return Err(bad(&format!(
                "A headline can be at most {MAX_OVERRIDE_TITLE_CHARS} characters and a summary {MAX_OVERRIDE_SUMMARY_CHARS}. Nothing was saved."
            )));
        }
        let image_url = if image.is_empty() {
            None
        } else {
            Some(absolute_http_url(&image, None).ok_or_else(|| {
                bad("The image must be a full web address starting with https:// or http://. Nothing was saved.")
            })?)
        };
        // Typing the feed's own text back is no override.
        let differs = |new: String, old: &str| (!new.is_empty() && new != old).then_some(new);
        ArticleOverride {
            article_id,
            title: differs(title, &article.title),
            summary: differs(summary, &article.summary_text),
            image_url: image_url.filter(|i| Some(i) != article.image_url.as_ref()),
        }
    };
    let what = if o.is_empty() {
        "Back to the feed's text"
    } else {
        "Saved for this issue"
    };
    app.store.set_article_override(id, &o, app.now_ms()).await?;
    recompose(app, &digest).await;
    Ok((digest, what))
}

/// Adds the article at a URL to this issue: the page is fetched like a feed (same
/// limits, same refusal of internal addresses), its metadata read and sanitised. On
/// any failure the page comes back with the URL and the reason, and nothing is added.
pub async fn add_by_url(
    State(app): State<App>,
    Path(id): Path<i64>,
    CheckedForm(RequireEditor(user), f): CheckedForm<RequireEditor>,
) -> Result<Response, PageError> {
    let digest = editable_digest(&app, id).await?;
    let url = f.text("url");
    match crate::feeds::by_url::add_article(&app, digest.id, &url).await {
        Ok(article_id) => {
            tracing::info!(
                admin = user.id,
                digest = id,
                article = article_id,
                "article added by URL"
            );
            recompose(&app, &digest).await;
            Ok(back_to(
                &digest,
                Some("article-added"),
                &format!("#article-{article_id}"),
            ))
        }
        Err(e) => {
            tracing::info!(admin = user.id, digest = id, error = %e, "article not added by URL");
            let mut view = digest_view(&app, digest, &user.csrf).await?;
            view.add_url = url;
            view.add_url_error = Some(e.to_string());
            let page = templates::admin::digest::digest_page(
                &meta(&app, "Today's digest", None),
                &nav(&user, "/admin"),
                &view,
            );
            Ok((StatusCode::UNPROCESSABLE_ENTITY, composer_headers(), page).into_response())
        }
    }
}

const MAX_ANNOUNCEMENT_CHARS: usize = 2_000;

/// The announcement block and where it goes; an empty one removes it.
pub async fn save_announcement(
    State(app): State<App>,
    Path(id): Path<i64>,
    CheckedForm(RequireEditor(_), f): CheckedForm<RequireEditor>,
) -> Result<Response, PageError> {
    let digest = editable_digest(&app, id).await?;
    let body = f.text("announcement").replace("\r\n", "\n");
    if body.chars().count() > MAX_ANNOUNCEMENT_CHARS {
        return Err(PageError::too_long(
            &app,
            format!(
                "An announcement can be at most {MAX_ANNOUNCEMENT_CHARS} characters. Nothing was saved; go back to shorten it."
            ),
        ));
    }
    let after = f.text("after").parse::<i64>().unwrap_or(1).clamp(0, 1_000);
    app.store
        .set_announcement(
            id,
            &Announcement {
                body,
                after_article: after,
            },
            app.now_ms(),
        )
        .await?;
    recompose(&app, &digest).await;
    Ok(back_to(&digest, Some("saved"), "#announcement"))
}

/// The composer page's policy: scripts only from our own files (the composer's), so
/// nothing that slipped into an article title could run.
const COMPOSER_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' https: http: data:; frame-src 'self'; frame-ancestors 'none'; form-action 'self'; \
     base-uri 'none'; object-src 'none'";

fn composer_headers() -> [(header::HeaderName, &'static str); 2] {
    [
        (header::CONTENT_SECURITY_POLICY, COMPOSER_CSP),
        (header::CACHE_CONTROL, "no-store"),
    ]
}

/// `/admin/assets/composer.js`: the composer's script, from the binary.
pub async fn composer_js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        templates::admin::digest::COMPOSER_JS,
    )
        .into_response()
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
    Path(id): Path<i64>,
    CheckedForm(RequireEditor(_), f): CheckedForm<RequireEditor>,
) -> Result<Response, PageError> {
    let digest = editable_digest(&app, id).await?;
    let note = f.get("editor_note").unwrap_or("").replace("\r\n", "\n");
    let subject: String = f
        .text("subject_override")
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    if note.chars().count() > MAX_NOTE_CHARS || subject.chars().count() > MAX_SUBJECT_CHARS {
        return Err(PageError::too_long(
            &app,
            format!(
                "The note can be at most {MAX_NOTE_CHARS} characters and the subject {MAX_SUBJECT_CHARS}. Nothing was saved; go back to shorten them."
            ),
        ));
    }
    let now = app.now_ms();
    let store_err = |e: StoreError| match e {
        StoreError::Conflict(_) => already_sent(&app, &digest),
        e => e.into(),
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
    let digest = load_digest(app, id).await?;
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

/// The draft's HTML as the email has it, framed by the composer, under the preview's
/// policy (no scripts) and never cached.
fn preview_page(html: String) -> Response {
    let headers = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CONTENT_SECURITY_POLICY, PREVIEW_CSP),
        (header::CACHE_CONTROL, "no-store"),
    ];
    (headers, html).into_response()
}

pub async fn preview_html(
    State(app): State<App>,
    RequireEditor(_user): RequireEditor,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let (_, html, _) = preview_parts(&app, id).await?;
    Ok(preview_page(html))
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
    Path(id): Path<i64>,
    CheckedForm(RequireEditor(user), _): CheckedForm<RequireEditor>,
) -> Result<Response, PageError> {
    let digest = load_digest(&app, id).await?;
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
            unsubscribe_url: None,
            event: None,
        })
        .await?;
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
    let recipients = edition::audience(&app, digest.kind).await?;
    let subject = digest.subject.clone().unwrap_or_default();
    Ok((
        no_store(),
        templates::admin::digest::send_confirm_page(
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
    Path(id): Path<i64>,
    CheckedForm(RequireEditor(user), _): CheckedForm<RequireEditor>,
) -> Result<Response, PageError> {
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
    Path(id): Path<i64>,
    CheckedForm(RequireEditor(user), _): CheckedForm<RequireEditor>,
) -> Result<Response, PageError> {
    let digest = load_digest(&app, id).await?;
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
    CheckedForm(RequireEditor(user), _): CheckedForm<RequireEditor>,
) -> Result<Response, PageError> {
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
    Ok(preview_page(html))
}

/// Where a test copy's unsubscribe and preferences links lead.
pub async fn test_copy_page(State(app): State<App>) -> Response {
    html_page(templates::admin::digest::test_copy_page(
        &meta(&app, "This was a test copy", None),
        &app.config.newsletter.name,
    ))
}
