//! Past digests, feeds and API tokens. (Subscribers live in `subscribers.rs`.)

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use templates::admin::{FeedForm, FeedRow, PastDigestRow, TokenRow};

use super::{CheckedForm, admin_zone, flash_for, html_page, meta, nav, see_other, when};
use crate::{
    app::App,
    store::{
        StoreError,
        users::{ApiAccess, NewApiToken},
    },
    web::auth::{CurrentUser, PageError, RequireEditor, RequireOperator, new_api_token},
};

#[derive(Deserialize, Default)]
pub struct Msg {
    msg: Option<String>,
}

pub async fn past_digests(
    State(app): State<App>,
    RequireEditor(user): RequireEditor,
) -> Result<Response, PageError> {
    let digests = app.store.list_sent_digests(100, 0).await?;
    let mut rows = Vec::with_capacity(digests.len());
    for d in digests {
        let p = app.store.delivery_progress(d.id, app.now_ms()).await?;
        rows.push(PastDigestRow {
            archive_url: crate::digest::compose::archive_path_of(&d.kind, d.id, &d.issue_date),
            date: d.issue_date,
            subject: d.subject.unwrap_or_default(),
            status: p.status.to_string(),
            recipients: p.recipients.map_or("–".into(), |r| r.to_string()),
            sent: p.sent,
            failed: p.failed,
        });
    }
    Ok(html_page(templates::admin::past_digests_page(
        &meta(&app, "Past digests", None),
        &nav(&user, "/admin/digests"),
        &rows,
    )))
}

async fn feeds_response(
    app: &App,
    user: &CurrentUser,
    status: StatusCode,
    flash: Option<templates::page::Flash>,
    form: FeedForm,
) -> Result<Response, PageError> {
    let zone = admin_zone(app).await;
    let feeds = app.store.feeds().await?;
    let rows: Vec<FeedRow> = feeds
        .into_iter()
        // Articles added by URL hang from a feed row that is never polled: not a feed.
        .filter(|f| f.url != crate::store::curation::ADDED_BY_URL_FEED)
        .map(|f| FeedRow {
            id: f.id,
            last_fetched: f
                .last_fetched_at
                .map_or("never fetched".into(), |t| when(t, zone)),
            status: f.last_status.unwrap_or_default().replace('_', " "),
            error: f.last_error,
            section: f.section.unwrap_or_default(),
            name: f.name,
            // A password in the URL (basic auth) is never shown, here as in the CLI.
            url: crate::feeds::ingest::redacted_url(&f.url),
        })
        .collect();
    let markup = templates::admin::feeds_page(
        &meta(app, "Feeds", flash),
        &nav(user, "/admin/feeds"),
        &rows,
        &form,
    );
    Ok((status, html_page(markup)).into_response())
}

pub async fn feeds(
    State(app): State<App>,
    RequireEditor(user): RequireEditor,
    Query(q): Query<Msg>,
) -> Result<Response, PageError> {
    feeds_response(
        &app,
        &user,
        StatusCode::OK,
        flash_for(q.msg.as_deref()),
        FeedForm::default(),
    )
    .await
}

pub async fn add_feed(
    State(app): State<App>,
    CheckedForm(RequireEditor(user), f): CheckedForm<RequireEditor>,
) -> Result<Response, PageError> {
    let mut form = FeedForm {
        name: f.text("name"),
        url: f.text("url"),
        section: f.text("section"),
        error: None,
    };
    let url_ok = url::Url::parse(&form.url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"));
    let problem = if url_ok.is_none() {
        Some("Enter the feed's full address, starting with https://".to_string())
    } else if form.name.is_empty() || form.name.chars().count() > 100 {
        Some("Give the feed a name of at most 100 characters.".to_string())
    } else {
        None
    };
    if let Some(p) = problem {
        form.error = Some(p);
        return feeds_response(&app, &user, StatusCode::BAD_REQUEST, None, form).await;
    }
    let section = (!form.section.is_empty()).then_some(form.section.as_str());
    match app
        .store
        .insert_feed(&form.url, &form.name, section, app.now_ms())
        .await
    {
        Ok(_) => Ok(see_other("/admin/feeds?msg=feed-added")),
        Err(StoreError::Conflict(m)) => {
            form.error = Some(m);
            feeds_response(&app, &user, StatusCode::CONFLICT, None, form).await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn fetch_feed(
    State(app): State<App>,
    Path(id): Path<i64>,
    _: CheckedForm<RequireEditor>,
) -> Result<Response, PageError> {
    match crate::feeds::ingest::fetch_one(&app, id).await {
        Ok(_) => Ok(see_other("/admin/feeds?msg=feed-fetched")),
        Err(e) => Err(PageError::new(
            &app,
            StatusCode::BAD_GATEWAY,
            "Fetch failed",
            format!("{e:#}"),
        )
        .with_link("Back to the feeds", "/admin/feeds")),
    }
}

pub async fn delete_feed(
    State(app): State<App>,
    Path(id): Path<i64>,
    _: CheckedForm<RequireEditor>,
) -> Result<Response, PageError> {
    match app.store.delete_feed(id).await {
        Ok(()) | Err(StoreError::NotFound) => Ok(see_other("/admin/feeds?msg=feed-removed")),
        Err(e) => Err(e.into()),
    }
}

async fn tokens_response(
    app: &App,
    user: &CurrentUser,
    new_token: Option<&str>,
    error: Option<&str>,
    flash: Option<templates::page::Flash>,
) -> Result<Response, PageError> {
    let zone = admin_zone(app).await;
    let tokens: Vec<TokenRow> = app
        .store
        .list_api_tokens(user.id)
        .await?
        .into_iter()
        .map(|t| TokenRow {
            id: t.id,
            name: t.name,
            access: match t.access {
                ApiAccess::Full => "full".into(),
                ApiAccess::Read => "read-only".into(),
            },
            created: when(t.created_at, zone),
            last_used: t.last_used_at.map_or("never".into(), |t| when(t, zone)),
            expires: t.expires_at.map_or("never".into(), |t| when(t, zone)),
        })
        .collect();
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let markup = templates::admin::tokens_page(
        &meta(app, "API tokens", flash),
        &nav(user, "/admin/tokens"),
        &tokens,
        new_token,
        error,
    );
    Ok((status, html_page(markup)).into_response())
}

pub async fn tokens(
    State(app): State<App>,
    RequireOperator(user): RequireOperator,
    Query(q): Query<Msg>,
) -> Result<Response, PageError> {
    tokens_response(&app, &user, None, None, flash_for(q.msg.as_deref())).await
}

pub async fn create_token(
    State(app): State<App>,
    CheckedForm(RequireOperator(user), f): CheckedForm<RequireOperator>,
) -> Result<Response, PageError> {
    let name = f.text("name");
    if name.is_empty() || name.chars().count() > 100 {
        return tokens_response(
            &app,
            &user,
            None,
            Some("Give the token a name (at most 100 characters)."),
            None,
        )
        .await;
    }
    let access = if f.get("access") == Some("full") {
        ApiAccess::Full
    } else {
        ApiAccess::Read
    };
    let expires_days = match f.text("expires_days").as_str() {
        "" => None,
        days => match days.parse::<u32>() {
            Ok(d) if (1..=3650).contains(&d) => Some(d),
            _ => {
                return tokens_response(
                    &app,
                    &user,
                    None,
                    Some("Expiry must be a whole number of days from 1 to 3650, or empty."),
                    None,
                )
                .await;
            }
        },
    };
    let token = create_api_token(&app, user.id, &name, access, expires_days).await?;
    tracing::info!(admin = user.id, "API token created");
    tokens_response(&app, &user, Some(&token), None, None).await
}

/// Creates a personal token for `user_id` and returns it (the only time it is seen).
pub async fn create_api_token(
    app: &App,
    user_id: i64,
    name: &str,
    access: ApiAccess,
    expires_days: Option<u32>,
) -> anyhow::Result<String> {
    let (token, hash) = new_api_token(app);
    let now = app.now_ms();
    let new = NewApiToken {
        user_id,
        name,
        token_hash: &hash,
        access,
        expires_at: expires_days.map(|d| now + i64::from(d) * 86_400_000),
    };
    app.store.insert_api_token(&new, now).await?;
    Ok(token)
}

pub async fn revoke_token(
    State(app): State<App>,
    Path(id): Path<i64>,
    CheckedForm(RequireOperator(user), _): CheckedForm<RequireOperator>,
) -> Result<Response, PageError> {
    match app.store.delete_api_token(user.id, id).await {
        Ok(()) | Err(StoreError::NotFound) => Ok(see_other("/admin/tokens?msg=revoked")),
        Err(e) => Err(e.into()),
    }
}
