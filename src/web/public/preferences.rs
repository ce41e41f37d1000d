//! The preferences page: viewing, saving, and deleting everything.

use axum::{
    body::Bytes,
    extract::{Query, State, rejection::BytesRejection},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use templates::public::{self as views, PreferencesView};

use crate::{
    app::App,
    domain::{SubscriberStatus, clock::from_ms},
    subscribers::{self, PreferencesInput, Profile, ServiceError},
};

use super::{body::*, respond::*};

pub(super) fn when(ms: i64) -> String {
    from_ms(ms).format("%-d %b %Y, %H:%M UTC").to_string()
}

pub(super) fn preferences_view(
    app: &App,
    token: &str,
    p: &Profile,
    error: Option<String>,
) -> PreferencesView {
    let s = &p.subscriber;
    let now = app.now_ms();
    let paused = s.paused_until.filter(|&t| t > now);
    let opt = |v: Option<i64>| v.map(when).unwrap_or_else(|| "—".into());
    let stored = vec![
        ("Email address", s.email.to_string()),
        ("Name", s.name.clone().unwrap_or_else(|| "—".into())),
        ("Status", s.status.to_string()),
        ("How often", s.frequency.as_str().to_string()),
        (
            "Time zone",
            s.time_zone.clone().unwrap_or_else(|| "—".into()),
        ),
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
        time_zone: s.time_zone.clone().unwrap_or_default(),
        zone_names: subscribers::zone_names(),
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

pub(super) fn preferences_response(app: &App, token: &str, p: &Profile, saved: bool) -> Response {
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

pub(super) async fn preferences(State(app): State<App>, Query(q): Params) -> Response {
    let token = token_of(&q, None);
    match subscribers::profile(&app, &token).await {
        Ok(p) => preferences_response(&app, &token, &p, false),
        Err(e) => link_error(&app, e),
    }
}

pub(super) async fn save_preferences(
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
        time_zone: form.get("time_zone").cloned(),
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

pub(super) async fn delete_everything(
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
