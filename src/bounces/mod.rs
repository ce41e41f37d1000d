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

pub use apply::{Handled, ProviderEvent, handle_event, handle_message, reprocess};
pub use verp::{BounceRef, return_path};

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

/// Sends again the deliveries of an issue that failed only because their retries ran out
/// (the operator's "retry the transient ones"). Returns how many batches were queued.
pub async fn retry_transient_failures(app: &crate::App, digest_id: i64) -> anyhow::Result<usize> {
    let batches = app
        .store
        .retry_transient_failures(digest_id, app.now_ms())
        .await?;
    for batch_no in &batches {
        app.queue
            .push(crate::delivery::jobs::DeliverBatch {
                digest_id,
                batch_no: *batch_no,
            })
            .await?;
    }
    tracing::info!(
        digest = digest_id,
        batches = batches.len(),
        "transient failures queued again"
    );
    Ok(batches.len())
}
