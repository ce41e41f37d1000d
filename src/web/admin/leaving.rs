//! `/admin/leaving`: the counts of the reasons readers gave for unsubscribing.

use axum::{extract::State, response::Response};

use super::{html_page, meta, nav};
use crate::{
    app::App,
    subscribers::leaving::reason_label,
    web::auth::{PageError, RequireEditor},
};

pub async fn page(
    State(app): State<App>,
    RequireEditor(user): RequireEditor,
) -> Result<Response, PageError> {
    let counts = app.store.unsubscribe_reason_counts().await?;
    let rows: Vec<(String, i64)> = counts
        .into_iter()
        .map(|(key, n)| (reason_label(&key).to_string(), n))
        .collect();
    Ok(html_page(templates::leaving::leaving_page(
        &meta(&app, "Why readers leave", None),
        &nav(&user, "/admin/leaving"),
        &rows,
    )))
}
