//! `POST /webhooks/bounces/{provider}`: bounce and complaint events from mail providers.
//!
//! Each request is authenticated the provider's way before anything is read into the
//! store ([`crate::bounces::providers`]); a forged, unsigned or replayed one gets 401 and
//! changes nothing. Events already applied (a provider retrying) are skipped. A body that
//! is authentic but cannot be read is kept (see [`unreadable`]).

use std::time::Duration;

use axum::{
    Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, Path, State, rejection::BytesRejection},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::json;

use crate::{
    app::App,
    bounces::{
        Handled, ProviderEvent,
        apply::keep_unreadable_webhook,
        handle_event,
        providers::{self, AuthError, PayloadError},
    },
    web::error::ApiError,
};

/// Largest webhook body accepted. The server's 64 KiB ([`crate::web::BODY_LIMIT`]) is too
/// small here: SendGrid posts events in batches (up to its own batch size, often several
/// hundred KB) and an SNS message may be up to 256 KB before its JSON escaping. The route
/// is merged outside the global limit (`web::router`) and sets this one itself.
pub const WEBHOOK_BODY_LIMIT: usize = 1024 * 1024;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/webhooks/bounces/{provider}", post(receive))
        .layer(DefaultBodyLimit::max(WEBHOOK_BODY_LIMIT))
        // Outside the global layers that count requests, so counted here.
        .layer(axum::middleware::from_fn(crate::ops::metrics::track_http))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn refused(provider: &str, e: AuthError) -> Response {
    tracing::warn!(provider, reason = %e, "webhook refused");
    ApiError::new(StatusCode::UNAUTHORIZED, e.to_string()).into_response()
}

/// A body that cannot be read and whose origin is unknown (an SNS envelope that is not
/// JSON cannot even be checked): 400, and nothing is kept — storing what nobody vouches
/// for would let anyone fill the table.
fn unverifiable(provider: &str, e: PayloadError) -> Response {
    tracing::warn!(provider, reason = %e, "webhook body unreadable and unverified: not kept");
    ApiError::bad_request(e.to_string()).into_response()
}

/// A body whose signature verified but which cannot be read (a payload shape or event we
/// do not know). It is kept with the reason as an unmatched report (listed in the admin
/// and by `bounces unmatched`, re-read by `bounces reprocess`), and answered **200**:
/// every provider retries a non-2xx answer (SendGrid for 72 hours, Mailgun for 8, SNS by
/// its retry policy, Postmark on a schedule), and the same bytes would be just as
/// unreadable on each retry — only more log lines. The JSON says what happened
/// (`"unreadable"`, `"stored"`), for whoever looks at the provider's delivery log. Only
/// when the body cannot be stored is the answer 503, so that the provider does retry.
async fn unreadable(app: &App, provider: &str, body: &[u8], e: PayloadError) -> Response {
    match keep_unreadable_webhook(app, provider, &e.to_string(), body).await {
        Ok(stored) => {
            tracing::warn!(provider, reason = %e, stored, "webhook body unreadable: kept as an unmatched report");
            Json(json!({
                "applied": 0, "duplicates": usize::from(!stored), "unmatched": 1, "ignored": 0,
                "unreadable": e.to_string(), "stored": stored,
            }))
            .into_response()
        }
        Err(err) => {
            tracing::error!(provider, error = %format!("{err:#}"), "unreadable webhook body not stored");
            let message = "the body could not be stored; try again";
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message).into_response()
        }
    }
}

async fn receive(
    State(app): State<App>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(e) => {
            tracing::warn!(provider, reason = %e.body_text(), "webhook body refused");
            let message = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                format!(
                    "the body is larger than {} KiB: configure the provider to send smaller batches",
                    WEBHOOK_BODY_LIMIT / 1024
                )
            } else {
                e.body_text()
            };
            return ApiError::new(e.status(), message).into_response();
        }
    };
    let cfg = &app.config.bounces;
    let now = app.now_ms();
    let p = provider.as_str();
    let verified = match p {
        "generic" => providers::verify_generic(
            cfg,
            header(&headers, "x-breakfast-timestamp"),
            header(&headers, "x-breakfast-signature"),
            &body,
            now,
        ),
        "mailgun" => providers::verify_mailgun(cfg, &body, now),
        "postmark" => providers::verify_postmark(cfg, header(&headers, "authorization")),
        "sendgrid" => providers::verify_sendgrid(
            cfg,
            header(&headers, "x-twilio-email-event-webhook-signature"),
            header(&headers, "x-twilio-email-event-webhook-timestamp"),
            &body,
            now,
        ),
        "ses" => return ses(&app, &body).await,
        _ => {
            return ApiError::not_found(
                "unknown provider: use ses, postmark, sendgrid, mailgun or generic",
            )
            .into_response();
        }
    };
    if let Err(e) = verified {
        return refused(p, e);
    }
    match providers::events_of(p, &body) {
        Ok(events) => process(&app, p, &events).await,
        Err(e) => unreadable(&app, p, &body, e).await,
    }
}

/// Amazon SES notifications arrive through SNS: the SNS envelope is verified with the
/// certificate SNS names (only from SNS's own hosts), then a subscription is confirmed or
/// the SES notification inside is processed.
async fn ses(app: &App, body: &[u8]) -> Response {
    let cfg = &app.config.bounces;
    let m = match providers::sns_message(body) {
        Ok(m) => m,
        Err(e) => return unverifiable("ses", e),
    };
    if let Err(e) = providers::precheck_sns(cfg, &m, app.now_ms()) {
        return refused("ses", e);
    }
    let pem = match fetch_text(&m.signing_cert_url).await {
        Ok(pem) => pem,
        Err(e) => {
            return refused(
                "ses",
                AuthError::Refused(format!("cannot fetch the signing certificate: {e}")),
            );
        }
    };
    if let Err(e) = providers::verify_sns_signature(&m, &pem) {
        return refused("ses", e);
    }
    match m.kind.as_str() {
        "SubscriptionConfirmation" => {
            if !providers::is_sns_url(cfg, &m.subscribe_url, false) {
                return refused(
                    "ses",
                    AuthError::Refused("SubscribeURL is not on an SNS host".into()),
                );
            }
            match fetch_text(&m.subscribe_url).await {
                Ok(_) => {
                    tracing::info!(topic = %m.topic_arn, "SNS subscription confirmed");
                    Json(json!({ "confirmed": true })).into_response()
                }
                Err(e) => {
                    tracing::warn!(topic = %m.topic_arn, error = %e, "cannot confirm the SNS subscription");
                    let message = format!("cannot confirm the subscription: {e}");
                    ApiError::new(StatusCode::BAD_GATEWAY, message).into_response()
                }
            }
        }
        "UnsubscribeConfirmation" => {
            tracing::warn!(topic = %m.topic_arn, "SNS says this endpoint was unsubscribed from the topic");
            Json(json!({ "ok": true })).into_response()
        }
        _ => match providers::ses_events(&m) {
            Ok(events) => process(app, "ses", &events).await,
            // The whole SNS envelope is kept: re-reading it goes through the same parser.
            Err(e) => unreadable(app, "ses", body, e).await,
        },
    }
}

/// GET with a short timeout and no redirects (a redirect could leave SNS's hosts).
async fn fetch_text(url: &str) -> Result<String, String> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let response = client.get(url).send().await.map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("HTTP {}", response.status().as_u16()));
    }
    let text = response.text().await.map_err(|e| e.to_string())?;
    if text.len() > 64 * 1024 {
        return Err("the response is too large".into());
    }
    Ok(text)
}

async fn process(app: &App, provider: &str, events: &[ProviderEvent]) -> Response {
    let (mut applied, mut duplicates, mut unmatched, mut ignored) = (0, 0, 0, 0);
    for event in events {
        match handle_event(app, provider, event).await {
            Ok(Handled::Applied { .. }) => applied += 1,
            Ok(Handled::Duplicate) => duplicates += 1,
            Ok(Handled::Unmatched(_)) => unmatched += 1,
            Ok(Handled::NoAction(_)) => ignored += 1,
            Err(e) => {
                // The provider retries on a 5xx; what was applied stays applied once.
                tracing::error!(provider, error = %format!("{e:#}"), "webhook event not stored");
                let message = "the event could not be stored; try again";
                return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message).into_response();
            }
        }
    }
    Json(json!({
        "applied": applied, "duplicates": duplicates, "unmatched": unmatched, "ignored": ignored
    }))
    .into_response()
}
