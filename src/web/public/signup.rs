//! The sign-up page, its embeddable form and `POST /subscribe`.

use axum::{
    Json,
    body::Bytes,
    extract::{State, rejection::BytesRejection},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::json;
use templates::{
    Markup,
    public::{self as views, CheckEmailView, SignupView},
};

use crate::{
    app::App,
    domain::EmailAddress,
    subscribers::{self},
};

use super::{body::*, respond::*};
use crate::web::error::ApiError;

pub(super) fn signup_view(app: &App, embed: bool) -> SignupView {
    SignupView {
        publication: app.config.newsletter.name.clone(),
        pitch: app.config.newsletter.pitch.clone(),
        pitch_html: crate::brand::copy_html(app, crate::brand::CopyKey::SignupPitch),
        embed,
        weekly_day: weekday_name(&app.config.subscribers.weekly_day),
        ..Default::default()
    }
}

pub(super) async fn signup_page(State(app): State<App>) -> Markup {
    views::signup_page(&meta(&app, "Subscribe", false), &signup_view(&app, false))
}

pub(super) async fn embed_page(State(app): State<App>) -> Markup {
    views::signup_page(&meta(&app, "Subscribe", false), &signup_view(&app, true))
}

/// A sign-up as submitted, from either body kind.
#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct SignupInput {
    email: String,
    #[serde(default)]
    name: Option<String>,
    /// The honeypot: people never see it, so anything in it came from a bot.
    #[serde(default)]
    website: Option<String>,
    #[serde(skip)]
    embed: bool,
    /// "daily" (the default) or "weekly".
    #[serde(default)]
    frequency: Option<String>,
    /// The browser's IANA zone, set by the form's script (absent without script).
    #[serde(default)]
    time_zone: Option<String>,
}

/// `POST /subscribe`: the same answer for every address, whatever its state.
pub(super) async fn subscribe(
    State(app): State<App>,
    budget: Budget,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let kind = body_kind(&headers);
    let json = wants_json(&headers);
    if let Err(TooMany(wait)) = budget.spend("subscribe") {
        return too_many(&app, wait, json);
    }
    let body = match body {
        Ok(b) => b,
        Err(r) => return Unreadable::of(&r).answer(json),
    };
    let input = match kind {
        BodyKind::Form => {
            let mut f = form_fields(&body);
            SignupInput {
                email: f.remove("email").unwrap_or_default(),
                name: f.remove("name"),
                website: f.remove("website"),
                embed: f.get("embed").is_some_and(|v| v == "1"),
                frequency: f.remove("frequency"),
                time_zone: f.remove("time_zone"),
            }
        }
        BodyKind::Json => match serde_json::from_slice::<SignupInput>(&body) {
            Ok(i) => i,
            Err(e) => {
                let status = if e.is_data() {
                    StatusCode::UNPROCESSABLE_ENTITY
                } else {
                    StatusCode::BAD_REQUEST
                };
                let message = if e.is_data() {
                    "expected {\"email\": \"…\", \"name\": \"…\"} with email required"
                } else {
                    "the body is not valid JSON"
                };
                return ApiError::new(status, message).into_response();
            }
        },
        BodyKind::Other => return Unreadable::UNSUPPORTED.answer(json),
    };
    let echo = CheckEmailView {
        email: input.email.trim().to_string(),
        name: input.name.clone().unwrap_or_default().trim().to_string(),
        embed: input.embed,
        resend_after: resend_interval(&app),
    };
    let accepted = || accepted(&app, kind == BodyKind::Json, &echo);
    if input
        .website
        .as_deref()
        .is_some_and(|w| !w.trim().is_empty())
    {
        tracing::info!("honeypot sign-up dropped");
        return accepted();
    }
    let email = EmailAddress::parse(&input.email);
    let name = subscribers::clean_name(input.name.as_deref());
    let (email, name) = match (email, name) {
        (Ok(e), Ok(n)) => (e, n),
        (e, n) => {
            let email_error = e.err().map(|e| capitalise(&e.to_string()));
            let name_error = n.err().map(|e| capitalise(&e));
            if kind == BodyKind::Json {
                let message = email_error.or(name_error).unwrap_or_default();
                return ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message).into_response();
            }
            let view = SignupView {
                email: input.email.clone(),
                name: input.name.clone().unwrap_or_default(),
                email_error,
                name_error,
                ..signup_view(&app, input.embed)
            };
            let mut m = meta(&app, "Subscribe", false);
            m.title = "Error: Subscribe".into();
            return html(
                StatusCode::UNPROCESSABLE_ENTITY,
                views::signup_page(&m, &view),
            );
        }
    };
    // Answered before the work is done, so neither the answer nor its timing says whether
    // the address was new, pending or already subscribed.
    let choices = subscribers::SignupChoices {
        weekly: input.frequency.as_deref().map(str::trim) == Some("weekly"),
        time_zone: input.time_zone,
    };
    subscribers::signup_after_answer(&app, email, name, choices).await;
    accepted()
}

pub(super) fn accepted(app: &App, json: bool, echo: &CheckEmailView) -> Response {
    if json {
        (
            StatusCode::ACCEPTED,
            Json(json!({ "status": "accepted", "message": ACCEPTED_MESSAGE })),
        )
            .into_response()
    } else {
        html(
            StatusCode::OK,
            views::check_email_page(&meta(app, "Check your inbox", true), echo),
        )
    }
}
