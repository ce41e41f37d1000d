//! The admin web UI: sign-in, today's digest, schedule, past digests, feeds, branding,
//! subscribers and API tokens. Every page is server-rendered and works without
//! JavaScript; every form posts with the session's CSRF token.

mod bounces;
mod branding;
mod digest;
mod feed_edit;
mod leaving;
mod login;
mod pages;
pub mod queue;
mod schedule;
mod subscribers;

pub use branding::upload_routes as branding_upload_routes;
pub use subscribers::upload_routes;

use axum::{
    Router,
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use templates::{
    admin::AdminNav,
    page::{Flash, FlashKind, PageMeta},
};

use super::auth::{
    AuthRejection, CSRF_FIELD, CurrentUser, PageError, SignedIn, no_store, verify_csrf,
};
use crate::app::App;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/admin/login", get(login::page).post(login::submit))
        .route("/admin/logout", post(login::logout))
        .route("/admin", get(digest::today))
        .route("/admin/", get(|| async { Redirect::to("/admin") }))
        .route(
            "/admin/digest/{id}/articles/{article}",
            post(digest::article_action),
        )
        .route(
            "/admin/digest/{id}/articles/{article}/override",
            post(digest::article_override),
        )
        .route("/admin/digest/{id}/add-url", post(digest::add_by_url))
        .route(
            "/admin/digest/{id}/announcement",
            post(digest::save_announcement),
        )
        .route("/admin/assets/composer.js", get(digest::composer_js))
        .route("/admin/digest/{id}/note", post(digest::save_note))
        .route("/admin/digest/{id}/preview.html", get(digest::preview_html))
        .route("/admin/digest/{id}/preview.txt", get(digest::preview_text))
        .route("/admin/digest/{id}/test", post(digest::send_test))
        .route("/admin/digest/{id}/approve", post(digest::approve))
        .route("/admin/special", post(digest::start_special))
        .route("/draft/{id}", get(digest::draft_view))
        .route("/test-copy", get(digest::test_copy_page))
        .route(
            "/admin/digest/{id}/send",
            get(digest::confirm_send).post(digest::send_now),
        )
        .route(
            "/admin/schedule",
            get(schedule::page).post(schedule::save_daily),
        )
        .route("/admin/schedule/pause", post(schedule::pause))
        .route("/admin/schedule/greeting", post(schedule::save_greeting))
        .route("/admin/schedule/oneoff", post(schedule::add_one_off))
        .route(
            "/admin/schedule/oneoff/{id}/cancel",
            post(schedule::cancel_one_off),
        )
        .route("/admin/digests", get(pages::past_digests))
        .route("/admin/leaving", get(leaving::page))
        .route("/admin/branding", get(branding::page))
        .route("/admin/branding/look", post(branding::save_look))
        .route("/admin/branding/copy", post(branding::copy_action))
        .route("/admin/feeds", get(pages::feeds).post(pages::add_feed))
        .route("/admin/feeds/{id}/fetch", post(pages::fetch_feed))
        .route("/admin/feeds/{id}/edit", post(feed_edit::edit_feed))
        .route("/admin/feeds/{id}/delete", post(pages::delete_feed))
        .route("/admin/subscribers", get(subscribers::list))
        .route(
            "/admin/subscribers/new",
            get(subscribers::add_form).post(subscribers::add),
        )
        .route(
            "/admin/subscribers/export.csv",
            get(subscribers::export_csv),
        )
        .route("/admin/subscribers/import", get(subscribers::import_page))
        .route(
            "/admin/subscribers/import/{id}",
            get(subscribers::import_status).post(subscribers::import_submit),
        )
        .route(
            "/admin/subscribers/import/{id}/report.csv",
            get(subscribers::import_report),
        )
        .route("/admin/subscribers/{id}", get(subscribers::detail))
        .route("/admin/subscribers/{id}/edit", post(subscribers::edit))
        .route("/admin/subscribers/{id}/resend", post(subscribers::resend))
        .route(
            "/admin/subscribers/{id}/unsubscribe",
            post(subscribers::unsubscribe),
        )
        .route(
            "/admin/subscribers/{id}/erase",
            get(subscribers::erase_confirm).post(subscribers::erase),
        )
        .route(
            "/admin/tokens",
            get(pages::tokens).post(pages::create_token),
        )
        .route("/admin/tokens/{id}/revoke", post(pages::revoke_token))
        .route("/admin/bounces", get(bounces::page))
        .route("/admin/bounces/{id}/reprocess", post(bounces::reprocess))
        .route(
            "/admin/bounces/digest/{id}/retry",
            post(bounces::retry_temporary),
        )
}

/// A form body as name/value pairs. Unlike `Form<T>`, repeated names (checkbox groups)
/// survive, and a malformed body is simply an empty form rather than a bare 4xx.
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or("").trim().to_string()
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Refuses the form (403 page) unless it carries `user`'s CSRF token.
    pub fn check_csrf(&self, app: &App, user: &CurrentUser) -> Result<(), PageError> {
        verify_csrf(app, user, self.get(CSRF_FIELD))
    }
}

/// A form posted by an admin whose role passes `R` (`RequireEditor`, `RequireOperator`),
/// with its CSRF token checked against their session: admin forms arrive through this,
/// so no handler can forget the check. In a handler:
/// `CheckedForm(RequireEditor(user), f): CheckedForm<RequireEditor>`.
pub struct CheckedForm<R>(pub R, pub Fields);

impl<R> FromRequest<App> for CheckedForm<R>
where
    R: SignedIn + FromRequestParts<App, Rejection = AuthRejection> + Send,
{
    type Rejection = Response;

    async fn from_request(req: Request, app: &App) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let role = R::from_request_parts(&mut parts, app)
            .await
            .map_err(IntoResponse::into_response)?;
        let fields = Fields::from_request(Request::from_parts(parts, body), app).await?;
        fields
            .check_csrf(app, role.user())
            .map_err(IntoResponse::into_response)?;
        Ok(Self(role, fields))
    }
}

impl<S: Send + Sync> FromRequest<S> for Fields {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Fields(
            url::form_urlencoded::parse(&bytes)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        ))
    }
}

/// The page's metadata, with an optional message from the action that led here.
pub fn meta(app: &App, title: &str, flash: Option<Flash>) -> PageMeta {
    PageMeta {
        title: title.into(),
        publication: app.config.newsletter.name.clone(),
        flash,
        noindex: true,
        brand: Default::default(),
    }
}

pub fn nav(user: &CurrentUser, current: &str) -> AdminNav {
    AdminNav {
        email: user.email.clone(),
        is_editor: user.is_editor(),
        csrf: user.csrf.clone(),
        current: current.into(),
    }
}

/// Messages that actions hand to the next page through `?msg=`; only these fixed texts
/// can be shown, so a crafted link cannot put words on our page.
pub fn flash_for(code: Option<&str>) -> Option<Flash> {
    let (kind, message) = match code? {
        "saved" => (FlashKind::Success, "Saved."),
        "article-added" => (FlashKind::Success, "Article added to this issue."),
        "test-sent" => (
            FlashKind::Success,
            "A test is on its way to your address. It can take a minute to arrive.",
        ),
        "sending" => (
            FlashKind::Success,
            "Sending has started. Follow its progress on the queue page.",
        ),
        "approved" => (
            FlashKind::Success,
            "Approved: it goes out at the scheduled time.",
        ),
        "paused" => (FlashKind::Info, "The daily digest is paused."),
        "resumed" => (FlashKind::Success, "The daily digest is back on schedule."),
        "oneoff-added" => (FlashKind::Success, "One-off send scheduled."),
        "oneoff-cancelled" => (FlashKind::Success, "One-off send cancelled."),
        "feed-added" => (
            FlashKind::Success,
            "Feed added. It is fetched within a minute.",
        ),
        "feed-removed" => (FlashKind::Success, "Feed removed."),
        "feed-fetched" => (FlashKind::Success, "Feed fetched."),
        "unsubscribed" => (FlashKind::Success, "Unsubscribed."),
        "erased" => (FlashKind::Success, "The subscriber was erased."),
        "subscriber-added" => (FlashKind::Success, "Subscriber added."),
        "confirmation-resent" => (
            FlashKind::Success,
            "A confirmation link is on its way, unless one was sent in the last few minutes.",
        ),
        "revoked" => (FlashKind::Success, "Token revoked."),
        "reprocessed" => (FlashKind::Success, "Report re-processed and applied."),
        "still-unmatched" => (
            FlashKind::Info,
            "The report still cannot be matched; its reason is updated below.",
        ),
        "retried" => (FlashKind::Success, "The job is queued again."),
        "retried-all" => (FlashKind::Success, "Every failed job is queued again."),
        "discarded" => (FlashKind::Success, "The job was discarded."),
        "gone" => (
            FlashKind::Info,
            "That job has already moved on (it was retried, finished or purged).",
        ),
        _ => return None,
    };
    Some(Flash {
        kind,
        message: message.into(),
    })
}

/// A rendered admin page that must not be cached.
pub fn html_page(markup: templates::Markup) -> Response {
    (no_store(), markup).into_response()
}

/// After a POST: back to a page (303, so a reload does not resubmit).
pub fn see_other(path: &str) -> Response {
    Redirect::to(path).into_response()
}

/// Formats epoch ms for the admin, in the schedule's zone.
pub fn when(ms: i64, zone: chrono_tz::Tz) -> String {
    crate::domain::clock::from_ms(ms)
        .with_timezone(&zone)
        .format("%-d %b %Y, %H:%M %Z")
        .to_string()
}

/// The zone the admin shows times in: the publication's (the schedule row's).
pub async fn admin_zone(app: &App) -> chrono_tz::Tz {
    crate::edition::zone(app).await
}
