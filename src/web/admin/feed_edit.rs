//! Renaming a feed and changing its section from the feeds page. The section is the
//! fallback for the feed's articles that carry no category (see `digest::section_of`).

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::Response,
};

use super::{CheckedForm, see_other};
use crate::{
    app::App,
    store::StoreError,
    web::auth::{PageError, RequireEditor},
};

const MAX_NAME_CHARS: usize = 100;

pub async fn edit_feed(
    State(app): State<App>,
    Path(id): Path<i64>,
    CheckedForm(RequireEditor(user), f): CheckedForm<RequireEditor>,
) -> Result<Response, PageError> {
    let name = f.text("name");
    let section = f.text("section");
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || section.chars().count() > MAX_NAME_CHARS
    {
        return Err(PageError::new(
            &app,
            StatusCode::BAD_REQUEST,
            "Not saved",
            format!(
                "A feed needs a name, and the name and the section can be at most {MAX_NAME_CHARS} characters. Nothing was changed."
            ),
        ));
    }
    let feed = match app.store.feed(id).await {
        Ok(feed) => feed,
        Err(StoreError::NotFound) => return Err(PageError::not_found(&app, "feed")),
        Err(e) => return Err(e.into()),
    };
    let section = (!section.is_empty()).then_some(section.as_str());
    app.store
        .update_feed(id, &name, section, feed.enabled)
        .await?;
    tracing::info!(
        admin = user.id,
        feed = id,
        "feed renamed or moved to another section"
    );
    Ok(see_other("/admin/feeds?msg=saved"))
}
