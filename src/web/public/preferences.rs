//! The preferences page: viewing, saving, and deleting everything.

use axum::{extract::State, http::StatusCode, response::Response};
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

/// The page's content: the choices, everything stored, and the history.
fn preferences_view(app: &App, token: &str, p: &Profile) -> PreferencesView {
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
        error: None,
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

/// The preferences page, with a green `saved` note when there is one.
fn preferences_page(app: &App, token: &str, p: &Profile, saved: Option<&str>) -> Response {
    let mut m = meta(app, "Preferences", true);
    m.flash = saved.map(|message| templates::page::Flash {
        kind: templates::page::FlashKind::Success,
        message: message.into(),
    });
    html(
        StatusCode::OK,
        views::preferences_page(&m, &preferences_view(app, token, p)),
    )
}

/// The preferences page again, 422, after input that needs correcting; `mark` puts what
/// is wrong (and what was typed) into the view.
async fn preferences_to_correct(
    app: &App,
    token: &str,
    mark: impl FnOnce(&mut PreferencesView),
) -> Result<Response, ReaderError> {
    let p = subscribers::profile(app, token).await?;
    let mut view = preferences_view(app, token, &p);
    mark(&mut view);
    Ok(html(
        StatusCode::UNPROCESSABLE_ENTITY,
        views::preferences_page(&meta(app, "Error: Preferences", true), &view),
    ))
}

/// The answer to one of the preferences page's forms: the page with the `saved` note, or
/// the form again (422) where the service asks for a correction, its words put in place
/// by `mark`; any other refusal is the link's error page.
pub(super) async fn after_form(
    app: &App,
    token: &str,
    outcome: Result<Profile, ServiceError>,
    saved: &str,
    mark: impl FnOnce(&mut PreferencesView, String),
) -> Result<Response, ReaderError> {
    match outcome {
        Ok(p) => Ok(preferences_page(app, token, &p, Some(saved))),
        Err(ServiceError::Invalid(message)) => {
            preferences_to_correct(app, token, |v| mark(v, capitalise(&message))).await
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn preferences(
    State(app): State<App>,
    link: LinkQuery,
) -> Result<Response, ReaderError> {
    let p = subscribers::profile(&app, &link.token).await?;
    Ok(preferences_page(&app, &link.token, &p, None))
}

pub(super) async fn save_preferences(
    State(app): State<App>,
    form: LinkForm,
) -> Result<Response, ReaderError> {
    let input = PreferencesInput {
        name: form.fields.get("name").cloned(),
        frequency: form.fields.get("frequency").cloned(),
        pause_days: form.fields.get("pause_days").cloned(),
        time_zone: form.fields.get("time_zone").cloned(),
    };
    let outcome = subscribers::update_preferences(&app, &form.token, &input).await;
    let saved = "Your preferences are saved.";
    after_form(&app, &form.token, outcome, saved, |v, why| {
        v.error = Some(why)
    })
    .await
}

pub(super) async fn delete_everything(
    State(app): State<App>,
    form: LinkForm,
) -> Result<Response, ReaderError> {
    if form.field("confirm") != "yes" {
        let message = "Tick “Yes, delete everything about me” to confirm the deletion.";
        return preferences_to_correct(&app, &form.token, |v| v.error = Some(message.into())).await;
    }
    subscribers::erase(&app, &form.token).await?;
    Ok(html(
        StatusCode::OK,
        views::erased_page(&meta(&app, "Deleted", true), &app.config.newsletter.name),
    ))
}
