//! Bounces and complaints that arrive after the server said 250: delivery status
//! notifications and feedback reports from the bounce mailbox, and providers' webhooks.
//!
//! Data flows one way: a report comes in ([`mailbox`] or `web::webhooks` with
//! [`providers`]), is read ([`parse`]), matched to a delivery by its VERP token
//! ([`verp`]), and applied in one transaction by the store ([`apply`]).

pub mod apply;
pub mod mailbox;
pub mod parse;
pub mod providers;
pub mod verp;

pub use apply::{Handled, handle_event, handle_message, reprocess};
pub use providers::ProviderEvent;
pub use verp::{BounceRef, return_path};

use serde::Serialize;

use crate::store::bounces::BounceCounts;

/// Bounces and complaints applied, labelled by kind (hard, soft, complaint).
pub const METRIC_EVENTS: &str = "breakfast_bounce_events_total";
/// Reports kept as unreadable or unmatched.
pub const METRIC_UNMATCHED: &str = "breakfast_bounce_unmatched_total";

/// Bounces and complaints recorded, by kind, read from the database (all processes).
pub const METRIC_RECORDED: &str = "breakfast_bounces";
/// The latest issue's rates (fractions of messages sent).
pub const METRIC_COMPLAINT_RATE: &str = "breakfast_last_issue_complaint_rate";
pub const METRIC_HARD_BOUNCE_RATE: &str = "breakfast_last_issue_hard_bounce_rate";
/// Unmatched reports waiting for an operator.
pub const METRIC_UNMATCHED_OPEN: &str = "breakfast_bounce_unmatched_open";

/// Per-issue series, labelled `digest` (the id) and `issue_date`, for the
/// [`ISSUES_EXPORTED`] most recent issues only: messages sent, bounces and complaints by
/// `kind` (hard, soft, complaint), and the two rates.
pub const METRIC_ISSUE_SENT: &str = "breakfast_issue_sent";
pub const METRIC_ISSUE_BOUNCES: &str = "breakfast_issue_bounces";
pub const METRIC_ISSUE_HARD_BOUNCE_RATE: &str = "breakfast_issue_hard_bounce_rate";
pub const METRIC_ISSUE_COMPLAINT_RATE: &str = "breakfast_issue_complaint_rate";
/// How many issues get per-issue series: one a day would otherwise grow without bound.
pub const ISSUES_EXPORTED: i64 = 10;
/// The limits, so an alert can compare a rate with them: the configured pause limits
/// (fractions; 0 is off), the minimum sent before they apply, and the bulk-sender
/// complaint rule with `level` `keep_under` (0.001) and `never` (0.003).
pub const METRIC_PAUSE_COMPLAINT_RATE: &str = "breakfast_bounce_pause_complaint_rate";
pub const METRIC_PAUSE_HARD_BOUNCE_RATE: &str = "breakfast_bounce_pause_hard_bounce_rate";
pub const METRIC_PAUSE_MIN_SENT: &str = "breakfast_bounce_pause_min_sent";
pub const METRIC_COMPLAINT_GUIDELINE: &str = "breakfast_complaint_rate_guideline";

/// Bulk senders' complaint-rate rule (Gmail's and Yahoo's sender requirements): keep it
/// under 0.1 %, and never let it reach 0.3 %. Shown beside every rate, whatever the
/// configured pause limits are, because it is the receivers' rule, not ours.
pub const COMPLAINT_RATE_TARGET: f64 = 0.001;
pub const COMPLAINT_RATE_CEILING: f64 = 0.003;

/// The limits an issue's rates are read against: the bulk-sender rule and this service's
/// own auto-pause limits (`bounces.pause_*`), so every view shows the same ones.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Thresholds {
    pub complaint_rate_target: f64,
    pub complaint_rate_ceiling: f64,
    /// Fractions; 0 means that check is off.
    pub pause_complaint_rate: f64,
    pub pause_hard_bounce_rate: f64,
    /// Issues with fewer messages sent never pause sending (a rate of 1 in 3 means little).
    pub pause_min_sent: i64,
}

impl Thresholds {
    pub fn from_config(b: &crate::config::BouncesConfig) -> Self {
        Self {
            complaint_rate_target: COMPLAINT_RATE_TARGET,
            complaint_rate_ceiling: COMPLAINT_RATE_CEILING,
            pause_complaint_rate: b.pause_complaint_rate,
            pause_hard_bounce_rate: b.pause_hard_bounce_rate,
            pause_min_sent: i64::from(b.pause_min_sent.max(1)),
        }
    }

    /// Whether an issue is past one of the pause limits (the rule the pause check in
    /// [`apply`] applies when a report arrives).
    fn past_pause_limit(&self, sent: i64, rate: f64, limit: f64) -> bool {
        limit > 0.0 && sent >= self.pause_min_sent && rate > limit
    }

    /// Words marking a complaint rate that breaks a rule, worst first; `None` when fine.
    pub fn complaint_warning(&self, i: &IssueBounces) -> Option<&'static str> {
        if self.past_pause_limit(i.counts.sent, i.complaint_rate, self.pause_complaint_rate) {
            Some("past the pause limit")
        } else if i.complaint_rate >= self.complaint_rate_ceiling {
            Some("0.3 % or more")
        } else if i.complaint_rate >= self.complaint_rate_target {
            Some("0.1 % or more")
        } else {
            None
        }
    }

    /// Why an issue with `counts` pauses the schedule, or `None` when it is within both
    /// limits: the rule the check in [`apply`] applies when a report arrives, and the one
    /// the dashboard's "past the pause limit" marks follow.
    pub fn pause_reason(&self, counts: &crate::store::bounces::BounceCounts) -> Option<String> {
        let sent = counts.sent;
        let (complaint_rate, hard_rate) = (counts.complaint_rate(), counts.hard_bounce_rate());
        if self.past_pause_limit(sent, complaint_rate, self.pause_complaint_rate) {
            Some(format!(
                "complaint rate {:.2} % ({} of {sent} sent) is above the limit of {:.2} %",
                complaint_rate * 100.0,
                counts.complaints,
                self.pause_complaint_rate * 100.0
            ))
        } else if self.past_pause_limit(sent, hard_rate, self.pause_hard_bounce_rate) {
            Some(format!(
                "hard-bounce rate {:.2} % ({} of {sent} sent) is above the limit of {:.2} %",
                hard_rate * 100.0,
                counts.hard,
                self.pause_hard_bounce_rate * 100.0
            ))
        } else {
            None
        }
    }

    /// Words marking a hard-bounce rate past the pause limit; `None` when fine.
    pub fn hard_bounce_warning(&self, i: &IssueBounces) -> Option<&'static str> {
        self.past_pause_limit(
            i.counts.sent,
            i.hard_bounce_rate,
            self.pause_hard_bounce_rate,
        )
        .then_some("past the pause limit")
    }
}

/// One issue's bounce and complaint counts and rates, as the dashboard, `digest status`
/// and `/metrics` show them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IssueBounces {
    pub digest_id: i64,
    pub issue_date: String,
    #[serde(flatten)]
    pub counts: BounceCounts,
    /// Fractions of the messages sent.
    pub hard_bounce_rate: f64,
    pub complaint_rate: f64,
}

impl IssueBounces {
    fn new(digest_id: i64, issue_date: String, counts: BounceCounts) -> Self {
        Self {
            digest_id,
            issue_date,
            hard_bounce_rate: counts.hard_bounce_rate(),
            complaint_rate: counts.complaint_rate(),
            counts,
        }
    }
}

/// One issue's numbers (`digest status`). The counts come from the store's
/// `digest_bounce_counts`, as the pause check's do, so the two never disagree.
pub async fn issue_bounces(app: &crate::App, digest_id: i64) -> anyhow::Result<IssueBounces> {
    let digest = app.store.digest(digest_id).await?;
    let counts = app.store.digest_bounce_counts(digest_id).await?;
    Ok(IssueBounces::new(
        digest_id,
        digest.issue_date.to_string(),
        counts,
    ))
}

/// The `limit` most recent issues that went out (or are going out), newest first, with
/// their numbers: the one list behind `/admin/bounces`, the queue dashboard and the
/// per-issue series in `/metrics`. One count per issue: a few indexed reads of its
/// ledger rows.
pub async fn recent_issue_bounces(
    app: &crate::App,
    limit: i64,
) -> anyhow::Result<Vec<IssueBounces>> {
    let mut issues = Vec::new();
    for d in app.store.list_sent_digests(limit, 0).await? {
        let counts = app.store.digest_bounce_counts(d.id).await?;
        issues.push(IssueBounces::new(d.id, d.issue_date, counts));
    }
    Ok(issues)
}

/// Sets the bounce gauges when `/metrics` is scraped.
pub async fn refresh_metrics(app: &crate::App) {
    let result: anyhow::Result<()> = async {
        let totals = app.store.bounce_totals().await?;
        for kind in ["hard", "soft", "complaint"] {
            let n = totals
                .iter()
                .find(|(k, _)| k == kind)
                .map_or(0, |(_, n)| *n);
            metrics::gauge!(METRIC_RECORDED, "kind" => kind).set(n as f64);
        }
        if let Some(id) = app.store.latest_sent_digest_id().await? {
            let c = app.store.digest_bounce_counts(id).await?;
            metrics::gauge!(METRIC_COMPLAINT_RATE).set(c.complaint_rate());
            metrics::gauge!(METRIC_HARD_BOUNCE_RATE).set(c.hard_bounce_rate());
        }
        let open = app.store.open_unmatched_count().await?;
        metrics::gauge!(METRIC_UNMATCHED_OPEN).set(open as f64);
        Ok(())
    }
    .await;
    if let Err(e) = result {
        tracing::warn!(error = %e, "metrics: cannot read bounce counts");
    }
}

/// What a retry of an issue's transient failures did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retried {
    /// Deliveries put back in the queue (what the operator is told).
    pub deliveries: i64,
    /// Batch jobs pushed for the workers.
    pub batches: usize,
}

/// Sends again the deliveries of an issue that failed only because their retries ran out
/// (the operator's "retry the transient ones"): the one function behind both
/// `bounces retry` and the dashboard's button. Permanent refusals, bounces and
/// complaints stay as they are.
pub async fn retry_transient_failures(app: &crate::App, digest_id: i64) -> anyhow::Result<Retried> {
    let retried = app
        .store
        .retry_transient_failures(digest_id, app.now_ms())
        .await?;
    for batch_no in &retried.batches {
        app.queue
            .push(crate::delivery::jobs::DeliverBatch {
                digest_id,
                batch_no: *batch_no,
            })
            .await?;
    }
    tracing::info!(
        digest = digest_id,
        deliveries = retried.deliveries,
        batches = retried.batches.len(),
        "transient failures queued again"
    );
    Ok(Retried {
        deliveries: retried.deliveries,
        batches: retried.batches.len(),
    })
}

/// The per-issue series and the limits in Prometheus' text format, read at scrape time.
///
/// Written out here rather than set as gauges on the process's recorder: a recorder keeps
/// every series it was ever given, so an issue that left the last [`ISSUES_EXPORTED`]
/// would go on being exported with its last value for the life of the process. Rendered
/// from the database on each scrape, the set is exactly the recent issues, in every
/// process alike, and the limits are this process's own configuration.
pub async fn issue_metrics_text(app: &crate::App) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let gauge = |out: &mut String, name: &str, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
    };
    let t = Thresholds::from_config(&app.config.bounces);
    gauge(
        &mut out,
        METRIC_PAUSE_COMPLAINT_RATE,
        "Complaint rate above which an issue pauses the schedule (0: off).",
    );
    let _ = writeln!(
        out,
        "{METRIC_PAUSE_COMPLAINT_RATE} {}",
        t.pause_complaint_rate
    );
    gauge(
        &mut out,
        METRIC_PAUSE_HARD_BOUNCE_RATE,
        "Hard-bounce rate above which an issue pauses the schedule (0: off).",
    );
    let _ = writeln!(
        out,
        "{METRIC_PAUSE_HARD_BOUNCE_RATE} {}",
        t.pause_hard_bounce_rate
    );
    gauge(
        &mut out,
        METRIC_PAUSE_MIN_SENT,
        "Messages an issue must have sent before its rates can pause the schedule.",
    );
    let _ = writeln!(out, "{METRIC_PAUSE_MIN_SENT} {}", t.pause_min_sent);
    gauge(
        &mut out,
        METRIC_COMPLAINT_GUIDELINE,
        "Bulk senders' complaint-rate rule: keep under 0.1 %, never 0.3 %.",
    );
    let _ = writeln!(
        out,
        "{METRIC_COMPLAINT_GUIDELINE}{{level=\"keep_under\"}} {}\n{METRIC_COMPLAINT_GUIDELINE}{{level=\"never\"}} {}",
        t.complaint_rate_target, t.complaint_rate_ceiling
    );
    let issues = match recent_issue_bounces(app, ISSUES_EXPORTED).await {
        Ok(issues) => issues,
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "metrics: cannot read the issues' bounce counts");
            return out;
        }
    };
    if issues.is_empty() {
        return out;
    }
    // Ids and dates only (digits and dashes): nothing in a label needs escaping.
    let labels =
        |i: &IssueBounces| format!("digest=\"{}\",issue_date=\"{}\"", i.digest_id, i.issue_date);
    let mut per_issue = |name: &str, help: &str, value: fn(&IssueBounces) -> f64| {
        gauge(&mut out, name, help);
        for i in &issues {
            let _ = writeln!(out, "{name}{{{}}} {}", labels(i), value(i));
        }
    };
    per_issue(METRIC_ISSUE_SENT, "Messages of a recent issue sent.", |i| {
        i.counts.sent as f64
    });
    per_issue(
        METRIC_ISSUE_HARD_BOUNCE_RATE,
        "A recent issue's hard bounces as a fraction of its messages sent.",
        |i| i.hard_bounce_rate,
    );
    per_issue(
        METRIC_ISSUE_COMPLAINT_RATE,
        "A recent issue's complaints as a fraction of its messages sent.",
        |i| i.complaint_rate,
    );
    gauge(
        &mut out,
        METRIC_ISSUE_BOUNCES,
        "Bounces and complaints recorded on a recent issue's deliveries, by kind.",
    );
    for i in &issues {
        for (kind, n) in [
            ("hard", i.counts.hard),
            ("soft", i.counts.soft),
            ("complaint", i.counts.complaints),
        ] {
            let _ = writeln!(
                out,
                "{METRIC_ISSUE_BOUNCES}{{{},kind=\"{kind}\"}} {n}",
                labels(i)
            );
        }
    }
    out
}
