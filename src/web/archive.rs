//! The public web archive: the list of issues that went out, each one as a web page with
//! a sign-up form (see [`crate::archive`]), and `/archive.atom`. The "View in browser"
//! and share links of every email point here.

use axum::{
    Router,
    extract::{Path, Query, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use chrono::NaiveDate;
use serde::Deserialize;
use templates::{
    archive::{ArchiveEntry, ArchiveView, archive_page, issue_page},
    page::{PageMeta, error_page},
};

use crate::{
    app::App,
    archive,
    digest::compose::archive_path_of,
    store::{StoreError, digests::Digest},
};

const PER_PAGE: i64 = 30;

/// An issue page carries feed content (sanitised, but from elsewhere) on our origin, so
/// the browser is told to run nothing and load nothing but pictures; its only form posts
/// back here, and its only script is the sign-up form's time-zone line, allowed by the
/// hash of its exact text (so a reader who signs up here gets their own morning too).
fn digest_csp() -> HeaderValue {
    static CSP: std::sync::LazyLock<HeaderValue> = std::sync::LazyLock::new(|| {
        use base64::Engine as _;
        use sha2::Digest as _;
        let hash = sha2::Sha256::digest(templates::public::ZONE_SCRIPT.as_bytes());
        let hash = base64::engine::general_purpose::STANDARD.encode(hash);
        HeaderValue::try_from(format!(
            "default-src 'none'; img-src https: http: data:; style-src 'unsafe-inline'; \
             script-src 'sha256-{hash}'; base-uri 'none'; form-action 'self'; \
             frame-ancestors 'none'"
        ))
        .expect("the policy is ASCII")
    });
    CSP.clone()
}

pub fn routes() -> Router<App> {
    Router::new()
        .route("/archive", get(list))
        .route("/archive.atom", get(feed))
        .route("/archive/{key}", get(show))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    page: Option<String>,
}

async fn list(State(app): State<App>, Query(q): Query<ListQuery>) -> Response {
    // A page number that is not one is page 1, not an error: these links get mangled.
    let page = q
        .page
        .and_then(|p| p.trim().parse::<i64>().ok())
        .filter(|p| (1..=100_000).contains(p))
        .unwrap_or(1);
    let rows = match app
        .store
        .list_sent_digests(PER_PAGE + 1, (page - 1) * PER_PAGE)
        .await
    {
        Ok(rows) => rows,
        Err(e) => return failure(&app, e),
    };
    let more = rows.len() as i64 > PER_PAGE;
    let entries = rows
        .into_iter()
        .take(PER_PAGE as usize)
        .map(|d| {
            let date = d.issue_date.parse::<NaiveDate>().ok();
            ArchiveEntry {
                date_label: date.map_or_else(|| d.issue_date.clone(), archive::long_date),
                href: archive_path_of(&d.kind, d.id, &d.issue_date),
                iso_date: d.issue_date,
                subject: d.subject.unwrap_or_default(),
                preheader: d.preheader.unwrap_or_default(),
            }
        })
        .collect();
    let view = ArchiveView {
        publication: app.config.newsletter.name.clone(),
        brand: app.look.current().brand.clone(),
        weekly_day: super::public::weekday_name(&app.config.subscribers.weekly_day),
        pitch: app.config.newsletter.pitch.clone(),
        entries,
        newer_href: (page > 1).then(|| format!("/archive?page={}", page - 1)),
        older_href: more.then(|| format!("/archive?page={}", page + 1)),
        next_issue: archive::next_issue_sentence(&app).await,
        feed_url: app.url("/archive.atom"),
    };
    archive_page(&view).into_response()
}

#[derive(Debug, Deserialize)]
struct ShowQuery {
    format: Option<String>,
}

/// `/archive/2026-03-06` or `/archive/42`; `?format=text` gives the plain-text part.
async fn show(
    State(app): State<App>,
    Path(key): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Response {
    let digest = match find(&app, &key).await {
        Ok(Some(d)) => d,
        Ok(None) => return not_found(&app),
        Err(e) => return failure(&app, e),
    };
    if q.format.as_deref() == Some("text") {
        let text = digest.text.unwrap_or_default();
        return ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response();
    }
    let mut view = match archive::issue_page_view(&app, &digest).await {
        Ok(v) => v,
        Err(e) => return failure(&app, e),
    };
    view.weekly_day = super::public::weekday_name(&app.config.subscribers.weekly_day);
    let mut response = issue_page(&view).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, digest_csp());
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// `/archive.atom`: the latest issues with their content.
async fn feed(State(app): State<App>) -> Response {
    match archive::feed(&app).await {
        Ok(xml) => (
            [(header::CONTENT_TYPE, "application/atom+xml; charset=utf-8")],
            xml,
        )
            .into_response(),
        Err(e) => failure(&app, e),
    }
}

/// Only digests that went out are public: a draft or a skipped day is "not found".
async fn find(app: &App, key: &str) -> Result<Option<Digest>, StoreError> {
    let found = if let Ok(date) = key.parse::<NaiveDate>() {
        app.store.digest_for_date(date).await?
    } else if let Ok(id) = key.parse::<i64>() {
        match app.store.digest(id).await {
            Ok(d) => Some(d),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e),
        }
    } else {
        None
    };
    Ok(found.filter(|d| d.status.is_out() && d.html.is_some()))
}

fn meta(app: &App) -> PageMeta {
    PageMeta {
        title: "Past issues".into(),
        publication: app.config.newsletter.name.clone(),
        flash: None,
        noindex: true,
        brand: app.look.current().brand.clone(),
    }
}

fn not_found(app: &App) -> Response {
    error(
        app,
        StatusCode::NOT_FOUND,
        "We could not find that digest",
        "It may not have been sent yet, or the link is mistyped. Every digest that went out is in the archive.",
        ("Go to the archive", "/archive"),
    )
}

fn failure(app: &App, error: StoreError) -> Response {
    tracing::error!(%error, "archive page failed");
    self::error(
        app,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong on our side",
        "The archive could not be read just now. Please try again in a minute.",
        ("Go to the home page", "/"),
    )
}

/// An archive error page: what happened, and one way on.
fn error(
    app: &App,
    status: StatusCode,
    heading: &str,
    message: &str,
    way_on: (&str, &str),
) -> Response {
    let body = error_page(&meta(app), status.as_u16(), heading, message, Some(way_on));
    (status, body).into_response()
}
