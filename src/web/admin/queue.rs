//! `/admin/queue`: the operator's view of the job queue and of digest sends, the recent
//! issues' bounce and complaint rates, and the repairs (retry one, retry all failed,
//! discard). Operators and editors may use it.

use axum::{
    Router,
    extract::{Path, Query, State},
    response::Response,
    routing::{get, post},
};
use serde::Deserialize;
use templates::admin::queue::{DigestRow, FailureRow, KindRow, QueueView, queue_page};

use super::{CheckedForm, admin_zone, flash_for, html_page, meta, nav, see_other, when};
use crate::web::auth::{PageError, RequireOperator};
use crate::{
    app::App,
    bounces::Thresholds,
    ops::metrics::{known_job_kinds, now_secs},
    queue::stats::{JobFailure, KindStats},
    store::queue_stats::DigestProgress,
};

const PATH: &str = "/admin/queue";
/// Failures listed under the pictures.
const FAILURES_SHOWN: i64 = 20;
/// Digests whose send started within this many hours stay on the page after they end.
const RECENT_DIGEST_HOURS: i64 = 24;
const DIGESTS_SHOWN: i64 = 5;
/// Recent issues whose bounce and complaint rates are shown (all of them on
/// `/admin/bounces`).
const ISSUES_SHOWN: i64 = 5;
const CHART_MINUTES: usize = 60;

pub fn routes() -> Router<App> {
    Router::new()
        .route(PATH, get(dashboard))
        .route("/admin/queue/retry-all", post(retry_all))
        .route("/admin/queue/jobs/{id}/{action}", post(act_on_job))
}

#[derive(Debug, Deserialize)]
pub struct DashboardQuery {
    msg: Option<String>,
}

async fn dashboard(
    State(app): State<App>,
    RequireOperator(user): RequireOperator,
    Query(q): Query<DashboardQuery>,
) -> Result<Response, PageError> {
    let mut view = queue_view(&app).await?;
    view.csrf = user.csrf.clone();
    let meta = meta(&app, "Queue", flash_for(q.msg.as_deref()));
    Ok(html_page(queue_page(&meta, &nav(&user, PATH), &view)))
}

/// Everything the page shows, read from the queue's table and the delivery ledger.
pub async fn queue_view(app: &App) -> anyhow::Result<QueueView> {
    let now_ms = app.now_ms();
    let zone = admin_zone(app).await;
    let store = &app.store;
    let kinds = store.queue_stats(&known_job_kinds(), now_secs()).await?;
    let failures = store.job_failures(FAILURES_SHOWN).await?;
    let since = now_ms - RECENT_DIGEST_HOURS * 3_600_000;
    let digests = store.digest_progress(since, now_ms, DIGESTS_SHOWN).await?;
    let sent_per_minute = store.sent_per_minute(now_ms, CHART_MINUTES).await?;
    let thresholds = Thresholds::from_config(&app.config.bounces);
    let issues = crate::bounces::recent_issue_bounces(app, ISSUES_SHOWN).await?;
    Ok(QueueView {
        kinds: kinds.iter().map(kind_row).collect(),
        digests: digests.iter().map(digest_row).collect(),
        sent_per_minute,
        failures: failures.iter().map(|f| failure_row(f, zone)).collect(),
        issues: issues
            .iter()
            .map(|i| super::bounces::issue_rates(i, &thresholds))
            .collect(),
        limits: super::bounces::limits(&thresholds),
        csrf: String::new(),
        base_path: PATH.into(),
    })
}

fn kind_row(k: &KindStats) -> KindRow {
    KindRow {
        kind: k.kind.clone(),
        waiting: k.waiting,
        running: k.running,
        done: k.done,
        retrying: k.retrying,
        dead: k.dead,
        oldest_waiting: k.oldest_waiting_secs.map(duration_words),
        done_last_minute: k.done_last_minute,
        done_last_hour: k.done_last_hour,
    }
}

fn digest_row(d: &DigestProgress) -> DigestRow {
    let p = &d.progress;
    DigestRow {
        id: p.digest_id,
        issue_date: p.issue_date.clone(),
        status: p.status.to_string(),
        total: p.total(),
        sent: p.sent,
        failed: p.failed,
        pending: p.pending(),
        rate_per_minute: d.rate_per_minute,
        eta: d.eta_secs.map(duration_words),
    }
}

fn failure_row(f: &JobFailure, zone: chrono_tz::Tz) -> FailureRow {
    FailureRow {
        id: f.id.clone(),
        kind: f.kind.clone(),
        state: f.state.clone(),
        attempts: f.attempts,
        max_attempts: f.max_attempts,
        error: f.error.clone(),
        when: f
            .failed_at
            .map_or_else(|| "–".into(), |s| when(s * 1000, zone)),
    }
}

/// "45 s", "12 min", "3 h 5 min", "2 d 4 h": short enough for a table cell.
pub fn duration_words(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        0..60 => format!("{secs} s"),
        60..3_600 => format!("{} min", secs / 60),
        3_600..86_400 => format!("{} h {} min", secs / 3_600, secs % 3_600 / 60),
        _ => format!("{} d {} h", secs / 86_400, secs % 86_400 / 3_600),
    }
}

fn back(code: &str) -> Response {
    see_other(&format!("{PATH}?msg={code}"))
}

async fn retry_all(
    State(app): State<App>,
    CheckedForm(RequireOperator(user), _): CheckedForm<RequireOperator>,
) -> Result<Response, PageError> {
    let n = app.store.retry_failed_jobs(None, now_secs()).await?;
    tracing::info!(
        admin = user.id,
        jobs = n,
        "operator retried all failed jobs"
    );
    Ok(back("retried-all"))
}

/// What an operator can do to one job, from its row on the dashboard: the last part of
/// the button's path, and the `?msg=` code of the answer.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum JobAction {
    Retry,
    Discard,
}

/// Retries or discards one job; the answer says `gone` when it had already moved on.
async fn act_on_job(
    State(app): State<App>,
    Path((id, action)): Path<(String, JobAction)>,
    CheckedForm(RequireOperator(user), _): CheckedForm<RequireOperator>,
) -> Result<Response, PageError> {
    let now = now_secs();
    let (done, code) = match action {
        JobAction::Retry => (app.store.retry_job(&id, now).await?, "retried"),
        JobAction::Discard => (app.store.discard_job(&id, now).await?, "discarded"),
    };
    tracing::info!(admin = user.id, job = %id, done, "operator {code} a job");
    Ok(back(if done { code } else { "gone" }))
}

#[cfg(test)]
mod tests {
    use super::duration_words;

    #[test]
    fn durations_read_well() {
        assert_eq!(duration_words(45), "45 s");
        assert_eq!(duration_words(720), "12 min");
        assert_eq!(duration_words(3 * 3600 + 300), "3 h 5 min");
        assert_eq!(duration_words(2 * 86_400 + 4 * 3600), "2 d 4 h");
    }
}
