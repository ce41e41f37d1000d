//! Errors, one story per layer. This is the one place that tells it.
//!
//! - **Domain and store.** Parsing a domain type fails with that type's own error
//!   (`EmailError`, `TokenError`, …); the store answers [`crate::store::StoreError`]:
//!   `NotFound`, `Conflict`, `IllegalTransition`, or the database's own failure.
//! - **Services.** Work an operator runs (jobs, commands, loops) answers `anyhow::Result`
//!   with context. Where the caller must choose an answer, a service has a typed error:
//!   `subscribers::ServiceError` and `LinkError`, `accounts::LoginError`,
//!   `subscribers::upload::UploadError`.
//! - **Web.** Exactly two shapes leave a handler. JSON callers get [`ApiError`] (this
//!   module): `{"error": "…", "status": n}`, from the API, the webhooks and the reader's
//!   JSON sign-up alike. Pages get an HTML error page: [`crate::web::auth::PageError`] for
//!   the admin, `web::public::respond` for the reader's pages. Both have `From` the store
//!   error (a missing row is a 404; anything else is logged in full and answered with a
//!   generic 500), and `PageError` also `From<anyhow::Error>`, so handlers use `?`. A
//!   `PageError` made by `From` has no app to name the publication;
//!   [`crate::web::auth::name_pages`] fills that in on the way out.
//!
//! Nothing else writes an error body: a new handler returns one of these.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::json;

/// An API error: a status and a message a client developer can act on. Internal errors
/// are logged in full and answered with a generic message, so no detail leaks.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "a valid API token is required")
    }
    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error; the details are in the server log",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.message, "status": self.status.as_u16() });
        (self.status, Json(body)).into_response()
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        use crate::store::StoreError::*;
        match e {
            NotFound => Self::not_found("not found"),
            Conflict(m) => Self::new(StatusCode::CONFLICT, m),
            IllegalTransition(t) => Self::new(StatusCode::CONFLICT, t.to_string()),
            other => Self::internal(other),
        }
    }
}
