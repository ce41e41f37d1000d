//! The global 413 middleware: oversized bodies get our error shape.

use axum::{
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};

use crate::app::App;

use super::{body::*, respond::*};
use crate::web::error::ApiError;

/// Bodies up to this size are read and discarded before a 413, so the client, which is
/// still sending, reliably gets the answer instead of a reset connection.
pub(super) const DRAIN_LIMIT: usize = 1024 * 1024;

/// Answers oversized requests with the JSON error shape or an error page (depending on
/// what the client sent) instead of the body limit's bare text.
pub async fn shape_too_large(
    State(app): State<App>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let json = wants_json(request.headers()) || request.uri().path().starts_with("/api/");
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    let response = match declared {
        Some(len) if len > crate::web::BODY_LIMIT => {
            if len <= DRAIN_LIMIT {
                let _ = axum::body::to_bytes(request.into_body(), DRAIN_LIMIT).await;
            }
            None
        }
        _ => Some(next.run(request).await),
    };
    if let Some(response) = response {
        let plain = response
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/plain"));
        if response.status() != StatusCode::PAYLOAD_TOO_LARGE || !plain {
            return response;
        }
    }
    let message = format!(
        "the request is larger than {} KiB",
        crate::web::BODY_LIMIT / 1024
    );
    if json {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, message).into_response()
    } else {
        error(
            &app,
            StatusCode::PAYLOAD_TOO_LARGE,
            "That was too much",
            &message,
        )
    }
}
