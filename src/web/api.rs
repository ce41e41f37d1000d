//! The JSON API for subscribers, for operators' scripts and the editor's tools.
//!
//! `GET /api/subscribers?status=&limit=&after=` lists with keyset paging (`after` is the
//! `next_after` of the previous page), `POST /api/subscribers` adds one, and
//! `GET`/`DELETE /api/subscribers/{id}` reads or erases one, `PATCH` with
//! `{"time_zone": "America/New_York"}` (or `null`: the publication's) sets their zone;
//! `POST /api/subscribers/{id}/unsubscribe` unsubscribes without erasing. Reading takes
//! any valid token; changing takes one that [`ApiAuth::require_change`] lets through.

use axum::{
    Json, Router,
    extract::{Path, Query, State, rejection::JsonRejection},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{api_auth::ApiAuth, error::ApiError};
use crate::{
    app::App,
    domain::{EmailAddress, SubscriberStatus},
    subscribers::{self, ServiceError},
};

const MAX_PAGE: i64 = 1000;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/api/subscribers", get(list).post(create))
        .route(
            "/api/subscribers/{id}",
            get(show).delete(erase).patch(change),
        )
        .route("/api/subscribers/{id}/unsubscribe", post(unsubscribe))
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Invalid(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, m),
            ServiceError::Store(s) => s.into(),
            ServiceError::Link(_) => ApiError::not_found("no such subscriber"),
            other => ApiError::internal(other),
        }
    }
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    status: Option<String>,
    limit: Option<String>,
    after: Option<String>,
}

fn parse_status(s: Option<&str>) -> Result<Option<SubscriberStatus>, ApiError> {
    match s.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|e: crate::domain::subscriber::UnknownStatus| {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
            }),
    }
}

fn parse_number(name: &str, v: Option<&str>, default: i64, max: i64) -> Result<i64, ApiError> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(default),
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|n| (0..=max).contains(n))
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("{name} must be a whole number from 0 to {max}"),
                )
            }),
    }
}

async fn list(
    _auth: ApiAuth,
    State(app): State<App>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let status = parse_status(q.status.as_deref())?;
    let limit = parse_number("limit", q.limit.as_deref(), 100, MAX_PAGE)?;
    let after = parse_number("after", q.after.as_deref(), 0, i64::MAX)?;
    let page = app.store.list_subscribers(status, after, limit).await?;
    let total = app.store.count_subscribers(status).await?;
    let next_after = (page.len() as i64 == limit && limit > 0)
        .then(|| page.last().map(|s| s.id))
        .flatten();
    Ok(Json(json!({
        "subscribers": page,
        "total": total,
        "next_after": next_after,
    })))
}

#[derive(Debug, Deserialize)]
struct CreateBody {
    email: String,
    #[serde(default)]
    name: Option<String>,
    /// True to add as already confirmed (the caller vouches for the opt-in).
    #[serde(default)]
    confirmed: bool,
    /// The reader's IANA zone (absent or null: the publication's).
    #[serde(default)]
    time_zone: Option<String>,
}

/// What `PATCH /api/subscribers/{id}` may change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeBody {
    time_zone: Option<String>,
}

async fn create(
    auth: ApiAuth,
    State(app): State<App>,
    body: Result<Json<CreateBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    auth.require_change()?;
    let Json(body) = body.map_err(|r| ApiError::new(r.status(), r.body_text()))?;
    let email = EmailAddress::parse(&body.email)
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    let name = subscribers::clean_name(body.name.as_deref())
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e))?;
    if let Some(z) = body.time_zone.as_deref() {
        // Refused before anything is stored.
        subscribers::clean_time_zone(z)
            .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e))?;
    }
    let mut s =
        subscribers::create_by_operator(&app, &email, name.as_deref(), body.confirmed).await?;
    if body.time_zone.is_some() {
        s = subscribers::set_time_zone(&app, s.id, body.time_zone.as_deref()).await?;
    }
    Ok((StatusCode::CREATED, Json(s)).into_response())
}

async fn change(
    auth: ApiAuth,
    State(app): State<App>,
    Path(id): Path<i64>,
    body: Result<Json<ChangeBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    auth.require_change()?;
    let Json(body) = body.map_err(|r| ApiError::new(r.status(), r.body_text()))?;
    let s = subscribers::set_time_zone(&app, id, body.time_zone.as_deref()).await?;
    Ok(Json(s).into_response())
}

async fn show(
    _auth: ApiAuth,
    State(app): State<App>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let s = app.store.subscriber(id).await?;
    Ok(Json(s).into_response())
}

async fn erase(
    auth: ApiAuth,
    State(app): State<App>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    auth.require_change()?;
    let s = app.store.subscriber(id).await?;
    subscribers::erase_subscriber(&app, &s, "erased by an operator").await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn unsubscribe(
    auth: ApiAuth,
    State(app): State<App>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    auth.require_change()?;
    let s = subscribers::unsubscribe_by_id(&app, id).await?;
    Ok(Json(s).into_response())
}
