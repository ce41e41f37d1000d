//! `/admin/doctor`: `breakfast doctor`'s checks shown to operators.

use axum::{Router, extract::State, response::Response, routing::get};
use templates::doctor::{DoctorLine, doctor_page};

use super::{
    admin::{html_page, meta, nav},
    auth::{PageError, RequireOperator},
};
use crate::{app::App, doctor};

const PATH: &str = "/admin/doctor";

pub fn routes() -> Router<App> {
    Router::new().route(PATH, get(page))
}

async fn page(
    State(app): State<App>,
    RequireOperator(user): RequireOperator,
) -> Result<Response, PageError> {
    let lines: Vec<DoctorLine> = doctor::run(&app.config)
        .await
        .into_iter()
        .map(|c| DoctorLine {
            level: c.level.word().into(),
            name: c.name,
            detail: c.detail,
            action: c.action,
        })
        .collect();
    let meta = meta(&app, "Deliverability", None);
    Ok(html_page(doctor_page(&meta, &nav(&user, PATH), &lines)))
}
