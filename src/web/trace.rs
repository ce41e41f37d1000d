//! One span per HTTP request, so that a request's log lines can be followed: a fresh
//! request id (sent back in the `X-Request-Id` header, for a user's bug report), the method
//! and the route pattern. Never the raw path or query, which carry tokens, and nothing
//! about who is asking.

use axum::{
    extract::{MatchedPath, Request},
    http::HeaderValue,
    middleware::Next,
    response::Response,
};
use tracing::Instrument;

/// The response header that names the request's span.
pub const REQUEST_ID: &str = "x-request-id";

/// Runs the request inside its span and names the span in the response. The id is ours,
/// never the client's, so a log line cannot be made to carry a chosen id.
pub async fn request_span(request: Request, next: Next) -> Response {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let span = tracing::info_span!("request", id = %id, method = %request.method(), route = %route);
    let mut response = next.run(request).instrument(span).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}
