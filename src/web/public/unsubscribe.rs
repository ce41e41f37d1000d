//! Unsubscribing, resubscribing, and the "stay, but less often" choice.

use axum::{
    body::Bytes,
    extract::{State, rejection::BytesRejection},
    http::StatusCode,
    response::Response,
};
use templates::{
    Markup,
    page::PageMeta,
    public::{self as views, ResubscribeOutcome},
};

use crate::{
    app::App,
    subscribers::{self, Resubscribed, leaving},
};

use super::{body::*, preferences::when, respond::*};

pub(super) async fn unsubscribe_page(
    State(app): State<App>,
    link: LinkQuery,
) -> Result<Response, ReaderError> {
    let s = subscribers::unsubscribe_target(&app, &link.token).await?;
    Ok(html(
        StatusCode::OK,
        views::unsubscribe_page(
            &meta(&app, "Unsubscribe", true),
            &views::UnsubscribeView {
                publication: app.config.newsletter.name.clone(),
                email: s.email.to_string(),
                token: link.token,
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
    ))
}

/// What the leaving flow answers once it has done what was asked: `page` gets the page's
/// metadata, the publication's name and the subscriber's preferences link (the way back).
fn left_page(
    app: &App,
    title: &str,
    subscriber_id: i64,
    page: impl FnOnce(&PageMeta, &str, &str) -> Markup,
) -> Response {
    let preferences = subscribers::preferences_url(app, subscriber_id);
    let markup = page(
        &meta(app, title, true),
        &app.config.newsletter.name,
        &preferences,
    );
    html(StatusCode::OK, markup)
}

/// The RFC 8058 one-click POST (and the page's button): unsubscribes at once, 200.
pub(super) async fn unsubscribe(
    State(app): State<App>,
    link: LinkQuery,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ReaderError> {
    // Mail clients send `List-Unsubscribe=One-Click`, in whatever content type they like;
    // the token is in the URL. The body is read as a form whatever it claims to be, but an
    // oversized one is still refused.
    let form = form_fields(&body?);
    let token = match link.query.get("token") {
        Some(t) => t.clone(),
        None => form.get("token").cloned().unwrap_or_default(),
    };
    let reason = form.get("reason").map(String::as_str);
    let s = leaving::unsubscribe_because(&app, &token, reason).await?;
    Ok(left_page(
        &app,
        "Unsubscribed",
        s.id,
        |m, name, preferences| views::unsubscribed_page(m, name, &token, preferences),
    ))
}

/// Back on the list after leaving (its own budget: it may cost a confirmation email).
pub(super) async fn resubscribe(
    State(app): State<App>,
    budget: Budget,
    form: Result<LinkForm, ReaderError>,
) -> Result<Response, ReaderError> {
    budget.spend("resubscribe")?;
    let (subscriber, outcome) = match subscribers::resubscribe(&app, &form?.token).await? {
        (s, Resubscribed::Now) => (s, ResubscribeOutcome::Now),
        (s, Resubscribed::Already) => (s, ResubscribeOutcome::Already),
        (s, Resubscribed::Refused) => (s, ResubscribeOutcome::Refused),
    };
    let next = crate::archive::next_issue_sentence(&app).await;
    Ok(left_page(
        &app,
        "Resubscribed",
        subscriber.id,
        |m, name, preferences| {
            views::resubscribed_page(m, name, outcome, next.as_deref(), preferences)
        },
    ))
}

/// "Weekly instead" or "pause instead", from the unsubscribe page.
pub(super) async fn stay_instead(
    State(app): State<App>,
    form: LinkForm,
) -> Result<Response, ReaderError> {
    let choice: leaving::Instead = form.field("choice").parse()?;
    let s = leaving::stay_instead(&app, &form.token, choice).await?;
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
    Ok(left_page(
        &app,
        "Thanks for staying",
        s.id,
        |m, name, preferences| views::stayed_page(m, name, &what, preferences),
    ))
}
