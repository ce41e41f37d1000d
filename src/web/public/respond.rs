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

/// Why a reader's page could not be served, as the page will say it. Handlers make it
/// with `?` from the subscribers service's error (or a body or rate-limit refusal), where
/// the app is not at hand; it is rendered, with the publication's name and look, on the
/// way out (`web::error::defer`).
#[derive(Debug)]
pub(super) enum ReaderError {
    /// An error page: status, heading and what to do.
    Page {
        status: StatusCode,
        heading: &'static str,
        message: String,
    },
    /// An expired personal link. An expired confirmation link gets a page that offers a
    /// fresh one; any other says that every email has a fresh link.
    Expired { token: String },
    /// This client spent the action's budget: wait this long.
    TooMany(std::time::Duration),
}

impl ReaderError {
    pub(super) fn page(
        status: StatusCode,
        heading: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self::Page {
            status,
            heading,
            message: message.into(),
        }
    }

    /// Logs the detail; the page says only that nothing was lost.
    pub(super) fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "request failed");
        Self::page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on our side",
            "Nothing was lost. Please try again in a minute.",
        )
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::Page { status, .. } => *status,
            Self::Expired { .. } => StatusCode::GONE,
            Self::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    fn render(self, app: &App) -> Response {
        match self {
            Self::Page {
                status,
                heading,
                message,
            } => error(app, status, heading, &message),
            Self::Expired { token }
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
            Self::Expired { .. } => error(
                app,
                StatusCode::GONE,
                "This link has expired",
                "Links to your preferences work for a while only. Every email we send has a fresh one.",
            ),
            Self::TooMany(wait) => too_many(app, wait, false),
        }
    }
}

impl IntoResponse for ReaderError {
    fn into_response(self) -> Response {
        crate::web::error::defer(self.status(), (), move |app| self.render(app))
    }
}

impl From<ServiceError> for ReaderError {
    /// The page for a personal link that did not work, or for input to correct.
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Link(LinkError::Invalid) => Self::page(
                StatusCode::BAD_REQUEST,
                "This link does not work",
                "It is incomplete or damaged. Copy the whole link from the email, or use the button in it.",
            ),
            ServiceError::Link(LinkError::Gone)
            | ServiceError::Store(crate::store::StoreError::NotFound) => Self::page(
                StatusCode::NOT_FOUND,
                "We could not find your subscription",
                "The address this link was for is no longer on our list, perhaps because everything about it was deleted.",
            ),
            ServiceError::Link(LinkError::Expired { token }) => Self::Expired { token },
            ServiceError::Link(LinkError::Stale) => Self::page(
                StatusCode::GONE,
                "This link is no longer valid",
                "The address has left the list since this email was sent. To come back, sign up again.",
            ),
            ServiceError::Invalid(m) => Self::page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Please check your input",
                m,
            ),
            other => Self::internal(other),
        }
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
