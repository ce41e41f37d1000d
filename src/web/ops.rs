//! Endpoints for operators and their tools: liveness, readiness, Prometheus metrics.

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::{Value, json};

use crate::{app::App, domain::token::constant_time_eq, ops::metrics};

pub fn routes() -> Router<App> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
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

/// Readiness: able to do the job, not just alive — the database answers, this binary's
/// migrations are all applied, and mail can leave (SMTP answers, or the outbox is
/// writable). Each check is reported by name so the operator knows which one failed.
async fn readyz(State(app): State<App>) -> (StatusCode, Json<Value>) {
    let database = app.store.ping().await.map_err(|e| e.to_string());
    let migrations = match &database {
        Ok(()) => match app.store.migrations_applied().await {
            Ok(true) => Ok(()),
            Ok(false) => Err("migrations pending: run `breakfast migrate`".to_string()),
            Err(e) => Err(e.to_string()),
        },
        Err(_) => Err("database unreachable".to_string()),
    };
    let mail = app.mailer.check().await;
    let ready = database.is_ok() && migrations.is_ok() && mail.is_ok();
    if !ready {
        tracing::warn!(?database, ?migrations, ?mail, "readiness check failed");
    }
    let word = |r: &Result<(), String>| match r {
        Ok(()) => "ok".to_string(),
        Err(e) => e.clone(),
    };
    let body = json!({
        "status": if ready { "ok" } else { "unavailable" },
        "database": word(&database),
        "migrations": word(&migrations),
        "mail": word(&mail),
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

/// The Prometheus text format on the main address: only with `metrics.token`, sent as a
/// Bearer token. The numbers tell whether an address just signed up or was already
/// subscribed, so they are never open to strangers; without a token they are served only
/// on `metrics.listen` ([`private_routes`]).
async fn metrics_text(State(app): State<App>, headers: HeaderMap) -> Response {
    if app.config.metrics.token.is_empty() {
        return (
            StatusCode::NOT_FOUND,
            "metrics are not served here: set metrics.token, or metrics.listen for a loopback-only address\n",
        )
            .into_response();
    }
    if !metrics_allowed(&app, &headers) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "a valid metrics token is required\n",
        )
            .into_response();
    }
    render_metrics(&app).await
}

/// Only /metrics, without a token, for the separate `metrics.listen` address.
pub fn private_routes() -> Router<App> {
    Router::new().route(
        "/metrics",
        get(|State(app): State<App>| async move { render_metrics(&app).await }),
    )
}

async fn render_metrics(app: &App) -> Response {
    match metrics::render(app).await {
        Some(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics are unavailable: another recorder is installed in this process\n",
        )
            .into_response(),
    }
}

fn metrics_allowed(app: &App, headers: &HeaderMap) -> bool {
    let token = &app.config.metrics.token;
    if token.is_empty() {
        return false;
    }
    super::api_auth::bearer(headers)
        .is_some_and(|given| constant_time_eq(given.as_bytes(), token.expose().as_bytes()))
}
