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
//!   the admin, `web::public::ReaderError` for the reader's pages. `PageError` has `From`
//!   the store error (a missing row is a 404; anything else is logged in full and answered
//!   with a generic 500), `From` the services' `ServiceError` and `UploadError` (their
//!   store errors as above, the rest a 500: a handler answers what a person can fix
//!   first), `From<std::io::Error>` and `From<anyhow::Error>` (both a 500);
//!   `ReaderError` has `From` the subscribers service's error (a link that does not work
//!   gets the page that says why), so handlers use `?`.
//! - **Rendered on the way out.** An error made by `From` has no app at hand, and a page
//!   needs the publication's name and look. Such an error answers a placeholder with its
//!   status ([`defer`]); [`render_deferred`], a layer around every route, renders it with
//!   the app. One mechanism for both page errors.
//!
//! Nothing else writes an error body: a new handler returns one of these.

use std::sync::{Arc, Mutex};

use axum::{
    Json,
    extract::{Request, State},
    http::StatusCode,
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::app::App;

/// How a page made without the app is rendered once the app is at hand.
type Render = Box<dyn FnOnce(&App) -> Response + Send>;

/// The placeholder's mark: the page still to render. (Response extensions must be
/// `Clone + Sync`; the render runs once, so it is taken out of the shared slot.)
#[derive(Clone)]
struct Deferred(Arc<Mutex<Option<Render>>>);

/// A placeholder answer with `status` (what the layers in between see, metrics among
/// them) whose page [`render_deferred`] renders with the app on the way out.
pub fn defer(
    status: StatusCode,
    headers: impl IntoResponse,
    render: impl FnOnce(&App) -> Response + Send + 'static,
) -> Response {
    let mut response = (status, headers).into_response();
    let render: Render = Box::new(render);
    response
        .extensions_mut()
        .insert(Deferred(Arc::new(Mutex::new(Some(render)))));
    response
}

/// The layer that renders the pages [`defer`] left for it; any other answer passes.
pub async fn render_deferred(State(app): State<App>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let render = response
        .extensions_mut()
        .remove::<Deferred>()
        .and_then(|Deferred(slot)| slot.lock().unwrap_or_else(|p| p.into_inner()).take());
    match render {
        Some(render) => render(&app),
        None => response,
    }
}

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
