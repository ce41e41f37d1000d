//! Who is asking: admin sessions, roles, CSRF, and the per-client sign-in gate. Accounts,
//! password rules and lock-out are the [`crate::accounts`] service's; they are re-exported
//! here for the handlers (and older callers) that name them through this module.
//!
//! A session is a random token in an HttpOnly cookie; the database keeps only its keyed
//! hash, with a per-session CSRF token that every admin form echoes back in a hidden
//! field named [`CSRF_FIELD`]. Handlers ask for [`RequireEditor`] or [`RequireOperator`]
//! (or plain [`CurrentUser`]) and never look at cookies themselves.
//!
//! ```ignore
//! async fn retry(State(app): State<App>, RequireOperator(user): RequireOperator, Form(f): Form<F>)
//!     -> Result<Redirect, PageError> {
//!     verify_csrf(&app, &user, f.csrf.as_deref())?;
//!     …
//! }
//! ```

use axum::{
    extract::{FromRef, FromRequestParts, OptionalFromRequestParts},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Redirect, Response},
};
use templates::page::{PageMeta, error_page};

use std::{net::IpAddr, sync::Arc, time::Duration};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::rate_limit::RateLimiter;
pub use crate::{
    accounts::{
        LoginError, authenticate, check_new_password, hash_password, new_api_token, verify_password,
    },
    domain::token::constant_time_eq,
};
use crate::{
    app::App,
    config::AdminConfig,
    domain::token::random_secret,
    store::{
        StoreError,
        users::{AdminRole, AdminUser},
    },
    subscribers::{ServiceError, upload::UploadError},
};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "breakfast_admin";
/// A cookie holding the login form's CSRF token, before any session exists.
pub const LOGIN_CSRF_COOKIE: &str = "breakfast_login";
/// The hidden form field every admin form carries.
pub const CSRF_FIELD: &str = "csrf";
/// Where people are sent to sign in.
pub const LOGIN_PATH: &str = "/admin/login";

/// The signed-in admin. `csrf` is the token their forms must carry.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub id: i64,
    pub email: String,
    pub role: AdminRole,
    pub csrf: String,
}

impl CurrentUser {
    pub fn is_editor(&self) -> bool {
        self.role.can_edit()
    }
}

/// Any signed-in admin: operators and editors (operator = queue and subscribers).
#[derive(Debug, Clone)]
pub struct RequireOperator(pub CurrentUser);

/// An editor: everything, including editing and sending. Operators get 403.
#[derive(Debug, Clone)]
pub struct RequireEditor(pub CurrentUser);

/// An error answered with an HTML page in the site's shell (boxed: it travels in `Err`).
#[derive(Debug, Clone)]
pub struct PageError(pub Box<PageErrorBody>);

#[derive(Debug, Clone)]
pub struct PageErrorBody {
    pub status: StatusCode,
    pub heading: String,
    pub message: String,
    pub publication: String,
    /// A way on: (label, href).
    pub link: Option<(String, String)>,
}

/// What the 500 page says; the detail is in the log.
const INTERNAL_MESSAGE: &str = "The request could not be completed; the details are in the \
                                server log. Nothing was sent.";

impl PageError {
    pub fn new(
        app: &App,
        status: StatusCode,
        heading: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::for_publication(app.config.newsletter.name.clone(), status, heading, message)
    }

    /// A page in the shell of `publication`; empty when the app is not at hand, and then
    /// the page is named on the way out (see `IntoResponse`).
    fn for_publication(
        publication: String,
        status: StatusCode,
        heading: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self(Box::new(PageErrorBody {
            status,
            heading: heading.into(),
            message: message.into(),
            publication,
            link: Some(("Back to the admin".into(), "/admin".into())),
        }))
    }

    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    /// Replaces the "way on" link.
    pub fn with_link(mut self, label: &str, href: &str) -> Self {
        self.0.link = Some((label.into(), href.into()));
        self
    }

    pub fn forbidden(app: &App) -> Self {
        Self::new(
            app,
            StatusCode::FORBIDDEN,
            "You cannot do that",
            "Your account is an operator account: it can see the queue and the subscribers, \
             but only editors can change or send digests. Ask an editor if this needs doing.",
        )
    }

    pub fn csrf(app: &App) -> Self {
        Self::new(
            app,
            StatusCode::FORBIDDEN,
            "This form has expired",
            "The form was missing its security token or was sent from another page, so \
             nothing was changed. Go back, reload the page and try again.",
        )
    }

    pub fn not_found(app: &App, what: &str) -> Self {
        Self::new(
            app,
            StatusCode::NOT_FOUND,
            "Not found",
            format!("There is no such {what}."),
        )
    }

    /// A form field over its length limit: 400, and `message` says the limit and that
    /// nothing was saved.
    pub fn too_long(app: &App, message: impl Into<String>) -> Self {
        Self::new(app, StatusCode::BAD_REQUEST, "Too long", message)
    }
}

impl From<anyhow::Error> for PageError {
    /// For `?` in handlers: logged in full, answered with the generic 500 page.
    fn from(error: anyhow::Error) -> Self {
        internal_page(format!("{error:#}"))
    }
}

impl From<StoreError> for PageError {
    /// For `?` in handlers: a missing row is a 404 page, anything else a logged 500.
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => PageError::for_publication(
                String::new(),
                StatusCode::NOT_FOUND,
                "Not found",
                "There is no such page.",
            ),
            other => internal_page(other.to_string()),
        }
    }
}

impl From<ServiceError> for PageError {
    /// For `?` in handlers, once they have answered the failures a person can act on
    /// with their own page: a store error as `From<StoreError>` answers it, anything
    /// else a logged 500.
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::Store(e) => e.into(),
            other => internal_page(other.to_string()),
        }
    }
}

impl From<UploadError> for PageError {
    /// For `?` in the import handlers, once they have answered a refused file with the
    /// upload page: a store error as `From<StoreError>` answers it, anything else a
    /// logged 500.
    fn from(error: UploadError) -> Self {
        match error {
            UploadError::Store(e) => e.into(),
            other => internal_page(other.to_string()),
        }
    }
}

impl From<std::io::Error> for PageError {
    /// For `?` where a handler reads a file of ours (an upload kept for import): it is
    /// never the person's doing, so a logged 500.
    fn from(error: std::io::Error) -> Self {
        internal_page(error.to_string())
    }
}

/// The 500 page, made without the app at hand: named on the way out.
fn internal_page(error: String) -> PageError {
    tracing::error!(%error, "admin request failed");
    PageError::for_publication(
        String::new(),
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        INTERNAL_MESSAGE,
    )
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        if self.0.publication.is_empty() {
            // Made by `From`, without the app: named and rendered on the way out.
            let mut body = *self.0;
            return crate::web::error::defer(body.status, no_store(), move |app| {
                body.publication = app.config.newsletter.name.clone();
                render(body)
            });
        }
        render(*self.0)
    }
}

/// The error page in the site's shell, never cached.
fn render(e: PageErrorBody) -> Response {
    let meta = PageMeta {
        title: e.heading.clone(),
        publication: e.publication.clone(),
        flash: None,
        noindex: true,
        ..Default::default()
    };
    let link = e.link.as_ref().map(|(l, h)| (l.as_str(), h.as_str()));
    let body = error_page(&meta, e.status.as_u16(), &e.heading, &e.message, link);
    (e.status, no_store(), body).into_response()
}

/// Admin pages show private data: never cache them, and never let another site frame
/// them (a framed admin button can be clicked through a decoy).
pub fn no_store() -> [(header::HeaderName, &'static str); 2] {
    [
        (header::CACHE_CONTROL, "no-store"),
        (header::X_FRAME_OPTIONS, "SAMEORIGIN"),
    ]
}

/// Why a request could not be tied to an admin.
#[derive(Debug)]
pub enum AuthRejection {
    /// Not signed in (or the session expired): off to the login page, then back.
    SignIn {
        next: String,
        expired: bool,
    },
    Page(PageError),
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        match self {
            AuthRejection::SignIn { next, expired } => {
                let mut url = format!(
                    "{LOGIN_PATH}?next={}",
                    percent_encoding::utf8_percent_encode(
                        &next,
                        percent_encoding::NON_ALPHANUMERIC
                    )
                );
                if expired {
                    url.push_str("&expired=1");
                }
                let mut res = Redirect::to(&url).into_response();
                if expired {
                    res.headers_mut()
                        .append(header::SET_COOKIE, clear_cookie(SESSION_COOKIE));
                }
                res
            }
            AuthRejection::Page(p) => p.into_response(),
        }
    }
}

impl<S> FromRequestParts<S> for CurrentUser
where
    App: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let app = App::from_ref(state);
        let next = return_path(parts);
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(AuthRejection::SignIn {
                next,
                expired: false,
            });
        };
        let hash = app.signer.fingerprint(&token);
        let session = app
            .store
            .admin_session(&hash)
            .await
            .map_err(|e| AuthRejection::Page(e.into()))?;
        let Some(session) = session else {
            return Err(AuthRejection::SignIn {
                next,
                expired: true,
            });
        };
        if session.expires_at <= app.now_ms() {
            let _ = app.store.delete_admin_session(&hash).await;
            return Err(AuthRejection::SignIn {
                next,
                expired: true,
            });
        }
        Ok(CurrentUser {
            id: session.user.id,
            email: session.user.email,
            role: session.user.role,
            csrf: session.csrf_token,
        })
    }
}

/// For pages that look different when someone is signed in (the login page).
impl<S> OptionalFromRequestParts<S> for CurrentUser
where
    App: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        match <CurrentUser as FromRequestParts<S>>::from_request_parts(parts, state).await {
            Ok(user) => Ok(Some(user)),
            Err(AuthRejection::SignIn { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// The signed-in user, if their role passes `allowed`; a 403 page otherwise. The one check
/// behind [`RequireOperator`] and [`RequireEditor`].
async fn signed_in_with<S>(
    parts: &mut Parts,
    state: &S,
    allowed: fn(AdminRole) -> bool,
) -> Result<CurrentUser, AuthRejection>
where
    App: FromRef<S>,
    S: Send + Sync,
{
    let user = <CurrentUser as FromRequestParts<S>>::from_request_parts(parts, state).await?;
    if !allowed(user.role) {
        return Err(AuthRejection::Page(PageError::forbidden(&App::from_ref(
            state,
        ))));
    }
    Ok(user)
}

/// What a role requirement proves: who is signed in.
pub trait SignedIn {
    fn user(&self) -> &CurrentUser;
}

impl SignedIn for CurrentUser {
    fn user(&self) -> &CurrentUser {
        self
    }
}

/// The extractor of a role requirement: the signed-in user, if `allowed` by their role.
macro_rules! require_role {
    ($requirement:ident, $allowed:path) => {
        impl SignedIn for $requirement {
            fn user(&self) -> &CurrentUser {
                &self.0
            }
        }

        impl FromRequestParts<App> for $requirement {
            type Rejection = AuthRejection;

            async fn from_request_parts(
                parts: &mut Parts,
                app: &App,
            ) -> Result<Self, Self::Rejection> {
                signed_in_with(parts, app, $allowed).await.map($requirement)
            }
        }
    };
}

require_role!(RequireOperator, AdminRole::can_operate);
require_role!(RequireEditor, AdminRole::can_edit);

/// Refuses a form whose CSRF token is missing or is not this session's (403 page).
pub fn verify_csrf(
    app: &App,
    user: &CurrentUser,
    submitted: Option<&str>,
) -> Result<(), PageError> {
    match submitted {
        Some(s) if constant_time_eq(s.trim().as_bytes(), user.csrf.as_bytes()) => Ok(()),
        _ => Err(PageError::csrf(app)),
    }
}

/// Where to come back to after signing in: this request's path, if it is a page.
fn return_path(parts: &Parts) -> String {
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/admin");
    if parts.method == axum::http::Method::GET {
        safe_next(Some(path))
    } else {
        "/admin".into()
    }
}

/// Only our own admin pages are allowed as a post-login destination (no open redirect).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with("/admin")
                && !n.starts_with(LOGIN_PATH)
                && !n.contains("//")
                && !n.contains('\\') =>
        {
            n.to_string()
        }
        _ => "/admin".into(),
    }
}

/// The value of cookie `name` from the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"').to_string())
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value for a cookie only our pages may read and only our site may send.
pub fn set_cookie(app: &App, name: &str, value: &str, max_age_secs: i64) -> HeaderValue {
    let secure = if app.config.is_https() {
        "; Secure"
    } else {
        ""
    };
    let v =
        format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}");
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

pub fn clear_cookie(name: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{name}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A new session for `user`: returns the cookie to set.
pub async fn start_session(app: &App, user: &AdminUser) -> anyhow::Result<HeaderValue> {
    let token = random_secret();
    let csrf = random_secret();
    let now = app.now_ms();
    let hours = i64::from(app.config.admin.session_hours.max(1));
    let expires = now + hours * 3_600_000;
    app.store
        .insert_admin_session(
            &app.signer.fingerprint(&token),
            user.id,
            &csrf,
            now,
            expires,
        )
        .await?;
    Ok(set_cookie(app, SESSION_COOKIE, &token, hours * 3600))
}

/// Ends the session named by the request's cookie, if any.
pub async fn end_session(app: &App, headers: &HeaderMap) -> anyhow::Result<()> {
    if let Some(token) = cookie(headers, SESSION_COOKIE) {
        app.store
            .delete_admin_session(&app.signer.fingerprint(&token))
            .await?;
    }
    Ok(())
}

/// Bounds the cost of sign-ins for the whole process: a per-client budget spent before
/// any hashing, and a few argon2 checks at a time (each holds ~19 MiB while it runs, so a
/// flood of logins costs a queue, not gigabytes).
#[derive(Clone)]
pub struct LoginGate {
    checks: Arc<Semaphore>,
    per_client: RateLimiter,
    wait: Duration,
    per_minute: u32,
}

/// Why a sign-in was turned away before its password was looked at.
#[derive(Debug)]
pub enum Refusal {
    /// This client has used its budget of attempts; try again after this long.
    Throttled(Duration),
    /// Every check is busy and none came free in time.
    Busy,
}

impl LoginGate {
    pub fn new(config: &AdminConfig) -> Self {
        LoginGate {
            checks: Arc::new(Semaphore::new(config.login_concurrency.max(1))),
            per_client: RateLimiter::new(),
            wait: Duration::from_millis(config.login_wait_ms),
            per_minute: config.login_per_minute,
        }
    }

    /// A turn to check a password, held until the returned permit is dropped.
    pub async fn admit(&self, client: IpAddr) -> Result<OwnedSemaphorePermit, Refusal> {
        self.per_client
            .check(client, "login", self.per_minute)
            .map_err(Refusal::Throttled)?;
        match tokio::time::timeout(self.wait, self.checks.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(Refusal::Busy),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_only_local_admin_pages() {
        assert_eq!(safe_next(Some("/admin/schedule")), "/admin/schedule");
        assert_eq!(safe_next(Some("https://evil.example/")), "/admin");
        assert_eq!(safe_next(Some("/admin//evil.example")), "/admin");
        assert_eq!(safe_next(Some("/admin/login?next=x")), "/admin");
        assert_eq!(safe_next(None), "/admin");
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; breakfast_admin=xyz"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("xyz"));
        assert_eq!(cookie(&h, "b"), None);
    }
}
