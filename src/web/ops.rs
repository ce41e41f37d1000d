//! Endpoints for operators and their tools: health.

use axum::{Json, Router, extract::State, http::StatusCode, routing::get};
use serde_json::{Value, json};

use crate::app::App;

pub fn routes() -> Router<App> {
    Router::new().route("/healthz", get(healthz))
}

/// Liveness: the process answers and its database does.
async fn healthz(State(app): State<App>) -> (StatusCode, Json<Value>) {
    match app.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({ "status": "ok", "database": "ok" })),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "database": e.to_string() })),
            )
        }
    }
}
