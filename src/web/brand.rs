//! `/brand/logo/{id}-{hash}`: an uploaded logo, served with the type found in its bytes
//! when it was uploaded, `nosniff`, and a policy that lets it run nothing; the site's
//! icon in the accent colour; and the middleware that keeps this process's copy of the
//! look fresh.

use axum::{
    Router,
    extract::{Path, Request, State},
    http::{StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
};

use crate::app::App;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/brand/logo/{key}", get(logo))
        // Browsers ask for /favicon.ico whatever the page links; both get the SVG.
        .route("/favicon.svg", get(favicon))
        .route("/favicon.ico", get(favicon))
}

/// Before a request is handled, reloads the look if this process's copy is older than
/// [`crate::brand::MAX_AGE_MS`], so a save in another process shows within seconds.
pub async fn keep_fresh(State(app): State<App>, request: Request, next: Next) -> Response {
    app.look.fresh(&app).await;
    next.run(request).await
}

/// The icon in the current accent; cached for an hour, so a new accent shows soon.
async fn favicon(State(app): State<App>) -> Response {
    let svg = app.look.current().brand.favicon_svg();
    // Its own inline style is all an SVG opened on its own may use.
    inert_image(
        svg.into_bytes(),
        "image/svg+xml",
        "default-src 'none'; style-src 'unsafe-inline'; sandbox",
        "public, max-age=3600",
    )
}

/// A picture served so that it can run nothing and be read as nothing else: its type,
/// `nosniff`, a sandboxing policy and how long it may be cached.
fn inert_image(
    bytes: Vec<u8>,
    kind: &'static str,
    policy: &'static str,
    cache: &'static str,
) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CONTENT_SECURITY_POLICY, policy),
            (header::CACHE_CONTROL, cache),
        ],
        bytes,
    )
        .into_response()
}

async fn logo(State(app): State<App>, Path(key): Path<String>) -> Response {
    let Some((id, hash)) = key.split_once('-') else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Ok(id) = id.parse::<i64>() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let asset = match app.store.brand_asset(id).await {
        Ok(Some(a)) if !hash.is_empty() && a.sha256.starts_with(hash) => a,
        Ok(_) => return StatusCode::NOT_FOUND.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot read an uploaded logo");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    // Only the types the upload check lets in; anything else in the row is not served.
    let Some(kind) = crate::brand::logo::sniff(&asset.bytes) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    // The address changes with the file, so it never goes stale.
    inert_image(
        asset.bytes,
        kind,
        "default-src 'none'; sandbox",
        "public, max-age=31536000, immutable",
    )
}
