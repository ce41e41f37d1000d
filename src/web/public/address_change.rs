//! Changing the address: the request from the preferences page and its confirmation.

use axum::{extract::State, http::StatusCode, response::Response};
use templates::public::{self as views};

use crate::{
    app::App,
    subscribers::{self, address},
};

use super::{body::*, preferences::after_form, respond::*};

/// The preferences page's "change your address" form: mails a link to the new address
/// (its own budget: it costs an email).
pub(super) async fn request_address_change(
    State(app): State<App>,
    budget: Budget,
    form: Result<LinkForm, ReaderError>,
) -> Result<Response, ReaderError> {
    budget.spend("address")?;
    let form = form?;
    let typed = form.field("new_email").to_string();
    let outcome = match address::request_change(&app, &form.token, &typed).await {
        Ok(_) => subscribers::profile(&app, &form.token).await,
        Err(e) => Err(e),
    };
    let sent = "Check the new address's inbox: the change happens when its link is followed.";
    after_form(&app, &form.token, outcome, sent, |v, why| {
        v.new_address = typed;
        v.new_address_error = Some(why);
    })
    .await
}

/// The link in the change-of-address email: asks before changing (link scanners).
pub(super) async fn address_change_page(
    State(app): State<App>,
    link: LinkQuery,
) -> Result<Response, ReaderError> {
    let tag = link.query.get("tag").cloned().unwrap_or_default();
    let (_, new) = address::pending_change(&app, &link.token, &tag).await?;
    Ok(html(
        StatusCode::OK,
        views::confirm_address_page(
            &meta(&app, "Change address", true),
            new.as_str(),
            &link.token,
            &tag,
        ),
    ))
}

pub(super) async fn confirm_address_change(
    State(app): State<App>,
    form: LinkForm,
) -> Result<Response, ReaderError> {
    let s = address::confirm_change(&app, &form.token, form.field("tag")).await?;
    Ok(html(
        StatusCode::OK,
        views::address_changed_page(
            &meta(&app, "Address changed", true),
            s.email.as_str(),
            &subscribers::preferences_url(&app, s.id),
        ),
    ))
}
