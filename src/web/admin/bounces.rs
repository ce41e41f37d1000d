//! `/admin/bounces`: rates per issue, one issue's failures and the retry of its temporary
//! ones, unmatched reports and their re-processing. Operators and editors alike (watching
//! deliverability is operations, like the queue page's repairs).

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::Response,
};
use serde::Deserialize;
use templates::{
    bounces::{BouncesView, FailedRow, IssueRates, Limits, SelectedIssue, UnmatchedRow},
    page::{Flash, FlashKind},
};

use super::{CheckedForm, admin_zone, flash_for, html_page, meta, nav, see_other, when};
use crate::{
    app::App,
    bounces::{Handled, IssueBounces, Thresholds},
    store::deliveries::DeliveryState,
    web::auth::{PageError, RequireOperator},
};

/// Issues listed with their rates on this page.
const ISSUES_SHOWN: i64 = 20;

#[derive(Debug, Deserialize)]
pub struct BouncesQuery {
    digest: Option<i64>,
    msg: Option<String>,
    /// With `msg=retried-temporary`: how many deliveries the retry queued.
    n: Option<u32>,
}

/// One issue's numbers as the rate tables show them, marked where they break a rule (the
/// dashboard's table too).
pub(super) fn issue_rates(i: &IssueBounces, t: &Thresholds) -> IssueRates {
    IssueRates {
        digest_id: i.digest_id,
        date: i.issue_date.clone(),
        sent: i.counts.sent,
        hard: i.counts.hard,
        soft: i.counts.soft,
        complaints: i.counts.complaints,
        hard_rate: i.hard_bounce_rate,
        complaint_rate: i.complaint_rate,
        hard_warning: t.hard_bounce_warning(i).map(str::to_string),
        complaint_warning: t.complaint_warning(i).map(str::to_string),
    }
}

pub(super) fn limits(t: &Thresholds) -> Limits {
    Limits {
        pause_complaint_rate: t.pause_complaint_rate,
        pause_hard_bounce_rate: t.pause_hard_bounce_rate,
        pause_min_sent: t.pause_min_sent,
    }
}

/// The page's message: the retry's carries its count (a number is all a crafted link
/// could change), the rest are the fixed texts of [`flash_for`].
fn flash(q: &BouncesQuery) -> Option<Flash> {
    match (q.msg.as_deref(), q.n) {
        (Some("retried-temporary"), Some(0)) => Some(Flash {
            kind: FlashKind::Info,
            message: "No delivery of this issue is waiting on a temporary failure; nothing was queued again.".into(),
        }),
        (Some("retried-temporary"), Some(n)) => Some(Flash {
            kind: FlashKind::Success,
            message: format!(
                "{n} {} with temporary failures queued again. Follow them on the queue page.",
                if n == 1 { "delivery" } else { "deliveries" }
            ),
        }),
        (code, _) => flash_for(code),
    }
}

pub async fn page(
    State(app): State<App>,
    RequireOperator(user): RequireOperator,
    Query(q): Query<BouncesQuery>,
) -> Result<Response, PageError> {
    let zone = admin_zone(&app).await;
    let thresholds = Thresholds::from_config(&app.config.bounces);
    let recent = crate::bounces::recent_issue_bounces(&app, ISSUES_SHOWN).await?;
    let issues: Vec<IssueRates> = recent.iter().map(|i| issue_rates(i, &thresholds)).collect();
    let selected = match q
        .digest
        .and_then(|id| issues.iter().find(|i| i.digest_id == id))
    {
        Some(issue) => {
            let failed = app.store.failed_deliveries(issue.digest_id).await?;
            let can_retry = failed
                .iter()
                .any(|f| f.state == DeliveryState::Failed && f.outcome.is_none());
            let rows = failed
                .into_iter()
                .map(|f| FailedRow {
                    email: f.email,
                    outcome: f.outcome.unwrap_or_else(|| f.state.to_string()),
                    reason: f.reason,
                    at: when(f.at, zone),
                })
                .collect();
            Some(SelectedIssue {
                digest_id: issue.digest_id,
                date: issue.date.clone(),
                rows,
                can_retry,
            })
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
        limits: limits(&thresholds),
        selected,
        unmatched,
        csrf: user.csrf.clone(),
    };
    Ok(html_page(templates::bounces::bounces_page(
        &meta(&app, "Bounces", flash(&q)),
        &nav(&user, "/admin/bounces"),
        &view,
    )))
}

/// The "Retry the temporary failures" button: the same service function as
/// `bounces retry DIGEST`, so the dashboard and the CLI can never queue different rows.
/// Any admin may press it, as they may the queue page's retry buttons.
pub async fn retry_temporary(
    State(app): State<App>,
    Path(digest_id): Path<i64>,
    CheckedForm(RequireOperator(user), _): CheckedForm<RequireOperator>,
) -> Result<Response, PageError> {
    use crate::store::StoreError;
    let back = templates::bounces::issue_failures_path(digest_id);
    let retried = crate::bounces::retry_transient_failures(&app, digest_id)
        .await
        .map_err(|e| match e.downcast::<StoreError>() {
            Ok(StoreError::NotFound) => PageError::not_found(&app, "digest"),
            // A digest that has not gone out (only a crafted form names one).
            Ok(StoreError::Conflict(why)) => {
                PageError::new(&app, StatusCode::CONFLICT, "Nothing to retry", why)
                    .with_link("Back to the bounces", &back)
            }
            Ok(store) => PageError::from(store),
            Err(other) => PageError::from(other),
        })?;
    tracing::info!(
        admin = user.id,
        digest = digest_id,
        deliveries = retried.deliveries,
        "operator retried an issue's temporary failures"
    );
    Ok(see_other(&format!(
        "{back}&msg=retried-temporary&n={}",
        retried.deliveries
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
