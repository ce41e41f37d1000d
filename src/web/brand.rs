//! `/brand/logo/{id}-{hash}`: an uploaded logo, served with the type found in its bytes
//! when it was uploaded, `nosniff`, and a policy that lets it run nothing; the site's
//! icon in the accent colour; and the middleware that keeps this process's copy of the
//! look fresh.

use axum::{
    Router,
    extract::{Path, Request, State},
    http::{HeaderValue, StatusCode, header},
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
    let mut response = svg.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("image/svg+xml"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; sandbox"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
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
    let mut response = asset.bytes.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    // The address changes with the file, so it never goes stale.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    response
}
