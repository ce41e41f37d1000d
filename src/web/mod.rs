//! HTTP: the only room that knows about requests and responses.

pub mod admin;
pub mod admin_queue;
pub mod api;
pub mod api_auth;
pub mod archive;
pub mod auth;
pub mod error;
pub mod ops;
pub mod public;
pub mod rate_limit;

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;
use tower_http::{limit::RequestBodyLimitLayer, trace::TraceLayer};

use crate::{app::App, shutdown::Shutdown};

/// Largest request body accepted anywhere except the CSV import, which sets its own.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Every route of the service.
pub fn router(app: App) -> Router {
    Router::new()
        .merge(ops::routes())
        .merge(admin::routes())
        .merge(admin_queue::routes())
        .merge(archive::routes())
        .merge(public::routes())
        .merge(api::routes())
        .layer(axum::middleware::from_fn(crate::ops::metrics::track_http))
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            public::shape_too_large,
        ))
        // The admin's file upload sets and enforces its own (much larger) limit.
        .merge(admin::upload_routes())
        .layer(TraceLayer::new_for_http())
        .with_state(app)
}

/// Binds the listen address first, so that a port already in use is reported before
/// anything else is created.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| match e.kind() {
        std::io::ErrorKind::AddrInUse => {
            anyhow::anyhow!("cannot listen on {addr}: the port is already in use")
        }
        _ => anyhow::anyhow!("cannot listen on {addr}: {e}"),
    })
}

/// Serves until `shutdown` fires, then finishes the requests in progress.
pub async fn serve(app: App, listener: TcpListener, shutdown: Shutdown) -> anyhow::Result<()> {
    let router = router(app);
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move { shutdown.wait().await })
    .await
    .map_err(|e| anyhow::anyhow!("web server failed: {e}"))
}
