//! Signing in and out. The login form has its own CSRF token in a short-lived cookie,
//! since there is no session yet to keep it in.

use axum::{
    Extension,
    extract::{Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;

use super::{CheckedForm, Fields, html_page, meta, see_other};
use crate::{
    app::App,
    domain::token::random_secret,
    web::{
        auth::{
            self, CSRF_FIELD, CurrentUser, LOGIN_CSRF_COOKIE, LoginError, LoginGate, PageError,
            Refusal, SESSION_COOKIE, clear_cookie, constant_time_eq, cookie, safe_next, set_cookie,
        },
        rate_limit::{ClientIp, retry_after_secs},
    },
};

#[derive(Deserialize, Default)]
pub struct LoginQuery {
    next: Option<String>,
    expired: Option<String>,
    signed_out: Option<String>,
}

pub async fn page(
    State(app): State<App>,
    user: Option<CurrentUser>,
    Query(q): Query<LoginQuery>,
) -> Response {
    let next = safe_next(q.next.as_deref());
    if user.is_some() {
        return see_other(&next);
    }
    let message = if q.expired.is_some() {
        Some("Your session has expired. Please sign in again.")
    } else if q.signed_out.is_some() {
        Some("You are signed out.")
    } else {
        None
    };
    form(&app, StatusCode::OK, "", &next, message)
}

/// The form with a fresh login CSRF token (set as a cookie alongside).
fn form(app: &App, status: StatusCode, email: &str, next: &str, message: Option<&str>) -> Response {
    let token = random_secret();
    let markup =
        templates::admin::login_page(&meta(app, "Sign in", None), email, next, &token, message);
    let mut res = (status, html_page(markup)).into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(app, LOGIN_CSRF_COOKIE, &token, 3600),
    );
    res
}

pub async fn submit(
    State(app): State<App>,
    Extension(gate): Extension<LoginGate>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    f: Fields,
) -> Response {
    let email = f.text("email");
    let next = safe_next(f.get("next"));
    let expected = cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    let given = f.get(CSRF_FIELD).unwrap_or("");
    if expected.is_empty() || !constant_time_eq(expected.as_bytes(), given.as_bytes()) {
        return form(
            &app,
            StatusCode::FORBIDDEN,
            &email,
            &next,
            Some("The sign-in form had expired (or cookies are off). Please try again."),
        );
    }
    let password = f.get("password").unwrap_or("");
    if email.is_empty() || password.is_empty() {
        return form(
            &app,
            StatusCode::BAD_REQUEST,
            &email,
            &next,
            Some("Enter your email address and your password."),
        );
    }
    // Turned away before any hashing: a client over its budget, or no check free.
    let _permit = match gate.admit(client).await {
        Ok(permit) => permit,
        Err(refusal) => return refused(&app, &email, &next, refusal),
    };
    match auth::authenticate(&app, &email, password, client).await {
        Ok(user) => match auth::start_session(&app, &user).await {
            Ok(session_cookie) => {
                tracing::info!(admin = user.id, "admin signed in");
                let mut res = see_other(&next);
                res.headers_mut().append(header::SET_COOKIE, session_cookie);
                res.headers_mut()
                    .append(header::SET_COOKIE, clear_cookie(LOGIN_CSRF_COOKIE));
                res
            }
            Err(e) => PageError::from(e).into_response(),
        },
        Err(e @ (LoginError::BadCredentials | LoginError::LastAttempt { .. })) => form(
            &app,
            StatusCode::UNAUTHORIZED,
            &email,
            &next,
            Some(&e.to_string()),
        ),
        Err(e @ LoginError::Locked { .. }) => form(
            &app,
            StatusCode::TOO_MANY_REQUESTS,
            &email,
            &next,
            Some(&e.to_string()),
        ),
        Err(LoginError::Internal(e)) => PageError::from(e).into_response(),
    }
}

/// The form again, with a `Retry-After` saying when another try is worth it.
fn refused(app: &App, email: &str, next: &str, refusal: Refusal) -> Response {
    let (status, wait, message) = match refusal {
        Refusal::Throttled(wait) => (
            StatusCode::TOO_MANY_REQUESTS,
            retry_after_secs(wait),
            "Too many sign-in attempts from your address. Wait a minute and try again.",
        ),
        Refusal::Busy => (
            StatusCode::SERVICE_UNAVAILABLE,
            2,
            "The server is busy with other sign-ins. Try again in a moment.",
        ),
    };
    let mut res = form(app, status, email, next, Some(message));
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(wait));
    res
}

pub async fn logout(
    State(app): State<App>,
    headers: HeaderMap,
    // Signed in, and the form is from their session.
    _: CheckedForm<CurrentUser>,
) -> Result<Response, PageError> {
    auth::end_session(&app, &headers).await?;
    let mut res = see_other("/admin/login?signed_out=1");
    res.headers_mut()
        .append(header::SET_COOKIE, clear_cookie(SESSION_COOKIE));
    Ok(res)
}
