//! Changing the address: the request from the preferences page and its confirmation.

use std::collections::HashMap;

use axum::{
    Extension,
    body::Bytes,
    extract::{Query, State, rejection::BytesRejection},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use templates::public::{self as views};

use crate::web::rate_limit::{ClientIp, RateLimiter};
use crate::{
    app::App,
    subscribers::{self, ServiceError, address},
};

use super::{body::*, preferences::preferences_view, respond::*};

/// The preferences page's "change your address" form: mails a link to the new address.
pub(super) async fn request_address_change(
    State(app): State<App>,
    Extension(limiter): Extension<RateLimiter>,
    ClientIp(ip): ClientIp,
    Query(q): Params,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let form = match limited_form(&app, &limiter, ip, "address", &headers, body) {
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
pub(super) async fn address_change_page(State(app): State<App>, Query(q): Params) -> Response {
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

pub(super) async fn confirm_address_change(
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
