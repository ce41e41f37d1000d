//! Answers shared by the public pages: page metadata, error pages, link errors, 429s.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;
use templates::{
    Markup,
    page::{PageMeta, error_page},
    public::{self as views},
};

use crate::web::rate_limit::retry_after_secs;
use crate::{
    app::App,
    subscribers::{LinkError, ServiceError},
};

/// What every answer to a successful (or silently dropped) sign-up says in JSON.
pub(super) const ACCEPTED_MESSAGE: &str =
    "If that address can be subscribed, a confirmation link is on its way.";

pub(super) fn meta(app: &App, title: &str, noindex: bool) -> PageMeta {
    PageMeta {
        title: title.into(),
        publication: app.config.newsletter.name.clone(),
        flash: None,
        noindex,
        brand: app.look.current().brand.clone(),
    }
}

pub(super) fn html(status: StatusCode, markup: Markup) -> Response {
    (status, markup).into_response()
}

pub(super) fn error(app: &App, status: StatusCode, heading: &str, message: &str) -> Response {
    let link = match status {
        StatusCode::NOT_FOUND | StatusCode::GONE => Some(("Go to the sign-up page", "/")),
        _ => None,
    };
    html(
        status,
        error_page(
            &meta(app, heading, true),
            status.as_u16(),
            heading,
            message,
            link,
        ),
    )
}

pub(super) fn internal(app: &App, e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "request failed");
    error(
        app,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong on our side",
        "Nothing was lost. Please try again in a minute.",
    )
}

/// The page for a personal link that did not work.
pub(super) fn link_error(app: &App, e: ServiceError) -> Response {
    match e {
        ServiceError::Link(LinkError::Invalid) => error(
            app,
            StatusCode::BAD_REQUEST,
            "This link does not work",
            "It is incomplete or damaged. Copy the whole link from the email, or use the button in it.",
        ),
        ServiceError::Link(LinkError::Gone) => error(
            app,
            StatusCode::NOT_FOUND,
            "We could not find your subscription",
            "The address this link was for is no longer on our list, perhaps because everything about it was deleted.",
        ),
        ServiceError::Link(LinkError::Expired { token })
            if app
                .signer
                .verify(&token, crate::domain::Purpose::Confirm, 0)
                .is_ok() =>
        {
            html(
                StatusCode::GONE,
                views::link_expired_page(&meta(app, "Link expired", true), &token),
            )
        }
        ServiceError::Link(LinkError::Expired { .. }) => error(
            app,
            StatusCode::GONE,
            "This link has expired",
            "Links to your preferences work for a while only. Every email we send has a fresh one.",
        ),
        ServiceError::Link(LinkError::Stale) => error(
            app,
            StatusCode::GONE,
            "This link is no longer valid",
            "The address has left the list since this email was sent. To come back, sign up again.",
        ),
        ServiceError::Invalid(m) => error(
            app,
            StatusCode::UNPROCESSABLE_ENTITY,
            "Please check your input",
            &m,
        ),
        ServiceError::Store(crate::store::StoreError::NotFound) => {
            link_error(app, LinkError::Gone.into())
        }
        other => internal(app, other),
    }
}

pub(super) fn too_many(app: &App, wait: std::time::Duration, json: bool) -> Response {
    let secs = retry_after_secs(wait);
    let mut resp = if json {
        (
            StatusCode::TOO_MANY_REQUESTS,
            Json(json!({ "error": "too many requests; try again later", "status": 429, "retry_after": secs })),
        )
            .into_response()
    } else {
        error(
            app,
            StatusCode::TOO_MANY_REQUESTS,
            "Too many attempts",
            &format!("Please wait {secs} seconds and try again."),
        )
    };
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    resp
}

pub(super) fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// "10 minutes": how long the confirmation throttle makes a visitor wait for another link.
pub(super) fn resend_interval(app: &App) -> String {
    match app.config.subscribers.resend_confirmation_minutes {
        1 => "minute".into(),
        n => format!("{n} minutes"),
    }
}

pub(crate) fn weekday_name(short: &str) -> String {
    // The schedule's one weekday table; anything unknown reads as Sunday, as it always did.
    let key = short.trim().to_ascii_lowercase();
    let full = crate::schedule::WEEKDAYS
        .iter()
        .find(|(_, k, _)| key.get(..3) == Some(*k))
        .map_or("Sunday", |(_, _, name)| name);
    format!("{full}s")
}
