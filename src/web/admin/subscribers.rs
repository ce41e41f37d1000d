//! The audience: the subscribers table, one subscriber's page and its actions, adding
//! one by hand, the export of the current view, and the import of an uploaded file.
//!
//! Roles: any admin (operators too) sees the list and a subscriber, exports, and resends
//! a confirmation link; changing, adding, unsubscribing, erasing and importing are for
//! editors.

use axum::{
    Router,
    extract::{DefaultBodyLimit, Multipart, Path, Query, State, multipart::MultipartRejection},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use serde::Deserialize;
use templates::admin::subscribers::{
    AddForm, DeliveryLine, DetailView, FilterView, ListRow, ListView, MappingView, PreviewRow,
    ReportView,
};

use super::{CheckedForm, admin_zone, flash_for, html_page, meta, nav, see_other, when};
use crate::{
    app::App,
    domain::{EmailAddress, Frequency, SubscriberStatus},
    store::{
        StoreError,
        subscribers::{
            AdminEdit, ImportJob, ImportState, PageCursor, Subscriber, SubscriberFilter,
            SubscriberSort,
        },
    },
    subscribers::{
        ServiceError,
        import::{ColumnMap, Existing, FIELDS, ImportOptions, UploadProblem},
        upload::{self, Incoming, UploadError},
    },
    web::auth::{CSRF_FIELD, CurrentUser, PageError, RequireEditor, RequireOperator, verify_csrf},
};

/// Rows per page of the table.
const PAGE_SIZE: i64 = 50;

/// The upload route, kept apart from the others: its body is a file of up to the
/// configured size, not a 64 KiB form, so it is merged outside the service-wide body
/// limit and enforces its own limit while it streams.
pub fn upload_routes() -> Router<App> {
    Router::new()
        .route("/admin/subscribers/import/upload", post(upload_file))
        .layer(DefaultBodyLimit::disable())
}

/// The table's query string: filters, search, order and where the page starts.
#[derive(Deserialize, Default, Debug, Clone)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    frequency: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    sort: String,
    after: Option<i64>,
    before: Option<i64>,
    /// The old page's `?id=` links still lead to the subscriber.
    id: Option<i64>,
    msg: Option<String>,
}

impl ListQuery {
    /// The filter these parameters ask for; values we do not know are ignored.
    fn filter(&self) -> SubscriberFilter {
        let some = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        SubscriberFilter {
            status: self.status.parse().ok(),
            frequency: self.frequency.parse().ok(),
            source: some(&self.source),
            search: some(&self.q),
        }
    }

    fn sort(&self) -> SubscriberSort {
        SubscriberSort::parse(&self.sort).unwrap_or_default()
    }

    fn cursor(&self) -> PageCursor {
        match (self.after, self.before) {
            (Some(id), _) => PageCursor::After(id),
            (None, Some(id)) => PageCursor::Before(id),
            _ => PageCursor::First,
        }
    }
}

/// A query string for the filter, `sort` and an optional page start (`after=…`).
fn list_query(f: &SubscriberFilter, sort: SubscriberSort, start: Option<(&str, i64)>) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    if let Some(s) = &f.search {
        q.append_pair("q", s);
    }
    if let Some(s) = f.status {
        q.append_pair("status", s.as_str());
    }
    if let Some(fr) = f.frequency {
        q.append_pair("frequency", fr.as_str());
    }
    if let Some(s) = &f.source {
        q.append_pair("source", s);
    }
    if sort != SubscriberSort::default() {
        q.append_pair("sort", sort.as_str());
    }
    if let Some((k, id)) = start {
        q.append_pair(k, &id.to_string());
    }
    q.finish()
}

fn with_query(path: &str, query: &str) -> String {
    if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    }
}

fn day(ms: i64, zone: chrono_tz::Tz) -> String {
    crate::domain::clock::from_ms(ms)
        .with_timezone(&zone)
        .format("%-d %b %Y")
        .to_string()
}

pub async fn list(
    State(app): State<App>,
    RequireOperator(user): RequireOperator,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    if let Some(id) = q.id {
        return Ok(see_other(&format!("/admin/subscribers/{id}")));
    }
    let zone = admin_zone(&app).await;
    let filter = q.filter();
    let sort = q.sort();
    let (counts, page, matches) = app
        .store
        .subscriber_overview(&filter, sort, q.cursor(), PAGE_SIZE)
        .await?;
    let counts = counts
        .into_iter()
        .map(|(s, n)| (s.to_string(), n))
        .collect();
    let sources = app.store.subscriber_sources().await?;
    let rows = page
        .rows
        .iter()
        .map(|r| {
            let s = &r.subscriber;
            ListRow {
                href: format!("/admin/subscribers/{}", s.id),
                email: s.email.to_string(),
                name: s.name.clone().unwrap_or_default(),
                status: s.status.to_string(),
                frequency: s.frequency.as_str().into(),
                time_zone: s.time_zone.clone().unwrap_or_default(),
                signed_up: day(s.created_at, zone),
                last_sent: r.last_sent_at.map_or("–".into(), |t| day(t, zone)),
                bounces: s.bounce_count,
            }
        })
        .collect();
    let link = |start: Option<(&str, i64)>| {
        with_query("/admin/subscribers", &list_query(&filter, sort, start))
    };
    let next_href = page
        .rows
        .last()
        .filter(|_| page.has_next)
        .map(|r| link(Some(("after", r.subscriber.id))));
    let prev_href = page
        .rows
        .first()
        .filter(|_| page.has_prev)
        .map(|r| link(Some(("before", r.subscriber.id))));
    let sort_link = |a: SubscriberSort, b: SubscriberSort| {
        let (target, arrow) = if sort == a {
            (
                b,
                if matches!(a, SubscriberSort::NewestFirst | SubscriberSort::EmailDesc) {
                    " ↓"
                } else {
                    " ↑"
                },
            )
        } else if sort == b {
            (
                a,
                if matches!(b, SubscriberSort::NewestFirst | SubscriberSort::EmailDesc) {
                    " ↓"
                } else {
                    " ↑"
                },
            )
        } else {
            (a, "")
        };
        (
            with_query("/admin/subscribers", &list_query(&filter, target, None)),
            arrow,
        )
    };
    let v = ListView {
        counts,
        filter: FilterView {
            q: filter.search.clone().unwrap_or_default(),
            status: filter
                .status
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            frequency: filter
                .frequency
                .map(|f| f.as_str().to_string())
                .unwrap_or_default(),
            source: filter.source.clone().unwrap_or_default(),
            sort: if sort == SubscriberSort::default() {
                String::new()
            } else {
                sort.as_str().into()
            },
        },
        sources,
        matches,
        filtered: filter != SubscriberFilter::default(),
        rows,
        first_href: (q.cursor() != PageCursor::First && page.has_prev).then(|| link(None)),
        prev_href,
        next_href,
        sort_signed_up: sort_link(SubscriberSort::NewestFirst, SubscriberSort::OldestFirst),
        sort_address: sort_link(SubscriberSort::EmailAsc, SubscriberSort::EmailDesc),
        export_href: with_query(
            "/admin/subscribers/export.csv",
            &list_query(&filter, sort, None),
        ),
        can_edit: user.is_editor(),
    };
    Ok(html_page(templates::admin::subscribers::list_page(
        &meta(&app, "Subscribers", flash_for(q.msg.as_deref())),
        &nav(&user, "/admin/subscribers"),
        &v,
    )))
}

pub async fn export_csv(
    State(app): State<App>,
    RequireOperator(user): RequireOperator,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    let mut out = Vec::new();
    let n =
        crate::subscribers::import::export_filtered(&app, &q.filter(), q.sort(), &mut out).await?;
    tracing::info!(admin = user.id, rows = n, "subscribers exported");
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"subscribers.csv\"",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        out,
    )
        .into_response())
}

#[derive(Deserialize, Default)]
pub struct Msg {
    msg: Option<String>,
}

/// The 404 for a subscriber id that is not (or no longer) on the list, with the way
/// back to the table.
fn no_such_subscriber(app: &App) -> PageError {
    PageError::not_found(app, "subscriber").with_link("Back to subscribers", "/admin/subscribers")
}

async fn load(app: &App, id: i64) -> Result<Subscriber, PageError> {
    match app.store.subscriber(id).await {
        Ok(s) => Ok(s),
        Err(StoreError::NotFound) => Err(no_such_subscriber(app)),
        Err(e) => Err(e.into()),
    }
}

async fn detail_response(
    app: &App,
    user: &CurrentUser,
    s: &Subscriber,
    status: StatusCode,
    flash: Option<templates::page::Flash>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let zone = admin_zone(app).await;
    let events = app
        .store
        .subscriber_events(s.id)
        .await?
        .into_iter()
        .map(|e| (when(e.at, zone), e.kind, e.detail.unwrap_or_default()))
        .collect();
    let deliveries: Vec<DeliveryLine> = app
        .store
        .subscriber_deliveries(s.id)
        .await?
        .into_iter()
        .map(|d| DeliveryLine {
            archive_href: crate::digest::compose::archive_path_of(
                &d.kind,
                d.digest_id,
                &d.issue_date,
            ),
            issue: d.issue_date,
            subject: d.subject.unwrap_or_default(),
            state: d.state.to_string(),
            when: when(d.sent_at.unwrap_or(d.updated_at), zone),
            attempts: d.attempts,
            error: d.last_error.unwrap_or_default(),
        })
        .collect();
    let opt = |t: Option<i64>| t.map(|t| when(t, zone));
    let mut facts = vec![("Signed up".to_string(), when(s.created_at, zone))];
    for (label, t) in [
        ("Confirmed", s.confirmed_at),
        ("Confirmation email sent", s.confirmation_sent_at),
        ("Unsubscribed", s.unsubscribed_at),
        ("Bounced", s.bounced_at),
        ("Complained", s.complained_at),
        ("Paused until", s.paused_until),
    ] {
        if let Some(v) = opt(t) {
            facts.push((label.into(), v));
        }
    }
    facts.push(("Bounces".into(), s.bounce_count.to_string()));
    let v = DetailView {
        id: s.id,
        email: s.email.to_string(),
        name: s.name.clone().unwrap_or_default(),
        status: s.status.to_string(),
        frequency: s.frequency.as_str().into(),
        time_zone: s.time_zone.clone().unwrap_or_default(),
        source: s.source.clone(),
        facts,
        events,
        deliveries,
        status_moves: crate::subscribers::editor_moves(s.status)
            .into_iter()
            .map(|m| m.as_str().to_string())
            .collect(),
        can_edit: user.is_editor(),
        can_resend: s.status == SubscriberStatus::Pending,
        can_unsubscribe: user.is_editor()
            && matches!(
                s.status,
                SubscriberStatus::Pending | SubscriberStatus::Confirmed | SubscriberStatus::Bounced
            ),
        csrf: user.csrf.clone(),
        error,
        back_href: "/admin/subscribers".into(),
    };
    let markup = templates::admin::subscribers::detail_page(
        &meta(app, s.email.as_str(), flash),
        &nav(user, "/admin/subscribers"),
        &v,
    );
    Ok((status, html_page(markup)).into_response())
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

pub async fn detail(
    State(app): State<App>,
    RequireOperator(user): RequireOperator,
    Path(id): Path<i64>,
    Query(q): Query<Msg>,
) -> Result<Response, PageError> {
    let s = load(&app, id).await?;
    detail_response(
        &app,
        &user,
        &s,
        StatusCode::OK,
        flash_for(q.msg.as_deref()),
        None,
    )
    .await
}

/// An editor's change of name, frequency, zone and status (legal moves only).
pub async fn edit(
    State(app): State<App>,
    Path(id): Path<i64>,
    CheckedForm(RequireEditor(user), f): CheckedForm<RequireEditor>,
) -> Result<Response, PageError> {
    let s = load(&app, id).await?;
    let checked = (|| -> Result<_, String> {
        let name = crate::subscribers::clean_name(f.get("name"))?;
        let frequency: Frequency = f.text("frequency").parse()?;
        let tz = f.text("time_zone");
        let time_zone = (!tz.is_empty())
            .then(|| crate::subscribers::clean_time_zone(&tz))
            .transpose()?;
        let status: SubscriberStatus = match f.text("status").as_str() {
            "" => s.status,
            other => other
                .parse()
                .map_err(|e: crate::domain::subscriber::UnknownStatus| e.to_string())?,
        };
        if status != s.status && !crate::subscribers::editor_moves(s.status).contains(&status) {
            return Err(format!(
                "a {} subscriber cannot be made {status} by hand",
                s.status
            ));
        }
        Ok((name, frequency, time_zone, status))
    })();
    let (name, frequency, time_zone, status) = match checked {
        Ok(v) => v,
        Err(why) => {
            return detail_response(
                &app,
                &user,
                &s,
                StatusCode::BAD_REQUEST,
                None,
                Some(capitalise(&why) + "."),
            )
            .await;
        }
    };
    let now = app.now_ms();
    let edit = AdminEdit {
        name: name.as_deref(),
        frequency,
        time_zone: time_zone.as_deref(),
    };
    app.store.update_subscriber_details(id, &edit, now).await?;
    if status != s.status {
        match app.store.set_subscriber_status(id, status, now).await {
            Ok(_) => {}
            Err(e @ (StoreError::IllegalTransition(_) | StoreError::Conflict(_))) => {
                let s = load(&app, id).await?;
                return detail_response(
                    &app,
                    &user,
                    &s,
                    StatusCode::CONFLICT,
                    None,
                    Some(capitalise(&e.to_string()) + "."),
                )
                .await;
            }
            Err(e) => return Err(e.into()),
        }
    }
    tracing::info!(admin = user.id, subscriber = id, "subscriber edited");
    Ok(see_other(&format!("/admin/subscribers/{id}?msg=saved")))
}

/// Sends the confirmation link again to a pending subscriber (throttled like sign-ups).
pub async fn resend(
    State(app): State<App>,
    Path(id): Path<i64>,
    CheckedForm(RequireOperator(user), _): CheckedForm<RequireOperator>,
) -> Result<Response, PageError> {
    let s = load(&app, id).await?;
    if s.status != SubscriberStatus::Pending {
        return detail_response(
            &app,
            &user,
            &s,
            StatusCode::CONFLICT,
            None,
            Some(format!(
                "Only a pending subscriber is sent a confirmation link; this one is {}.",
                s.status
            )),
        )
        .await;
    }
    crate::subscribers::send_confirmation(&app, &s).await?;
    tracing::info!(
        admin = user.id,
        subscriber = id,
        "confirmation resent by an admin"
    );
    Ok(see_other(&format!(
        "/admin/subscribers/{id}?msg=confirmation-resent"
    )))
}

pub async fn unsubscribe(
    State(app): State<App>,
    Path(id): Path<i64>,
    CheckedForm(RequireEditor(user), _): CheckedForm<RequireEditor>,
) -> Result<Response, PageError> {
    match crate::subscribers::unsubscribe_by_id(&app, id).await {
        Ok(_) => {
            tracing::info!(
                admin = user.id,
                subscriber = id,
                "unsubscribed by an editor"
            );
            Ok(see_other(&format!(
                "/admin/subscribers/{id}?msg=unsubscribed"
            )))
        }
        Err(ServiceError::Store(StoreError::NotFound)) => Err(no_such_subscriber(&app)),
        Err(e) => Err(PageError::new(
            &app,
            StatusCode::CONFLICT,
            "Not unsubscribed",
            e.to_string(),
        )
        .with_link(
            "Back to the subscriber",
            &format!("/admin/subscribers/{id}"),
        )),
    }
}

pub async fn erase_confirm(
    State(app): State<App>,
    RequireEditor(user): RequireEditor,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let s = load(&app, id).await?;
    Ok(html_page(templates::admin::subscribers::erase_page(
        &meta(&app, "Erase a subscriber", None),
        &nav(&user, "/admin/subscribers"),
        id,
        s.email.as_str(),
        &user.csrf,
    )))
}

pub async fn erase(
    State(app): State<App>,
    Path(id): Path<i64>,
    CheckedForm(RequireEditor(user), f): CheckedForm<RequireEditor>,
) -> Result<Response, PageError> {
    let s = load(&app, id).await?;
    if f.get("confirm") != Some("yes") {
        let page = templates::admin::subscribers::erase_page(
            &meta(
                &app,
                "Erase a subscriber",
                Some(templates::page::Flash {
                    kind: templates::page::FlashKind::Error,
                    message: "Tick the box to confirm; nothing was erased.".into(),
                }),
            ),
            &nav(&user, "/admin/subscribers"),
            id,
            s.email.as_str(),
            &user.csrf,
        );
        return Ok((StatusCode::BAD_REQUEST, html_page(page)).into_response());
    }
    crate::subscribers::erase_subscriber(&app, &s, "erased by an editor").await?;
    tracing::info!(
        admin = user.id,
        subscriber = id,
        "subscriber erased by an editor"
    );
    Ok(see_other("/admin/subscribers?msg=erased"))
}

fn add_response(app: &App, user: &CurrentUser, status: StatusCode, form: &AddForm) -> Response {
    let markup = templates::admin::subscribers::add_page(
        &meta(app, "Add a subscriber", None),
        &nav(user, "/admin/subscribers"),
        form,
    );
    (status, html_page(markup)).into_response()
}

pub async fn add_form(
    State(app): State<App>,
    RequireEditor(user): RequireEditor,
) -> Result<Response, PageError> {
    Ok(add_response(
        &app,
        &user,
        StatusCode::OK,
        &AddForm::default(),
    ))
}

/// Adds one subscriber: confirmed (the editor vouches) or pending with a confirmation
/// email. Erased addresses are refused, as for the API.
pub async fn add(
    State(app): State<App>,
    CheckedForm(RequireEditor(user), f): CheckedForm<RequireEditor>,
) -> Result<Response, PageError> {
    let mut form = AddForm {
        email: f.text("email"),
        name: f.text("name"),
        confirmed: f.get("mode") == Some("confirmed"),
        ..Default::default()
    };
    let email = match EmailAddress::parse(&form.email) {
        Ok(e) => e,
        Err(e) => {
            form.email_error = Some(capitalise(&e.to_string()) + ".");
            return Ok(add_response(&app, &user, StatusCode::BAD_REQUEST, &form));
        }
    };
    let name = match crate::subscribers::clean_name(Some(&form.name)) {
        Ok(n) => n,
        Err(e) => {
            form.name_error = Some(capitalise(&e) + ".");
            return Ok(add_response(&app, &user, StatusCode::BAD_REQUEST, &form));
        }
    };
    match crate::subscribers::create_by_hand(&app, &email, name.as_deref(), form.confirmed, "admin")
        .await
    {
        Ok(s) => {
            tracing::info!(
                admin = user.id,
                subscriber = s.id,
                "subscriber added by an editor"
            );
            Ok(see_other(&format!(
                "/admin/subscribers/{}?msg=subscriber-added",
                s.id
            )))
        }
        Err(ServiceError::Store(StoreError::Conflict(m))) => {
            form.error = Some(capitalise(&m) + ".");
            Ok(add_response(&app, &user, StatusCode::CONFLICT, &form))
        }
        Err(e) => Err(e.into()),
    }
}

fn upload_response(
    app: &App,
    user: &CurrentUser,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let markup = templates::admin::subscribers::upload_page(
        &meta(app, "Import subscribers", None),
        &nav(user, "/admin/subscribers"),
        app.config.subscribers.import_max_mb,
        error,
    );
    (status, html_page(markup)).into_response()
}

/// What the upload page says when the form came without a file.
const NO_FILE: &str = "Choose a CSV file and press Upload.";
/// What the upload page says when the request body was cut off on the way.
const CUT_OFF: &str = "The upload did not arrive whole; nothing was imported. Try again.";

/// The upload page again, saying why the file was refused and that nothing was imported.
fn refused_response(
    app: &App,
    user: &CurrentUser,
    status: StatusCode,
    why: &UploadProblem,
) -> Response {
    let error = format!("{}. Nothing was imported.", capitalise(&why.to_string()));
    upload_response(app, user, status, Some(&error))
}

pub async fn import_page(
    State(app): State<App>,
    RequireEditor(user): RequireEditor,
) -> Result<Response, PageError> {
    Ok(upload_response(&app, &user, StatusCode::OK, None))
}

/// Reads what is left of a refused upload (up to a bound), so that the browser, still
/// sending, receives our page instead of a reset connection.
async fn drain(multipart: &mut Multipart, mut budget: u64) {
    while let Ok(Some(mut field)) = multipart.next_field().await {
        while let Ok(Some(chunk)) = field.chunk().await {
            budget = budget.saturating_sub(chunk.len() as u64);
            if budget == 0 {
                return;
            }
        }
    }
}

/// Streams an uploaded file to a temporary file, checking it as it comes, and leads to
/// the column mapping.
pub async fn upload_file(
    State(app): State<App>,
    RequireEditor(user): RequireEditor,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, PageError> {
    let Ok(mut multipart) = multipart else {
        return Ok(upload_response(
            &app,
            &user,
            StatusCode::BAD_REQUEST,
            Some(NO_FILE),
        ));
    };
    let mut csrf: Option<String> = None;
    let mut stored: Option<(Incoming, String)> = None;
    let limit = app.config.subscribers.import_max_mb * 1024 * 1024;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                if let Some((incoming, _)) = stored.take() {
                    incoming.discard().await;
                }
                tracing::info!(error = %e, "upload did not arrive whole");
                return Ok(upload_response(
                    &app,
                    &user,
                    StatusCode::BAD_REQUEST,
                    Some(CUT_OFF),
                ));
            }
        };
        match field.name() {
            Some(CSRF_FIELD) => csrf = field.text().await.ok(),
            Some("file") if stored.is_none() => {
                let file_name = field.file_name().unwrap_or("upload.csv").to_string();
                let mut incoming = Incoming::create(&app).await?;
                let mut field = field;
                let mut problem: Option<UploadError> = None;
                loop {
                    match field.chunk().await {
                        Ok(Some(chunk)) => {
                            if let Err(e) = incoming.write(&chunk).await {
                                problem = Some(e);
                                break;
                            }
                        }
                        Ok(None) => break,
                        Err(_) => {
                            problem = Some(UploadError::Io(std::io::Error::other(
                                "the upload was cut off",
                            )));
                            break;
                        }
                    }
                }
                if let Some(p) = problem {
                    incoming.discard().await;
                    drop(field);
                    return Ok(match p {
                        UploadError::Refused(why) => {
                            drain(&mut multipart, limit).await;
                            let status = if matches!(why, UploadProblem::TooLarge { .. }) {
                                StatusCode::PAYLOAD_TOO_LARGE
                            } else {
                                StatusCode::UNPROCESSABLE_ENTITY
                            };
                            refused_response(&app, &user, status, &why)
                        }
                        UploadError::Io(_) => {
                            upload_response(&app, &user, StatusCode::BAD_REQUEST, Some(CUT_OFF))
                        }
                        UploadError::Store(e) => return Err(e.into()),
                    });
                }
                stored = Some((incoming, file_name));
            }
            _ => {}
        }
    }
    if let Err(e) = verify_csrf(&app, &user, csrf.as_deref()) {
        if let Some((incoming, _)) = stored {
            incoming.discard().await;
        }
        return Err(e);
    }
    let Some((incoming, file_name)) = stored else {
        return Ok(upload_response(
            &app,
            &user,
            StatusCode::BAD_REQUEST,
            Some(NO_FILE),
        ));
    };
    match incoming.finish(&app, user.id, &file_name).await {
        Ok(id) => {
            tracing::info!(admin = user.id, import = id, "subscriber file uploaded");
            Ok(see_other(&format!("/admin/subscribers/import/{id}")))
        }
        Err(UploadError::Refused(why)) => Ok(refused_response(
            &app,
            &user,
            StatusCode::UNPROCESSABLE_ENTITY,
            &why,
        )),
        Err(e) => Err(e.into()),
    }
}

async fn load_import(app: &App, user: &CurrentUser, id: i64) -> Result<ImportJob, PageError> {
    match app.store.import_job(id).await {
        Ok(j) if j.admin_id == user.id || user.is_editor() => Ok(j),
        Ok(_) | Err(StoreError::NotFound) => Err(PageError::not_found(app, "import")
            .with_link("Import a file", "/admin/subscribers/import")),
        Err(e) => Err(e.into()),
    }
}

fn size_text(bytes: i64) -> String {
    if bytes >= 1024 * 1024 {
        format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
    } else {
        format!("{:.1} KB", bytes as f64 / 1024.0)
    }
}

const FIELD_LABELS: [&str; 6] = [
    "Email",
    "Name",
    "Status",
    "Signed up (RFC 3339)",
    "Frequency",
    "Time zone",
];

fn mapping_view(
    app: &App,
    job: &ImportJob,
    options: &ImportOptions,
    error: Option<String>,
) -> Result<MappingView, PageError> {
    let sniffed = upload::sniff(job)?;
    let columns = options.columns.clone().unwrap_or(sniffed.suggested);
    let preview = upload::preview(
        app,
        job,
        &ImportOptions {
            columns: Some(columns.clone()),
            ..options.clone()
        },
    )?;
    Ok(MappingView {
        id: job.id,
        file_name: job.file_name.clone(),
        size: size_text(job.size_bytes),
        columns: sniffed.columns,
        fields: FIELDS
            .iter()
            .zip(FIELD_LABELS)
            .map(|((field, _), label)| {
                (
                    field.to_string(),
                    label.to_string(),
                    columns
                        .get(field)
                        .map(|i| i.to_string())
                        .unwrap_or_default(),
                )
            })
            .collect(),
        has_header: columns.has_header,
        update_existing: options.existing == Existing::Update,
        confirmed: options.confirmed,
        preview: preview
            .into_iter()
            .map(|p| PreviewRow {
                line: p.line,
                email: p.email,
                name: p.name,
                status: p.status,
                frequency: p.frequency,
                time_zone: p.time_zone,
                error: p.error.unwrap_or_default(),
            })
            .collect(),
        error,
    })
}

/// The import's page: the mapping while it waits, the progress while it runs, the report
/// once it ends.
pub async fn import_status(
    State(app): State<App>,
    RequireEditor(user): RequireEditor,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let job = load_import(&app, &user, id).await?;
    let title = "Import subscribers";
    if job.state == ImportState::Uploaded {
        let v = mapping_view(&app, &job, &ImportOptions::default(), None)?;
        return Ok(html_page(templates::admin::subscribers::mapping_page(
            &meta(&app, title, None),
            &nav(&user, "/admin/subscribers"),
            &v,
        )));
    }
    let report = upload::report(&job);
    let state = if upload::is_interrupted(&job, app.now_ms()) {
        "interrupted"
    } else {
        job.state.as_str()
    };
    let percent = if job.size_bytes > 0 {
        ((job.bytes_done.min(job.size_bytes) * 100) / job.size_bytes) as u8
    } else {
        100
    };
    let mut v = ReportView {
        id: job.id,
        file_name: job.file_name.clone(),
        state: state.into(),
        percent,
        error: job.error.clone(),
        ..Default::default()
    };
    if let Some(r) = report {
        v.totals = vec![
            ("Lines read".into(), r.rows),
            ("Added".into(), r.accepted),
            ("Updated".into(), r.updated.len() as u64),
            (
                "Already on the list, left as they were".into(),
                r.already_present.len() as u64,
            ),
            (
                "Repeated in the file".into(),
                r.duplicate_in_file.len() as u64,
            ),
            (
                "Erased at their owner's request, skipped".into(),
                r.suppressed.len() as u64,
            ),
            ("Invalid".into(), r.invalid.len() as u64),
            (
                "Confirmed in the file, imported as pending".into(),
                r.downgraded,
            ),
        ];
        v.invalid = r.invalid.iter().take(20).cloned().collect();
        v.invalid_more = r.invalid.len().saturating_sub(20) as u64;
    }
    Ok(html_page(templates::admin::subscribers::progress_page(
        &meta(&app, title, None),
        &nav(&user, "/admin/subscribers"),
        &v,
    )))
}

/// The mapping form's answer: show the preview again with the new settings, or start.
pub async fn import_submit(
    State(app): State<App>,
    Path(id): Path<i64>,
    CheckedForm(RequireEditor(user), f): CheckedForm<RequireEditor>,
) -> Result<Response, PageError> {
    let job = load_import(&app, &user, id).await?;
    if job.state != ImportState::Uploaded {
        return Ok(see_other(&format!("/admin/subscribers/import/{id}")));
    }
    let col = |field: &str| f.text(&format!("col_{field}")).parse::<usize>().ok();
    let email = col("email");
    let options = ImportOptions {
        confirmed: f.get("confirmed") == Some("yes"),
        existing: if f.get("existing") == Some("update") {
            Existing::Update
        } else {
            Existing::Skip
        },
        columns: Some(ColumnMap {
            email: email.unwrap_or(0),
            name: col("name"),
            status: col("status"),
            created_at: col("created_at"),
            frequency: col("frequency"),
            time_zone: col("time_zone"),
            has_header: f.get("has_header") == Some("yes"),
        }),
    };
    let problem = if email.is_none() {
        Some("Choose the column that holds the email addresses.".to_string())
    } else {
        None
    };
    if problem.is_some() || f.get("action") != Some("start") {
        let status = if problem.is_some() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        };
        let v = mapping_view(&app, &job, &options, problem)?;
        let markup = templates::admin::subscribers::mapping_page(
            &meta(&app, "Import subscribers", None),
            &nav(&user, "/admin/subscribers"),
            &v,
        );
        return Ok((status, html_page(markup)).into_response());
    }
    upload::start(&app, &job, &options).await?;
    tracing::info!(admin = user.id, import = id, "subscriber import started");
    Ok(see_other(&format!("/admin/subscribers/import/{id}")))
}

pub async fn import_report(
    State(app): State<App>,
    RequireEditor(user): RequireEditor,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let job = load_import(&app, &user, id).await?;
    let Some(report) = upload::report(&job) else {
        return Err(
            PageError::not_found(&app, "report yet: the import has not finished").with_link(
                "Back to the import",
                &format!("/admin/subscribers/import/{id}"),
            ),
        );
    };
    let body = crate::subscribers::import::report_csv(&report)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"import-{id}-report.csv\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        body,
    )
        .into_response())
}
