//! Signing in and out. The login form has its own CSRF token in a short-lived cookie,
//! since there is no session yet to keep it in.

use axum::{
    extract::{Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;

use super::{Fields, html_page, meta, see_other};
use crate::{
    app::App,
    domain::token::random_secret,
    web::auth::{
        self, CSRF_FIELD, CurrentUser, LOGIN_CSRF_COOKIE, LoginError, PageError, SESSION_COOKIE,
        clear_cookie, constant_time_eq, cookie, safe_next, set_cookie,
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

pub async fn submit(State(app): State<App>, headers: HeaderMap, f: Fields) -> Response {
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
    match auth::authenticate(&app, &email, password).await {
        Ok(user) => match auth::start_session(&app, &user).await {
            Ok(session_cookie) => {
                tracing::info!(admin = user.id, "admin signed in");
                let mut res = see_other(&next);
                res.headers_mut().append(header::SET_COOKIE, session_cookie);
                res.headers_mut()
                    .append(header::SET_COOKIE, clear_cookie(LOGIN_CSRF_COOKIE));
                res
            }
            Err(e) => PageError::internal(&app, e).into_response(),
        },
        Err(LoginError::BadCredentials) => form(
            &app,
            StatusCode::UNAUTHORIZED,
            &email,
            &next,
            Some(&LoginError::BadCredentials.to_string()),
        ),
        Err(e @ LoginError::Locked { .. }) => form(
            &app,
            StatusCode::TOO_MANY_REQUESTS,
            &email,
            &next,
            Some(&e.to_string()),
        ),
        Err(LoginError::Internal(e)) => PageError::internal(&app, e).into_response(),
    }
}

pub async fn logout(
    State(app): State<App>,
    user: CurrentUser,
    headers: HeaderMap,
    f: Fields,
) -> Result<Response, PageError> {
    f.check_csrf(&app, &user)?;
    auth::end_session(&app, &headers)
        .await
        .map_err(|e| PageError::internal(&app, e))?;
    let mut res = see_other("/admin/login?signed_out=1");
    res.headers_mut()
        .append(header::SET_COOKIE, clear_cookie(SESSION_COOKIE));
    Ok(res)
}
