//! Confirming a subscription, and resending the confirmation link.

use axum::{extract::State, http::StatusCode, response::Response};
use templates::public::{self as views, CheckEmailView, ConfirmedView};

use crate::{
    app::App,
    subscribers::{self},
};

use super::{body::*, respond::*, signup::accepted};

/// What the confirmed page says: when the first issue comes and where the latest is; no
/// preferences link when an expired link was replayed.
pub(super) async fn confirmed_view(app: &App, c: &subscribers::Confirmed) -> ConfirmedView {
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
        next_issue: crate::schedule::moments::first_issue_sentence(
            app,
            c.subscriber.time_zone.as_deref(),
        )
        .await,
        latest_issue: latest.map(|d| {
            let href = crate::digest::compose::archive_path_of(&d.kind, d.id, &d.issue_date);
            (d.subject.unwrap_or_else(|| d.issue_date.clone()), href)
        }),
    }
}

/// The page a confirmation link opens: it changes nothing (link scanners follow links).
pub(super) async fn confirm_page(
    State(app): State<App>,
    link: LinkQuery,
) -> Result<Response, ReaderError> {
    Ok(match subscribers::confirm_step(&app, &link.token).await? {
        subscribers::ConfirmStep::Ask(s) => html(
            StatusCode::OK,
            views::confirm_page(
                &meta(&app, "Confirm your subscription", true),
                &app.config.newsletter.name,
                s.email.as_str(),
                &link.token,
            ),
        ),
        subscribers::ConfirmStep::Done(c) => confirmed(&app, &c).await,
    })
}

/// The button on that page: confirms.
pub(super) async fn confirm(
    State(app): State<App>,
    form: LinkForm,
) -> Result<Response, ReaderError> {
    let c = subscribers::confirm(&app, &form.token).await?;
    Ok(confirmed(&app, &c).await)
}

/// A preferences link only for a live confirmation link (not an expired one replayed).
pub(super) async fn confirmed(app: &App, c: &subscribers::Confirmed) -> Response {
    html(
        StatusCode::OK,
        views::confirmed_page(
            &meta(app, "Subscribed", true),
            &confirmed_view(app, c).await,
        ),
    )
}

/// Another confirmation link, for the token of an expired one (its own budget: it costs
/// an email).
pub(super) async fn resend(
    State(app): State<App>,
    budget: Budget,
    form: Result<LinkForm, ReaderError>,
) -> Result<Response, ReaderError> {
    budget.spend("resend")?;
    subscribers::resend_confirmation(&app, &form?.token).await?;
    Ok(accepted(
        &app,
        false,
        &CheckEmailView {
            resend_after: resend_interval(&app),
            ..Default::default()
        },
    ))
}
