//! Body negotiation: which shape a request body arrived in, and reading it as a form.

use std::{collections::HashMap, net::IpAddr};

use axum::{
    body::Bytes,
    extract::{Query, rejection::BytesRejection},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};

use crate::{app::App, web::rate_limit::RateLimiter};

use super::respond::*;
use crate::web::error::ApiError;

/// How a request body arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyKind {
    Form,
    Json,
    Other,
}

pub(super) fn body_kind(headers: &HeaderMap) -> BodyKind {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime == "application/x-www-form-urlencoded" {
        BodyKind::Form
    } else if mime == "application/json"
        || (mime.starts_with("application/") && mime.ends_with("+json"))
    {
        BodyKind::Json
    } else {
        BodyKind::Other
    }
}

pub(super) fn wants_json(headers: &HeaderMap) -> bool {
    body_kind(headers) == BodyKind::Json
        || headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("json") && !a.contains("html"))
}

/// A body the buffering refused: too large (413), or broken off (400).
pub(super) fn body_error(app: &App, rejection: BytesRejection, json: bool) -> Response {
    let status = rejection.status();
    let (status, message) = if status == StatusCode::PAYLOAD_TOO_LARGE {
        (status, "the request is too large")
    } else {
        (
            StatusCode::BAD_REQUEST,
            "the request body could not be read",
        )
    };
    if json {
        ApiError::new(status, message).into_response()
    } else {
        error(app, status, "We could not read that", message)
    }
}

pub(super) fn unsupported(app: &App, json: bool) -> Response {
    let message = "send the form as application/x-www-form-urlencoded or JSON as application/json";
    let status = StatusCode::UNSUPPORTED_MEDIA_TYPE;
    if json {
        ApiError::new(status, message).into_response()
    } else {
        error(app, status, "We could not read that", message)
    }
}

/// Decodes a form body into its fields (first value wins).
pub(super) fn form_fields(body: &[u8]) -> HashMap<String, String> {
    let mut fields = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        fields
            .entry(k.into_owned())
            .or_insert_with(|| v.into_owned());
    }
    fields
}

/// A form-only POST body, or the answer to give instead.
pub(super) fn read_form(
    app: &App,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<HashMap<String, String>, Box<Response>> {
    let body = body.map_err(|r| Box::new(body_error(app, r, false)))?;
    if body.is_empty() {
        return Ok(HashMap::new());
    }
    if body_kind(headers) != BodyKind::Form {
        return Err(Box::new(unsupported(app, false)));
    }
    Ok(form_fields(&body))
}

pub(super) type Params = Query<HashMap<String, String>>;

pub(super) fn token_of(
    query: &HashMap<String, String>,
    form: Option<&HashMap<String, String>>,
) -> String {
    query
        .get("token")
        .or_else(|| form.and_then(|f| f.get("token")))
        .cloned()
        .unwrap_or_default()
}

/// A form post that costs us an email: a 429 page once this client has spent `bucket`'s
/// budget for the minute (each action has its own bucket), else the body read as a form.
pub(super) fn limited_form(
    app: &App,
    limiter: &RateLimiter,
    ip: IpAddr,
    bucket: &'static str,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<HashMap<String, String>, Box<Response>> {
    let per_minute = app.config.subscribers.rate_limit_per_minute;
    if let Err(wait) = limiter.check(ip, bucket, per_minute) {
        return Err(Box::new(too_many(app, wait, false)));
    }
    read_form(app, headers, body)
}
