//! Who is calling the JSON API, and what they may do.
//!
//! Two credentials exist: the bearer token from `admin.api_token` (full access), and
//! personal tokens (looked up by their keyed hash in `api_tokens`), which act with their
//! owner's role — an operator's token reads, as the operator's web admin does — and may be
//! narrowed to read-only, or expire. Every handler asks [`ApiAuth::require_change`]
//! before it changes anything, so no route can forget the check for a token kind.

use axum::{
    extract::FromRequestParts,
    http::{HeaderMap, StatusCode, header::AUTHORIZATION, request::Parts},
};

use super::error::ApiError;
use crate::{
    app::App,
    store::users::{AdminRole, ApiAccess},
};

/// The authenticated caller of an API request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// Holder of the configured `admin.api_token`: full access.
    ConfigToken,
    /// A personal token created in the admin or with `breakfast users token`: acts as
    /// that admin.
    Personal {
        user_id: i64,
        role: AdminRole,
        access: ApiAccess,
    },
}

impl Principal {
    /// Whether this caller may add, unsubscribe or erase subscribers: what the web admin
    /// allows editors only.
    pub fn may_change(&self) -> bool {
        match self {
            Principal::ConfigToken => true,
            Principal::Personal { role, access, .. } => {
                *access == ApiAccess::Full && role.can_edit()
            }
        }
    }
}

/// Extractor for API handlers: rejects with 401 (JSON) unless a valid bearer token came.
#[derive(Debug, Clone)]
pub struct ApiAuth {
    pub principal: Principal,
}

impl FromRequestParts<App> for ApiAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers).ok_or_else(ApiError::unauthorized)?;
        match authenticate(app, token).await? {
            Some(principal) => Ok(ApiAuth { principal }),
            None => Err(ApiError::unauthorized()),
        }
    }
}

impl ApiAuth {
    /// Refuses (403, JSON) a caller whose token only reads or whose owner is an operator.
    pub fn require_change(&self) -> Result<(), ApiError> {
        if self.principal.may_change() {
            return Ok(());
        }
        let why = match &self.principal {
            Principal::Personal {
                access: ApiAccess::Read,
                ..
            } => "this API token is read-only",
            _ => {
                "this API token belongs to an operator, who may read subscribers but not change them"
            }
        };
        Err(ApiError::new(StatusCode::FORBIDDEN, why))
    }
}

/// The token of an `Authorization: Bearer …` header (scheme in any case), if there is
/// one: the API's tokens and the `/metrics` token are both read with it.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
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
    let found = app.store.api_token_user(&hash, app.now_ms()).await?;
    Ok(found.map(|(u, access)| Principal::Personal {
        user_id: u.id,
        role: u.role,
        access,
    }))
}
