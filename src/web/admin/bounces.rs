//! `/admin/bounces`: rates per issue, one issue's failures, unmatched reports and their
//! re-processing. Operators and editors alike (watching deliverability is operations).

use axum::{
    extract::{Path, Query, State},
    response::Response,
};
use serde::Deserialize;
use templates::bounces::{BouncesView, FailedRow, IssueRates, UnmatchedRow};

use super::{CheckedForm, admin_zone, flash_for, html_page, meta, nav, see_other, when};
use crate::{
    app::App,
    bounces::Handled,
    web::auth::{PageError, RequireOperator},
};

#[derive(Debug, Deserialize)]
pub struct BouncesQuery {
    digest: Option<i64>,
    msg: Option<String>,
}

pub async fn page(
    State(app): State<App>,
    RequireOperator(user): RequireOperator,
    Query(q): Query<BouncesQuery>,
) -> Result<Response, PageError> {
    let zone = admin_zone(&app).await;
    let mut issues = Vec::new();
    for d in app.store.list_sent_digests(20, 0).await? {
        let c = app.store.digest_bounce_counts(d.id).await?;
        issues.push(IssueRates {
            digest_id: d.id,
            date: d.issue_date,
            sent: c.sent,
            hard: c.hard,
            soft: c.soft,
            complaints: c.complaints,
            hard_rate: c.hard_bounce_rate(),
            complaint_rate: c.complaint_rate(),
        });
    }
    let selected = match q
        .digest
        .and_then(|id| issues.iter().find(|i| i.digest_id == id))
    {
        Some(issue) => {
            let rows = app
                .store
                .failed_deliveries(issue.digest_id)
                .await?
                .into_iter()
                .map(|f| FailedRow {
                    email: f.email,
                    outcome: f.outcome.unwrap_or_else(|| f.state.to_string()),
                    reason: f.reason,
                    at: when(f.at, zone),
                })
                .collect();
            Some((issue.date.clone(), rows))
        }
        None => None,
    };
    let unmatched = app
        .store
        .unmatched_reports(true, 200)
        .await?
        .into_iter()
        .map(|u| UnmatchedRow {
            id: u.id,
            received: when(u.received_at, zone),
            source: u.source,
            reason: u.reason,
        })
        .collect();
    let view = BouncesView {
        issues,
        selected,
        unmatched,
        csrf: user.csrf.clone(),
    };
    Ok(html_page(templates::bounces::bounces_page(
        &meta(&app, "Bounces", flash_for(q.msg.as_deref())),
        &nav(&user, "/admin/bounces"),
        &view,
    )))
}

pub async fn reprocess(
    State(app): State<App>,
    Path(id): Path<i64>,
    _: CheckedForm<RequireOperator>,
) -> Result<Response, PageError> {
    let code = match crate::bounces::reprocess(&app, id).await {
        Ok(Handled::Applied { .. } | Handled::NoAction(_)) => "reprocessed",
        Ok(Handled::Duplicate) => "reprocessed",
        Ok(Handled::Unmatched(_)) => "still-unmatched",
        Err(e) => {
            tracing::warn!(report = id, error = %format!("{e:#}"), "re-processing a bounce report failed");
            "still-unmatched"
        }
    };
    Ok(see_other(&format!("/admin/bounces?msg={code}")))
}
