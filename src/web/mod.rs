//! HTTP: the only room that knows about requests and responses.

pub mod admin;
pub mod admin_doctor;
pub mod api;
pub mod api_auth;
pub mod archive;
pub mod auth;
pub mod brand;
pub mod error;
pub mod ops;
pub mod public;
pub mod rate_limit;
pub mod trace;
pub mod webhooks;

use std::{
    convert::Infallible, future::Future, net::SocketAddr, pin::Pin, sync::Arc, time::Duration,
};

use axum::{
    Router,
    body::Body,
    extract::ConnectInfo,
    http::{HeaderValue, StatusCode, header},
    response::Response,
};
use hyper::{body::Incoming, server::conn::http1};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::{Semaphore, watch},
    task::JoinSet,
};
use tower::ServiceExt;
use tower_http::{limit::RequestBodyLimitLayer, timeout::DeadlineBody, trace::TraceLayer};

use crate::{app::App, config::HttpConfig, shutdown::Shutdown};

/// Largest request body accepted anywhere except the CSV import, which sets its own.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Every route of the service.
pub fn router(app: App) -> Router {
    Router::new()
        .merge(ops::routes())
        .merge(admin::routes())
        .merge(admin::queue::routes())
        .merge(admin_doctor::routes())
        .merge(archive::routes())
        .merge(public::routes())
        .merge(api::routes())
        .merge(brand::routes())
        .layer(axum::middleware::from_fn(crate::ops::metrics::track_http))
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            public::shape_too_large,
        ))
        // The admin's file upload and the bounce webhooks set their own (larger) limits.
        .merge(webhooks::routes())
        .merge(admin::upload_routes())
        .merge(admin::branding_upload_routes())
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            brand::keep_fresh,
        ))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            error::render_deferred,
        ))
        .layer(axum::middleware::from_fn(trace::request_span))
        .layer(TraceLayer::new_for_http())
        .layer(axum::Extension(auth::LoginGate::new(&app.config.admin)))
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

/// How long a connection may keep sending after we answered and closed our side, and how
/// much of it we read: enough for a client that was mid-upload when we answered 413 to
/// get to read the answer instead of a reset connection.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 8 * 1024 * 1024;

/// Serves until `shutdown` fires, then finishes the requests in progress.
///
/// Our own accept loop rather than `axum::serve`, for what slow or hostile clients need:
/// at most `http.max_connections` at once (the rest wait in the kernel's backlog), headers
/// within `http.header_timeout_secs`, a body within `http.body_timeout_secs`, and a
/// lingering close so an early answer (413) is read rather than reset.
pub async fn serve(app: App, listener: TcpListener, shutdown: Shutdown) -> anyhow::Result<()> {
    if !app.config.metrics.listen.trim().is_empty() {
        serve_private_metrics(&app, shutdown.clone()).await?;
    }
    let limits = app.config.http.clone();
    let grace = Duration::from_secs(app.config.queue.shutdown_timeout_secs.max(1));
    let router = router(app);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (closing, closing_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    loop {
        let slot = tokio::select! {
            () = shutdown.clone().wait() => break,
            slot = slots.clone().acquire_owned() => slot?,
        };
        let (stream, peer) = tokio::select! {
            () = shutdown.clone().wait() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, usually: wait rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let (router, limits, closing_rx) = (router.clone(), limits.clone(), closing_rx.clone());
        connections.spawn(async move {
            serve_connection(stream, peer, router, &limits, closing_rx).await;
            drop(slot);
        });
        // Reap finished connections so the set does not grow.
        while connections.try_join_next().is_some() {}
    }
    let _ = closing.send(true);
    let finished = tokio::time::timeout(grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if finished.is_err() {
        tracing::warn!("requests still running at shutdown were cut off");
    }
    Ok(())
}

/// Binds `metrics.listen` and serves /metrics there (no token) until shutdown.
async fn serve_private_metrics(app: &App, shutdown: Shutdown) -> anyhow::Result<()> {
    let addr: SocketAddr = app.config.metrics.listen.trim().parse().map_err(|_| {
        anyhow::anyhow!(
            "metrics.listen {:?} is not an address:port",
            app.config.metrics.listen
        )
    })?;
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, "metrics.listen is not a loopback address: anyone who reaches it can read the metrics");
    }
    let listener = bind(addr).await?;
    let router = ops::private_routes().with_state(app.clone());
    tokio::spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(async move { shutdown.wait().await })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "the metrics listener failed");
        }
    });
    Ok(())
}

type Answer = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

/// One HTTP/1.1 connection: its requests, then a lingering close.
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: &HttpConfig,
    mut closing: watch::Receiver<bool>,
) {
    let body_deadline = Duration::from_secs(limits.body_timeout_secs.max(1));
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| -> Answer {
        let mut req = req.map(|body| Body::new(DeadlineBody::new(body_deadline, body)));
        req.extensions_mut().insert(ConnectInfo(peer));
        let router = router.clone();
        Box::pin(async move {
            let mut res = router.oneshot(req).await?;
            // The body was refused unread: say this connection ends, so the client does
            // not send its next request down a socket we are closing.
            if res.status() == StatusCode::PAYLOAD_TOO_LARGE {
                res.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Ok(res)
        })
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(limits.header_timeout_secs.max(1)));
    let mut conn = builder.serve_connection(TokioIo::new(stream), service);
    let mut asked_to_close = false;
    let served = loop {
        tokio::select! {
            served = std::future::poll_fn(|cx| conn.poll_without_shutdown(cx)) => break served,
            _ = closing.changed(), if !asked_to_close => {
                asked_to_close = true;
                Pin::new(&mut conn).graceful_shutdown();
            }
        }
    };
    // A header timeout or a broken connection: nothing more to say to this client.
    if served.is_err() {
        return;
    }
    linger(conn.into_parts().io.into_inner()).await;
}

/// Closes our side first, then reads (and drops) what the client still sends for a
/// moment: closing a socket with unread data makes the kernel send a reset, which can
/// destroy the answer the client has not read yet.
async fn linger(mut stream: TcpStream) {
    if stream.shutdown().await.is_err() {
        return;
    }
    let mut buf = vec![0u8; 16 * 1024];
    let mut drained = 0;
    let _ = tokio::time::timeout(LINGER, async {
        while drained < LINGER_BYTES {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
    })
    .await;
}
