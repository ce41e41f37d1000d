//! Unsubscribing, resubscribing, and the "stay, but less often" choice.

use std::collections::HashMap;

use axum::{
    Extension,
    body::Bytes,
    extract::{Query, State, rejection::BytesRejection},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use templates::public::{self as views, ResubscribeOutcome};

use crate::web::rate_limit::{ClientIp, RateLimiter};
use crate::{
    app::App,
    subscribers::{self, Resubscribed, leaving},
};

use super::{body::*, preferences::when, respond::*};

pub(super) async fn unsubscribe_page(State(app): State<App>, Query(q): Params) -> Response {
    let token = token_of(&q, None);
    match subscribers::unsubscribe_target(&app, &token).await {
        Ok(s) => html(
            StatusCode::OK,
            views::unsubscribe_page(
                &meta(&app, "Unsubscribe", true),
                &views::UnsubscribeView {
                    publication: app.config.newsletter.name.clone(),
                    email: s.email.to_string(),
                    token: token.clone(),
                    reasons: leaving::REASONS
                        .iter()
                        .map(|(k, l)| (k.to_string(), l.to_string()))
                        .collect(),
                    daily: s.frequency == crate::domain::Frequency::Daily,
                    weekly_day: weekday_name(&app.config.subscribers.weekly_day)
                        .trim_end_matches('s')
                        .to_string(),
                    pause_days: leaving::PAUSE_INSTEAD_DAYS,
                },
            ),
        ),
        Err(e) => link_error(&app, e),
    }
}

/// The RFC 8058 one-click POST (and the page's button): unsubscribes at once, 200.
pub(super) async fn unsubscribe(
    State(app): State<App>,
    Query(q): Params,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    // Mail clients send `List-Unsubscribe=One-Click`; the token is in the URL. The body
    // is not needed, but an oversized one is still refused.
    let form = match body {
        Ok(b) => form_fields(&b),
        Err(r) => return body_error(&app, r, false),
    };
    let token = token_of(&q, Some(&form));
    let reason = form.get("reason").map(String::as_str);
    match leaving::unsubscribe_because(&app, &token, reason).await {
        Ok(s) => html(
            StatusCode::OK,
            views::unsubscribed_page(
                &meta(&app, "Unsubscribed", true),
                &app.config.newsletter.name,
                &token,
                &subscribers::preferences_url(&app, s.id),
            ),
        ),
        Err(e) => link_error(&app, e),
    }
}

pub(super) async fn resubscribe(
    State(app): State<App>,
    Extension(limiter): Extension<RateLimiter>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let form = match limited_form(&app, &limiter, ip, "resubscribe", &headers, body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let token = token_of(&HashMap::new(), Some(&form));
    let (subscriber, outcome) = match subscribers::resubscribe(&app, &token).await {
        Ok((s, Resubscribed::Now)) => (s, ResubscribeOutcome::Now),
        Ok((s, Resubscribed::Already)) => (s, ResubscribeOutcome::Already),
        Ok((s, Resubscribed::Refused)) => (s, ResubscribeOutcome::Refused),
        Err(e) => return link_error(&app, e),
    };
    let next = crate::archive::next_issue_sentence(&app).await;
    html(
        StatusCode::OK,
        views::resubscribed_page(
            &meta(&app, "Resubscribed", true),
            &app.config.newsletter.name,
            outcome,
            next.as_deref(),
            &subscribers::preferences_url(&app, subscriber.id),
        ),
    )
}

/// "Weekly instead" or "pause instead", from the unsubscribe page.
pub(super) async fn stay_instead(
    State(app): State<App>,
    Query(q): Params,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let form = match read_form(&app, &headers, body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let token = token_of(&q, Some(&form));
    let choice: leaving::Instead =
        match form.get("choice").map(String::as_str).unwrap_or("").parse() {
            Ok(c) => c,
            Err(e) => return link_error(&app, e),
        };
    match leaving::stay_instead(&app, &token, choice).await {
        Ok(s) => {
            let what = match choice {
                leaving::Instead::Weekly => format!(
                    "You will get one email a week, on {}, instead of every day.",
                    weekday_name(&app.config.subscribers.weekly_day)
                ),
                leaving::Instead::Pause => format!(
                    "Nothing until {}; then the issues start again by themselves.",
                    s.paused_until.map(when).unwrap_or_default()
                ),
            };
            html(
                StatusCode::OK,
                views::stayed_page(
                    &meta(&app, "Thanks for staying", true),
                    &app.config.newsletter.name,
                    &what,
                    &subscribers::preferences_url(&app, s.id),
                ),
            )
        }
        Err(e) => link_error(&app, e),
    }
}
