//! What a reader's request carries: the body's shape, a form, a personal link's token, and
//! the client's rate-limit budget. Each arrives through an extractor whose refusal is a
//! [`ReaderError`], so handlers start from their inputs and use `?`.

use std::{collections::HashMap, net::IpAddr, time::Duration};

use axum::{
    Extension,
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Query, Request, rejection::BytesRejection},
    http::{HeaderMap, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};

use crate::{
    app::App,
    web::{
        error::ApiError,
        rate_limit::{ClientIp, RateLimiter},
    },
};

use super::respond::ReaderError;

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

/// A body we could not read, and what to say about it: as a page, or as JSON.
#[derive(Debug, Clone, Copy)]
pub(super) struct Unreadable {
    status: StatusCode,
    message: &'static str,
}

impl Unreadable {
    /// Neither a form nor JSON.
    pub(super) const UNSUPPORTED: Self = Self {
        status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
        message: "send the form as application/x-www-form-urlencoded or JSON as application/json",
    };

    /// A body the buffering refused: too large (413), or broken off (400).
    pub(super) fn of(rejection: &BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Self {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                message: "the request is too large",
            }
        } else {
            Self {
                status: StatusCode::BAD_REQUEST,
                message: "the request body could not be read",
            }
        }
    }

    pub(super) fn answer(self, json: bool) -> Response {
        if json {
            ApiError::new(self.status, self.message).into_response()
        } else {
            ReaderError::from(self).into_response()
        }
    }
}

impl From<Unreadable> for ReaderError {
    fn from(u: Unreadable) -> Self {
        ReaderError::page(u.status, "We could not read that", u.message)
    }
}

impl From<BytesRejection> for ReaderError {
    fn from(rejection: BytesRejection) -> Self {
        Unreadable::of(&rejection).into()
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

/// The query's fields; a query that does not parse is a 400 page.
fn query_fields(parts: &Parts) -> Result<HashMap<String, String>, ReaderError> {
    Query::<HashMap<String, String>>::try_from_uri(&parts.uri)
        .map(|Query(q)| q)
        .map_err(|r| {
            ReaderError::page(
                StatusCode::BAD_REQUEST,
                "We could not read that",
                r.body_text(),
            )
        })
}

/// A personal link opened: the token it carries and the query's other fields (`tag`).
/// An absent token is an empty one, which the service answers as a broken link.
pub(super) struct LinkQuery {
    pub token: String,
    pub query: HashMap<String, String>,
}

impl<S: Send + Sync> FromRequestParts<S> for LinkQuery {
    type Rejection = ReaderError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = query_fields(parts)?;
        let token = query.get("token").cloned().unwrap_or_default();
        Ok(Self { token, query })
    }
}

/// A form posted from a reader's page: the personal link's token (from the URL, else the
/// form's hidden field) and the form's fields. An empty body is an empty form; any other
/// body must be a form.
pub(super) struct LinkForm {
    pub token: String,
    pub fields: HashMap<String, String>,
}

impl LinkForm {
    /// The field's value, or "" when the form left it out.
    pub(super) fn field(&self, name: &str) -> &str {
        self.fields.get(name).map_or("", String::as_str)
    }
}

impl<S: Send + Sync> FromRequest<S> for LinkForm {
    type Rejection = ReaderError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        let from_url = query_fields(&parts)?.remove("token");
        let kind = body_kind(&parts.headers);
        let body = Bytes::from_request(Request::from_parts(parts, body), state).await?;
        let fields = if body.is_empty() {
            HashMap::new()
        } else if kind == BodyKind::Form {
            form_fields(&body)
        } else {
            return Err(Unreadable::UNSUPPORTED.into());
        };
        let token = from_url
            .or_else(|| fields.get("token").cloned())
            .unwrap_or_default();
        Ok(Self { token, fields })
    }
}

/// Refused by a rate limit: how long until the client may try again.
#[derive(Debug, Clone, Copy)]
pub(super) struct TooMany(pub Duration);

impl From<TooMany> for ReaderError {
    fn from(TooMany(wait): TooMany) -> Self {
        ReaderError::TooMany(wait)
    }
}

/// This client's rate-limit budget for the actions that cost us an email or a row. Each
/// action has its own bucket of `subscribers.rate_limit_per_minute`.
pub(super) struct Budget {
    app: App,
    limiter: RateLimiter,
    ip: IpAddr,
}

impl Budget {
    /// Takes one of `bucket`'s tokens, or says how long to wait for one.
    pub(super) fn spend(&self, bucket: &'static str) -> Result<(), TooMany> {
        let per_minute = self.app.config.subscribers.rate_limit_per_minute;
        self.limiter
            .check(self.ip, bucket, per_minute)
            .map_err(TooMany)
    }
}

impl FromRequestParts<App> for Budget {
    type Rejection = ReaderError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let Extension(limiter) = Extension::<RateLimiter>::from_request_parts(parts, app)
            .await
            .map_err(ReaderError::internal)?;
        let Ok(ClientIp(ip)) = ClientIp::from_request_parts(parts, app).await;
        Ok(Self {
            app: app.clone(),
            limiter,
            ip,
        })
    }
}
