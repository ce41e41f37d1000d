//! `POST /webhooks/bounces/{provider}`: bounce and complaint events from mail providers.
//!
//! Each request is authenticated the provider's way before anything is read into the
//! store ([`crate::bounces::providers`]); a forged, unsigned or replayed one gets 401 and
//! changes nothing. Events already applied (a provider retrying) are skipped.

use std::time::Duration;

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::json;

use crate::{
    app::App,
    bounces::{
        Handled, ProviderEvent, handle_event,
        providers::{self, AuthError, PayloadError},
    },
    web::error::ApiError,
};

pub fn routes() -> Router<App> {
    Router::new().route("/webhooks/bounces/{provider}", post(receive))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn refused(provider: &str, e: AuthError) -> Response {
    tracing::warn!(provider, reason = %e, "webhook refused");
    ApiError::new(StatusCode::UNAUTHORIZED, e.to_string()).into_response()
}

fn unreadable(provider: &str, e: PayloadError) -> Response {
    tracing::warn!(provider, reason = %e, "webhook body unreadable");
    ApiError::bad_request(e.to_string()).into_response()
}

async fn receive(
    State(app): State<App>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
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
        )
        .map(|_| providers::generic_events(&body)),
        "mailgun" => {
            providers::verify_mailgun(cfg, &body, now).map(|_| providers::mailgun_events(&body))
        }
        "postmark" => providers::verify_postmark(cfg, header(&headers, "authorization"))
            .map(|_| providers::postmark_events(&body)),
        "sendgrid" => providers::verify_sendgrid(
            cfg,
            header(&headers, "x-twilio-email-event-webhook-signature"),
            header(&headers, "x-twilio-email-event-webhook-timestamp"),
            &body,
            now,
        )
        .map(|_| providers::sendgrid_events(&body)),
        "ses" => return ses(&app, &body).await,
        _ => {
            return ApiError::not_found(
                "unknown provider: use ses, postmark, sendgrid, mailgun or generic",
            )
            .into_response();
        }
    };
    match verified {
        Err(e) => refused(p, e),
        Ok(Err(e)) => unreadable(p, e),
        Ok(Ok(events)) => process(&app, p, &events).await,
    }
}

/// Amazon SES notifications arrive through SNS: the SNS envelope is verified with the
/// certificate SNS names (only from SNS's own hosts), then a subscription is confirmed or
/// the SES notification inside is processed.
async fn ses(app: &App, body: &[u8]) -> Response {
    let cfg = &app.config.bounces;
    let m = match providers::sns_message(body) {
        Ok(m) => m,
        Err(e) => return unreadable("ses", e),
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
            Err(e) => unreadable("ses", e),
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
