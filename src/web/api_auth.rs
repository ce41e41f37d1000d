//! Who is calling the JSON API.
//!
//! Today one credential exists: the operator's bearer token from `admin.api_token`. The
//! extractor returns a [`Principal`] rather than a bare "yes", so that personal API tokens
//! (looked up by their hash in `api_tokens`) can be added as another variant and another
//! branch in [`authenticate`] without touching the handlers that take `ApiAuth`.

use axum::{
    extract::FromRequestParts,
    http::{header::AUTHORIZATION, request::Parts},
};

use super::error::ApiError;
use crate::app::App;

/// The authenticated caller of an API request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// Holder of the configured `admin.api_token`: full access.
    ConfigToken,
    /// A personal token created in the admin or with `breakfast users token`: acts as
    /// that admin.
    Personal {
        user_id: i64,
        role: crate::store::users::AdminRole,
    },
}

/// Extractor for API handlers: rejects with 401 (JSON) unless a valid bearer token came.
#[derive(Debug, Clone)]
pub struct ApiAuth {
    pub principal: Principal,
}

impl FromRequestParts<App> for ApiAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or_else(ApiError::unauthorized)?;
        match authenticate(app, token).await? {
            Some(principal) => Ok(ApiAuth { principal }),
            None => Err(ApiError::unauthorized()),
        }
    }
}

/// The token of an `Authorization: Bearer …` header, if there is one.
fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Maps a presented token to a principal. Comparison is of keyed hashes, so the time it
/// takes says nothing about how much of the token was right.
pub async fn authenticate(app: &App, token: &str) -> Result<Option<Principal>, ApiError> {
    let configured = &app.config.admin.api_token;
    if !configured.is_empty()
        && app.signer.fingerprint(token) == app.signer.fingerprint(configured.expose())
    {
        return Ok(Some(Principal::ConfigToken));
    }
    let hash = app.signer.fingerprint(token);
    let user = app.store.api_token_user(&hash, app.now_ms()).await?;
    Ok(user.map(|u| Principal::Personal {
        user_id: u.id,
        role: u.role,
    }))
}
