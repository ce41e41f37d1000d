//! Prometheus metrics: one recorder per process, counters and histograms recorded where
//! things happen, gauges read from the database when `/metrics` is scraped.
//!
//! The names other rooms record live in [`super::metric_names`], a leaf that depends on
//! nothing, so that recording a metric never pulls in this module (which reads the store,
//! the queue and the bounce tallies):
//! - [`MESSAGES_SENT`], [`MESSAGES_FAILED`], [`MESSAGES_RETRIED`]: digest deliveries;
//! - `breakfast_transactional_{sent,failed,retried}_total`: single emails;
//! - [`MAIL_SEND_SECONDS`]: time per message handed to the transport;
//! - [`FEED_FETCHES`] with label `result` (`ok`, `not_modified`, `error`): feed polling.
//!
//! The per-issue bounce series and the bounce limits are appended to the recorder's text
//! by `bounces::issue_metrics_text`, so that only the recent issues are ever exported.

use std::{sync::OnceLock, time::Instant};

use axum::{
    extract::{MatchedPath, Request},
    middleware::Next,
    response::Response,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub use super::metric_names::*;
use crate::{app::App, queue::Job, queue::jobs::SendTransactional};

/// Bucket bounds in seconds: SMTP hand-offs take milliseconds to tens of seconds.
const MAIL_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Web requests: sub-millisecond pages to slow exports.
const HTTP_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the recorder the first time it is called in this process; later calls (tests
/// open several apps in one process) reuse it. `None` when another recorder got there
/// first, in which case `/metrics` says so rather than serving nothing.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let handle = build().and_then(|b| b.install_recorder().map_err(|e| e.to_string()));
            match handle {
                Ok(h) => {
                    describe();
                    Some(h)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed; /metrics is unavailable");
                    None
                }
            }
        })
        .as_ref()
}

fn build() -> Result<PrometheusBuilder, String> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(MAIL_SEND_SECONDS.into()), MAIL_BUCKETS)
        .and_then(|b| b.set_buckets_for_metric(Matcher::Full(HTTP_SECONDS.into()), HTTP_BUCKETS))
        .map_err(|e| e.to_string())
}

fn describe() {
    for (name, help) in COUNTERS {
        ::metrics::describe_counter!(*name, *help);
        if *name != FEED_FETCHES && *name != HTTP_REQUESTS {
            ::metrics::counter!(*name).increment(0);
        }
    }
    ::metrics::describe_histogram!(
        MAIL_SEND_SECONDS,
        ::metrics::Unit::Seconds,
        "Time to hand one message to the mail transport."
    );
    ::metrics::describe_histogram!(
        HTTP_SECONDS,
        ::metrics::Unit::Seconds,
        "HTTP request latency."
    );
    ::metrics::describe_gauge!(SUBSCRIBERS, "Subscribers by status.");
    ::metrics::describe_gauge!(JOBS, "Queue jobs by kind and state.");
    ::metrics::describe_gauge!(
        OLDEST_WAITING,
        "Age of the oldest due job waiting, by kind."
    );
}

/// The text exposition, after reading the gauges from the database. A gauge that cannot
/// be read is left at its last value and the failure logged: a scrape should still
/// deliver the counters.
pub async fn render(app: &App) -> Option<String> {
    let handle = install()?;
    refresh_gauges(app).await;
    handle.run_upkeep();
    let mut text = handle.render();
    // The per-issue bounce series and the limits, read from this app's database and
    // configuration (see `bounces::issue_metrics_text` for why not on the recorder).
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&crate::bounces::issue_metrics_text(app).await);
    Some(text)
}

async fn refresh_gauges(app: &App) {
    match app.store.count_subscribers_by_status().await {
        Ok(counts) => {
            for (status, n) in counts {
                ::metrics::gauge!(SUBSCRIBERS, "status" => status.as_str()).set(n as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: cannot count subscribers"),
    }
    match app.store.queue_stats(&known_job_kinds(), now_secs()).await {
        Ok(kinds) => {
            for k in kinds {
                let states = [
                    ("waiting", k.waiting),
                    ("running", k.running),
                    ("done", k.done),
                    ("retrying", k.retrying),
                    ("dead", k.dead),
                ];
                for (state, n) in states {
                    ::metrics::gauge!(JOBS, "kind" => k.kind.clone(), "state" => state)
                        .set(n as f64);
                }
                ::metrics::gauge!(OLDEST_WAITING, "kind" => k.kind.clone())
                    .set(k.oldest_waiting_secs.unwrap_or(0) as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: cannot read the queue"),
    }
    crate::bounces::refresh_metrics(app).await;
}

/// Kinds shown even before their first job. Kinds with jobs are found in the table.
pub fn known_job_kinds() -> Vec<&'static str> {
    vec![
        SendTransactional::QUEUE,
        <crate::delivery::jobs::FanOutDigest as crate::queue::Job>::QUEUE,
        <crate::delivery::jobs::DeliverBatch as crate::queue::Job>::QUEUE,
    ]
}

/// Wall-clock seconds: apalis stamps jobs with the database's clock, not the app's.
pub fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Counts and times every request by method, route pattern (never the raw path, which
/// would carry tokens and grow without bound) and status.
pub async fn track_http(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    ::metrics::counter!(HTTP_REQUESTS, "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    ::metrics::histogram!(HTTP_SECONDS, "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}
