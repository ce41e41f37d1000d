//! Who is asking: admin sessions, roles, CSRF, passwords.
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

use argon2::{
    Algorithm, Argon2, Block, Params, Version,
    password_hash::{PasswordHasher, phc::PasswordHash},
};
use axum::{
    extract::{FromRef, FromRequestParts, OptionalFromRequestParts},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Redirect, Response},
};
use templates::page::{PageMeta, error_page};

use std::{net::IpAddr, sync::Arc, time::Duration};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::rate_limit::RateLimiter;
use crate::{
    app::App,
    config::AdminConfig,
    domain::token::random_secret,
    store::users::{AdminRole, AdminUser},
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

impl PageError {
    pub fn new(
        app: &App,
        status: StatusCode,
        heading: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self(Box::new(PageErrorBody {
            status,
            heading: heading.into(),
            message: message.into(),
            publication: app.config.newsletter.name.clone(),
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

    /// Logs the detail; the page says only that something went wrong.
    pub fn internal(app: &App, error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "admin request failed");
        Self::new(
            app,
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "The request could not be completed; the details are in the server log. \
             Nothing was sent.",
        )
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let e = *self.0;
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
            .map_err(|e| AuthRejection::Page(PageError::internal(&app, e)))?;
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

impl<S> FromRequestParts<S> for RequireOperator
where
    App: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let user = <CurrentUser as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        if !user.role.can_operate() {
            return Err(AuthRejection::Page(PageError::forbidden(&App::from_ref(
                state,
            ))));
        }
        Ok(RequireOperator(user))
    }
}

impl<S> FromRequestParts<S> for RequireEditor
where
    App: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let user = <CurrentUser as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        if !user.role.can_edit() {
            return Err(AuthRejection::Page(PageError::forbidden(&App::from_ref(
                state,
            ))));
        }
        Ok(RequireEditor(user))
    }
}

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

/// Compares without returning early, so the time taken says nothing about the token.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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

/// Why a login was refused, in words for the login form.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("That email address and password do not match an account.")]
    BadCredentials,
    /// The password was checked and was wrong, and that was the window's last attempt.
    #[error(
        "That email address and password do not match an account. Too many failed attempts: sign-in with this address from your network is locked for {minutes} more minute(s). Try again later, or ask someone to reset the password with `breakfast users passwd`."
    )]
    LastAttempt { minutes: i64 },
    /// Refused without checking the password.
    #[error(
        "Too many failed attempts: sign-in with this address from your network is locked for {minutes} more minute(s). Try again later, or ask someone to reset the password with `breakfast users passwd`."
    )]
    Locked { minutes: i64 },
    #[error("{0}")]
    Internal(#[from] anyhow::Error),
}

/// Checks a password for a sign-in from `client`.
///
/// The attempt is reserved in the store *before* the password is checked, per (address
/// typed, client): at most `admin.max_failed_logins` checks per `admin.lockout_minutes`
/// window, however many guesses arrive at once, and a stranger's guesses lock out only the
/// stranger. Unknown addresses take the same path — reservation, an argon2 check against
/// a dummy hash, the same answers — so nothing tells them apart from real accounts.
pub async fn authenticate(
    app: &App,
    email: &str,
    password: &str,
    client: IpAddr,
) -> Result<AdminUser, LoginError> {
    let now = app.now_ms();
    let window_ms = i64::from(app.config.admin.lockout_minutes.max(1)) * 60_000;
    let window_cutoff = now - window_ms;
    let max = i64::from(app.config.admin.max_failed_logins.max(1));
    let client = client.to_string();
    let minutes_left = |start: i64| ((start + window_ms - now).max(0) + 59_999) / 60_000;
    let store = &app.store;
    store
        .prune_login_attempts(window_cutoff)
        .await
        .map_err(anyhow::Error::from)?;
    let attempt = store
        .reserve_login_attempt(email, &client, now, window_cutoff, max)
        .await
        .map_err(anyhow::Error::from)?;
    let Some(attempt) = attempt else {
        let start = store
            .login_window_start(email, &client)
            .await
            .map_err(anyhow::Error::from)?
            .unwrap_or(now);
        return Err(LoginError::Locked {
            minutes: minutes_left(start).max(1),
        });
    };
    let user = store
        .admin_user_by_email(email)
        .await
        .map_err(anyhow::Error::from)?;
    let hash = user
        .as_ref()
        .map_or_else(|| DUMMY_HASH.to_string(), |u| u.password_hash.clone());
    let matches = verify_password(password.to_string(), hash).await;
    match user {
        Some(user) if matches => {
            store
                .clear_login_attempts(email, &client)
                .await
                .map_err(anyhow::Error::from)?;
            store
                .record_successful_login(user.id, now)
                .await
                .map_err(anyhow::Error::from)?;
            Ok(user)
        }
        _ if attempt >= max => Err(LoginError::LastAttempt {
            minutes: i64::from(app.config.admin.lockout_minutes.max(1)),
        }),
        _ => Err(LoginError::BadCredentials),
    }
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

/// A valid argon2id hash of a random password, for timing-equal refusals.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$1n4DuyR7pHbJ8E2H2lsqAvUCUq5KhNJr5sDxXwS3yXc";

/// An argon2id PHC string for `password`.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))
}

/// Checks `password` against a stored hash off the async threads (argon2 is slow on
/// purpose).
pub async fn verify_password(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || verify_with_pooled_memory(password.as_bytes(), &hash))
        .await
        .unwrap_or(false)
}

/// Argon2's working memory (~19 MiB per check), kept and reused rather than freed: freed
/// blocks of that size stay in the allocator's per-thread arenas, so a stream of checks on
/// different threads grew the process by 19 MiB per thread. The pool holds at most as many
/// buffers as checks ever ran at once, which [`LoginGate`] bounds.
static ARGON2_MEMORY: std::sync::Mutex<Vec<Vec<Block>>> = std::sync::Mutex::new(Vec::new());

fn verify_with_pooled_memory(password: &[u8], phc: &str) -> bool {
    let mut memory = ARGON2_MEMORY
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .pop()
        .unwrap_or_default();
    let matches = verify_in(password, phc, &mut memory);
    ARGON2_MEMORY
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(memory);
    matches
}

/// Recomputes the PHC string's hash for `password` with its own algorithm, version,
/// parameters and salt, in `memory`, and compares in constant time.
fn verify_in(password: &[u8], phc: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm.as_str()),
        Params::try_from(&parsed),
    ) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let (Some(salt), Some(expected)) = (parsed.salt.as_ref(), parsed.hash.as_ref()) else {
        return false;
    };
    if memory.len() < params.block_count() {
        memory.resize(params.block_count(), Block::default());
    }
    let mut out = vec![0u8; expected.as_bytes().len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password, salt, &mut out, memory.as_mut_slice())
        .is_ok()
        && constant_time_eq(&out, expected.as_bytes())
}

/// Rules for new passwords, checked by the CLI and the web alike.
pub fn check_new_password(password: &str) -> Result<(), String> {
    if password.chars().count() < 10 {
        return Err("the password must be at least 10 characters long".into());
    }
    if password.len() > 1024 {
        return Err("the password is too long (at most 1024 bytes)".into());
    }
    Ok(())
}

/// A fresh personal API token (shown once) and the hash to store.
pub fn new_api_token(app: &App) -> (String, String) {
    let token = format!("bf_{}", random_secret());
    let hash = app.signer.fingerprint(&token);
    (token, hash)
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

    #[test]
    fn passwords_round_trip_and_dummy_hash_parses() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
        assert!(verify_with_pooled_memory(b"correct horse battery", &h));
        assert!(!verify_with_pooled_memory(b"correct horse batterY", &h));
        assert!(!verify_with_pooled_memory(b"x", "not a hash"));
        // The dummy hash is a real one: checking against it costs what a real check costs.
        assert!(!verify_with_pooled_memory(b"x", DUMMY_HASH));
    }

    #[test]
    fn constant_time_eq_works() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
