//! The pages and endpoints a subscriber uses: sign-up, confirmation, unsubscribe,
//! preferences. Translates HTTP into calls on [`crate::subscribers`] and their outcomes
//! into pages (or JSON for `POST /subscribe` with a JSON body).

use std::collections::HashMap;

use axum::{
    Extension, Json, Router,
    body::Bytes,
    extract::{Query, State, rejection::BytesRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::json;
use templates::{
    Markup,
    page::{PageMeta, error_page},
    public::{
        self as views, CheckEmailView, ConfirmedView, PreferencesView, ResubscribeOutcome,
        SignupView,
    },
};

use super::rate_limit::{ClientIp, RateLimiter, retry_after_secs};
use crate::{
    app::App,
    domain::{EmailAddress, SubscriberStatus, clock::from_ms},
    subscribers::{
        self, LinkError, PreferencesInput, Profile, Resubscribed, ServiceError, address, leaving,
    },
};

pub fn routes() -> Router<App> {
    Router::new()
        .route("/", get(signup_page))
        .route("/embed", get(embed_page))
        .route("/subscribe", post(subscribe))
        .route("/confirm", get(confirm_page).post(confirm))
        .route("/confirm/resend", post(resend))
        .route("/unsubscribe", get(unsubscribe_page).post(unsubscribe))
        .route("/unsubscribe/instead", post(stay_instead))
        .route("/preferences/address/change", post(request_address_change))
        .route(
            "/preferences/address",
            get(address_change_page).post(confirm_address_change),
        )
        .route("/preferences", get(preferences).post(save_preferences))
        .route("/preferences/delete", post(delete_everything))
        .route("/resubscribe", post(resubscribe))
        .layer(Extension(RateLimiter::new()))
}

/// What every answer to a successful (or silently dropped) sign-up says in JSON.
const ACCEPTED_MESSAGE: &str =
    "If that address can be subscribed, a confirmation link is on its way.";

fn meta(app: &App, title: &str, noindex: bool) -> PageMeta {
    PageMeta {
        title: title.into(),
        publication: app.config.newsletter.name.clone(),
        flash: None,
        noindex,
        brand: app.look.current().brand.clone(),
    }
}

fn html(status: StatusCode, markup: Markup) -> Response {
    (status, markup).into_response()
}

fn error(app: &App, status: StatusCode, heading: &str, message: &str) -> Response {
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

fn internal(app: &App, e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "request failed");
    error(
        app,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong on our side",
        "Nothing was lost. Please try again in a minute.",
    )
}

/// The page for a personal link that did not work.
fn link_error(app: &App, e: ServiceError) -> Response {
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

fn too_many(app: &App, wait: std::time::Duration, json: bool) -> Response {
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

/// How a request body arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    Form,
    Json,
    Other,
}

fn body_kind(headers: &HeaderMap) -> BodyKind {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime == "application/x-www-form-urlencoded" {
        BodyKind::Form
    } else if mime == "application/json"
        || (mime.starts_with("application/") && mime.ends_with("+json"))
    {
        BodyKind::Json
    } else {
        BodyKind::Other
    }
}

fn wants_json(headers: &HeaderMap) -> bool {
    body_kind(headers) == BodyKind::Json
        || headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("json") && !a.contains("html"))
}

/// A body the buffering refused: too large (413), or broken off (400).
fn body_error(app: &App, rejection: BytesRejection, json: bool) -> Response {
    let status = rejection.status();
    let (status, message) = if status == StatusCode::PAYLOAD_TOO_LARGE {
        (status, "the request is too large")
    } else {
        (
            StatusCode::BAD_REQUEST,
            "the request body could not be read",
        )
    };
    if json {
        (
            status,
            Json(json!({ "error": message, "status": status.as_u16() })),
        )
            .into_response()
    } else {
        error(app, status, "We could not read that", message)
    }
}

fn unsupported(app: &App, json: bool) -> Response {
    let message = "send the form as application/x-www-form-urlencoded or JSON as application/json";
    let status = StatusCode::UNSUPPORTED_MEDIA_TYPE;
    if json {
        (status, Json(json!({ "error": message, "status": 415 }))).into_response()
    } else {
        error(app, status, "We could not read that", message)
    }
}

/// Decodes a form body into its fields (first value wins).
fn form_fields(body: &[u8]) -> HashMap<String, String> {
    let mut fields = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        fields
            .entry(k.into_owned())
            .or_insert_with(|| v.into_owned());
    }
    fields
}

/// A form-only POST body, or the answer to give instead.
fn read_form(
    app: &App,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<HashMap<String, String>, Box<Response>> {
    let body = body.map_err(|r| Box::new(body_error(app, r, false)))?;
    if body.is_empty() {
        return Ok(HashMap::new());
    }
    if body_kind(headers) != BodyKind::Form {
        return Err(Box::new(unsupported(app, false)));
    }
    Ok(form_fields(&body))
}

fn signup_view(app: &App, embed: bool) -> SignupView {
    SignupView {
        publication: app.config.newsletter.name.clone(),
        pitch: app.config.newsletter.pitch.clone(),
        pitch_html: crate::brand::copy_html(app, crate::brand::CopyKey::SignupPitch),
        embed,
        weekly_day: weekday_name(&app.config.subscribers.weekly_day),
        ..Default::default()
    }
}

async fn signup_page(State(app): State<App>) -> Markup {
    views::signup_page(&meta(&app, "Subscribe", false), &signup_view(&app, false))
}

async fn embed_page(State(app): State<App>) -> Markup {
    views::signup_page(&meta(&app, "Subscribe", false), &signup_view(&app, true))
}

/// A sign-up as submitted, from either body kind.
#[derive(Debug, Default, serde::Deserialize)]
struct SignupInput {
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
}

/// `POST /subscribe`: the same answer for every address, whatever its state.
async fn subscribe(
    State(app): State<App>,
    Extension(limiter): Extension<RateLimiter>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let kind = body_kind(&headers);
    let json = wants_json(&headers);
    if let Err(wait) = limiter.check(
        ip,
        "subscribe",
        app.config.subscribers.rate_limit_per_minute,
    ) {
        return too_many(&app, wait, json);
    }
    let body = match body {
        Ok(b) => b,
        Err(r) => return body_error(&app, r, json),
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
                return (
                    status,
                    Json(json!({ "error": message, "status": status.as_u16() })),
                )
                    .into_response();
            }
        },
        BodyKind::Other => return unsupported(&app, json),
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
                return (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Json(json!({ "error": message, "status": 422 })),
                )
                    .into_response();
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
    let weekly = input.frequency.as_deref().map(str::trim) == Some("weekly");
    subscribers::signup_after_answer(&app, email, name, weekly).await;
    accepted()
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// "10 minutes": how long the confirmation throttle makes a visitor wait for another link.
fn resend_interval(app: &App) -> String {
    match app.config.subscribers.resend_confirmation_minutes {
        1 => "minute".into(),
        n => format!("{n} minutes"),
    }
}

fn accepted(app: &App, json: bool, echo: &CheckEmailView) -> Response {
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

/// What the confirmed page says: when the first issue comes and where the latest is.
/// What the confirmed page says; no preferences link when an expired link was replayed.
async fn confirmed_view(app: &App, c: &subscribers::Confirmed) -> ConfirmedView {
    let latest = match app.store.list_sent_digests(1, 0).await {
        Ok(rows) => rows.into_iter().next(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the latest issue");
            None
        }
    };
    ConfirmedView {
        publication: app.config.newsletter.name.clone(),
        message_html: crate::brand::copy_html(app, crate::brand::CopyKey::Confirmed),
        preferences_url: (!c.link_expired)
            .then(|| subscribers::preferences_url(app, c.subscriber.id)),
        next_issue: crate::archive::next_issue_sentence(app).await,
        latest_issue: latest.map(|d| {
            let href = crate::digest::compose::archive_path_of(&d.kind, d.id, &d.issue_date);
            (d.subject.unwrap_or_else(|| d.issue_date.clone()), href)
        }),
    }
}

type Params = Query<HashMap<String, String>>;

fn token_of(query: &HashMap<String, String>, form: Option<&HashMap<String, String>>) -> String {
    query
        .get("token")
        .or_else(|| form.and_then(|f| f.get("token")))
        .cloned()
        .unwrap_or_default()
}

/// The page a confirmation link opens: it changes nothing (link scanners follow links).
async fn confirm_page(State(app): State<App>, Query(q): Params) -> Response {
    let token = token_of(&q, None);
    match subscribers::confirm_step(&app, &token).await {
        Ok(subscribers::ConfirmStep::Ask(s)) => html(
            StatusCode::OK,
            views::confirm_page(
                &meta(&app, "Confirm your subscription", true),
                &app.config.newsletter.name,
                s.email.as_str(),
                &token,
            ),
        ),
        Ok(subscribers::ConfirmStep::Done(c)) => confirmed(&app, &c).await,
        Err(e) => link_error(&app, e),
    }
}

/// The button on that page: confirms.
async fn confirm(
    State(app): State<App>,
    Query(q): Params,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let form = match read_form(&app, &headers, body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    match subscribers::confirm(&app, &token_of(&q, Some(&form))).await {
        Ok(c) => confirmed(&app, &c).await,
        Err(e) => link_error(&app, e),
    }
}

/// A preferences link only for a live confirmation link (not an expired one replayed).
async fn confirmed(app: &App, c: &subscribers::Confirmed) -> Response {
    html(
        StatusCode::OK,
        views::confirmed_page(
            &meta(app, "Subscribed", true),
            &confirmed_view(app, c).await,
        ),
    )
}

async fn resend(
    State(app): State<App>,
    Extension(limiter): Extension<RateLimiter>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Err(wait) = limiter.check(ip, "resend", app.config.subscribers.rate_limit_per_minute) {
        return too_many(&app, wait, false);
    }
    let form = match read_form(&app, &headers, body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    match subscribers::resend_confirmation(&app, &token_of(&HashMap::new(), Some(&form))).await {
        Ok(()) => accepted(
            &app,
            false,
            &CheckEmailView {
                resend_after: resend_interval(&app),
                ..Default::default()
            },
        ),
        Err(e) => link_error(&app, e),
    }
}

async fn unsubscribe_page(State(app): State<App>, Query(q): Params) -> Response {
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
async fn unsubscribe(
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

async fn resubscribe(
    State(app): State<App>,
    Extension(limiter): Extension<RateLimiter>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Err(wait) = limiter.check(ip, "resend", app.config.subscribers.rate_limit_per_minute) {
        return too_many(&app, wait, false);
    }
    let form = match read_form(&app, &headers, body) {
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
async fn stay_instead(
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

/// The preferences page's "change your address" form: mails a link to the new address.
async fn request_address_change(
    State(app): State<App>,
    Extension(limiter): Extension<RateLimiter>,
    ClientIp(ip): ClientIp,
    Query(q): Params,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Err(wait) = limiter.check(ip, "address", app.config.subscribers.rate_limit_per_minute) {
        return too_many(&app, wait, false);
    }
    let form = match read_form(&app, &headers, body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let token = token_of(&q, Some(&form));
    let typed = form.get("new_email").cloned().unwrap_or_default();
    match address::request_change(&app, &token, &typed).await {
        Ok(_) => match subscribers::profile(&app, &token).await {
            Ok(p) => {
                let mut m = meta(&app, "Preferences", true);
                m.flash = Some(templates::page::Flash {
                    kind: templates::page::FlashKind::Success,
                    message: "Check the new address's inbox: the change happens when its link is followed.".into(),
                });
                html(
                    StatusCode::OK,
                    views::preferences_page(&m, &preferences_view(&app, &token, &p, None)),
                )
            }
            Err(e) => link_error(&app, e),
        },
        Err(ServiceError::Invalid(message)) => match subscribers::profile(&app, &token).await {
            Ok(p) => {
                let mut v = preferences_view(&app, &token, &p, None);
                v.new_address = typed;
                v.new_address_error = Some(capitalise(&message));
                html(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    views::preferences_page(&meta(&app, "Error: Preferences", true), &v),
                )
            }
            Err(e) => link_error(&app, e),
        },
        Err(e) => link_error(&app, e),
    }
}

/// The link in the change-of-address email: asks before changing (link scanners).
async fn address_change_page(State(app): State<App>, Query(q): Params) -> Response {
    let token = token_of(&q, None);
    let tag = q.get("tag").cloned().unwrap_or_default();
    match address::pending_change(&app, &token, &tag).await {
        Ok((_, new)) => html(
            StatusCode::OK,
            views::confirm_address_page(
                &meta(&app, "Change address", true),
                new.as_str(),
                &token,
                &tag,
            ),
        ),
        Err(e) => link_error(&app, e),
    }
}

async fn confirm_address_change(
    State(app): State<App>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let form = match read_form(&app, &headers, body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let token = token_of(&HashMap::new(), Some(&form));
    let tag = form.get("tag").cloned().unwrap_or_default();
    match address::confirm_change(&app, &token, &tag).await {
        Ok(s) => html(
            StatusCode::OK,
            views::address_changed_page(
                &meta(&app, "Address changed", true),
                s.email.as_str(),
                &subscribers::preferences_url(&app, s.id),
            ),
        ),
        Err(e) => link_error(&app, e),
    }
}

fn when(ms: i64) -> String {
    from_ms(ms).format("%-d %b %Y, %H:%M UTC").to_string()
}

pub(crate) fn weekday_name(short: &str) -> String {
    let full = match short.trim().to_ascii_lowercase().get(..3).unwrap_or("") {
        "mon" => "Monday",
        "tue" => "Tuesday",
        "wed" => "Wednesday",
        "thu" => "Thursday",
        "fri" => "Friday",
        "sat" => "Saturday",
        _ => "Sunday",
    };
    format!("{full}s")
}

fn preferences_view(app: &App, token: &str, p: &Profile, error: Option<String>) -> PreferencesView {
    let s = &p.subscriber;
    let now = app.now_ms();
    let paused = s.paused_until.filter(|&t| t > now);
    let opt = |v: Option<i64>| v.map(when).unwrap_or_else(|| "—".into());
    let stored = vec![
        ("Email address", s.email.to_string()),
        ("Name", s.name.clone().unwrap_or_else(|| "—".into())),
        ("Status", s.status.to_string()),
        ("How often", s.frequency.as_str().to_string()),
        ("Paused until", opt(paused)),
        ("Signed up", when(s.created_at)),
        ("Signed up through", s.source.clone()),
        ("Confirmed", opt(s.confirmed_at)),
        ("Last confirmation email", opt(s.confirmation_sent_at)),
        ("Unsubscribed", opt(s.unsubscribed_at)),
        ("Bounced emails", s.bounce_count.to_string()),
    ];
    let left = matches!(
        s.status,
        SubscriberStatus::Unsubscribed | SubscriberStatus::Bounced
    );
    PreferencesView {
        publication: app.config.newsletter.name.clone(),
        token: token.to_string(),
        email: s.email.to_string(),
        name: s.name.clone().unwrap_or_default(),
        frequency: s.frequency.as_str().to_string(),
        weekly_day: weekday_name(&app.config.subscribers.weekly_day),
        paused_until: paused.map(when),
        status: s.status.to_string(),
        error,
        stored: stored
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        history: p
            .events
            .iter()
            .map(|e| {
                let what = match &e.detail {
                    Some(d) => format!("{} ({d})", e.kind),
                    None => e.kind.clone(),
                };
                (when(e.at), what)
            })
            .collect(),
        resubscribe_token: left.then(|| subscribers::unsubscribe_token(app, s.id)),
        unsubscribe_url: matches!(
            s.status,
            SubscriberStatus::Pending | SubscriberStatus::Confirmed
        )
        .then(|| {
            format!(
                "/unsubscribe?token={}",
                subscribers::unsubscribe_token(app, s.id)
            )
        }),
        pending_address: p.pending_address.clone(),
        new_address: String::new(),
        new_address_error: None,
    }
}

fn preferences_response(app: &App, token: &str, p: &Profile, saved: bool) -> Response {
    let mut m = meta(app, "Preferences", true);
    if saved {
        m.flash = Some(templates::page::Flash {
            kind: templates::page::FlashKind::Success,
            message: "Your preferences are saved.".into(),
        });
    }
    html(
        StatusCode::OK,
        views::preferences_page(&m, &preferences_view(app, token, p, None)),
    )
}

async fn preferences(State(app): State<App>, Query(q): Params) -> Response {
    let token = token_of(&q, None);
    match subscribers::profile(&app, &token).await {
        Ok(p) => preferences_response(&app, &token, &p, false),
        Err(e) => link_error(&app, e),
    }
}

async fn save_preferences(
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
    let input = PreferencesInput {
        name: form.get("name").cloned(),
        frequency: form.get("frequency").cloned(),
        pause_days: form.get("pause_days").cloned(),
    };
    match subscribers::update_preferences(&app, &token, &input).await {
        Ok(p) => preferences_response(&app, &token, &p, true),
        Err(ServiceError::Invalid(message)) => match subscribers::profile(&app, &token).await {
            Ok(p) => {
                let mut m = meta(&app, "Error: Preferences", true);
                m.flash = None;
                html(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    views::preferences_page(
                        &m,
                        &preferences_view(&app, &token, &p, Some(capitalise(&message))),
                    ),
                )
            }
            Err(e) => link_error(&app, e),
        },
        Err(e) => link_error(&app, e),
    }
}

async fn delete_everything(
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
    if form.get("confirm").map(String::as_str) != Some("yes") {
        return match subscribers::profile(&app, &token).await {
            Ok(p) => {
                let message = "Tick “Yes, delete everything about me” to confirm the deletion.";
                html(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    views::preferences_page(
                        &meta(&app, "Error: Preferences", true),
                        &preferences_view(&app, &token, &p, Some(message.into())),
                    ),
                )
            }
            Err(e) => link_error(&app, e),
        };
    }
    match subscribers::erase(&app, &token).await {
        Ok(()) => html(
            StatusCode::OK,
            views::erased_page(&meta(&app, "Deleted", true), &app.config.newsletter.name),
        ),
        Err(e) => link_error(&app, e),
    }
}

/// Bodies up to this size are read and discarded before a 413, so the client, which is
/// still sending, reliably gets the answer instead of a reset connection.
const DRAIN_LIMIT: usize = 1024 * 1024;

/// Answers oversized requests with the JSON error shape or an error page (depending on
/// what the client sent) instead of the body limit's bare text.
pub async fn shape_too_large(
    State(app): State<App>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let json = wants_json(request.headers()) || request.uri().path().starts_with("/api/");
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    let response = match declared {
        Some(len) if len > super::BODY_LIMIT => {
            if len <= DRAIN_LIMIT {
                let _ = axum::body::to_bytes(request.into_body(), DRAIN_LIMIT).await;
            }
            None
        }
        _ => Some(next.run(request).await),
    };
    if let Some(response) = response {
        let plain = response
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/plain"));
        if response.status() != StatusCode::PAYLOAD_TOO_LARGE || !plain {
            return response;
        }
    }
    let message = format!(
        "the request is larger than {} KiB",
        super::BODY_LIMIT / 1024
    );
    if json {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            Json(json!({ "error": message, "status": 413 })),
        )
            .into_response()
    } else {
        error(
            &app,
            StatusCode::PAYLOAD_TOO_LARGE,
            "That was too much",
            &message,
        )
    }
}
