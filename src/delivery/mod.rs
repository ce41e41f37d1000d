//! Delivery: turning a composed digest into one email per confirmed subscriber.
//!
//! The ledger (`deliveries`) is the truth; jobs only prompt work on part of it. A send
//! goes: [`start_send`] marks the digest `sending` and queues a [`jobs::FanOutDigest`];
//! the fan-out writes every ledger row in one statement and queues one
//! [`jobs::DeliverBatch`] per batch, which only wakes the senders. Every process's
//! [`send`]er claims small chunks of rows straight from the ledger as it has room,
//! sends each over the SMTP pool and records each acceptance promptly (group commit).
//! The [`sweeper`] re-queues lost fan-outs and marks digests sent.
//!
//! Crash bound: after `kill -9`, at most [`in_flight_bound`] recipients per killed
//! process (`min(mail.concurrency, mail.pool_size)` over SMTP) can receive the digest
//! twice: a message holds its slot from the SMTP transaction until its `sent` row is
//! committed.

pub mod fanout;
pub mod jobs;
pub mod progress;
pub mod ratelimit;
pub mod send;
pub mod sweeper;

use rand::Rng;

use crate::{app::App, store::StoreError};

/// Starts sending a composed digest: refused (with the reason) when it is already
/// sending, sent, or not composed. The fan-out and the sending happen in queue workers.
/// Callers outside delivery go through [`crate::edition::send`], which decides whether
/// and what to send.
pub async fn start_send(app: &App, digest_id: i64) -> anyhow::Result<()> {
    match app.store.begin_send(digest_id, app.now_ms()).await {
        Ok(()) => {}
        Err(StoreError::Conflict(why)) => anyhow::bail!("{why}"),
        Err(e) => return Err(e.into()),
    }
    tracing::info!(digest = digest_id, "digest send started");
    app.queue.push(jobs::FanOutDigest { digest_id }).await
}

/// The most messages one process can have had accepted by the server but not yet
/// recorded: what a crash can at worst deliver twice.
pub fn in_flight_bound(app: &App) -> usize {
    send::in_flight_limit(&app.config)
}

/// Delay before retry number `attempt` (1 = the first retry): doubling from `base_ms`,
/// capped at `max_ms`, then scaled by a random factor in [0.5, 1] so that recipients who
/// failed together do not all come back in the same instant.
pub fn backoff_ms(attempt: u32, base_ms: u64, max_ms: u64) -> u64 {
    let exp = attempt.saturating_sub(1).min(32);
    let raw = base_ms.saturating_mul(1u64 << exp).min(max_ms.max(base_ms));
    let factor: f64 = rand::rng().random_range(0.5..=1.0);
    ((raw as f64) * factor) as u64
}

/// Marks the digest `sent` once no delivery is left to do, and logs the send's one
/// closing line with its counts and duration. Safe to call from every process: only the
/// call whose update lands logs.
pub async fn finish_if_done(app: &App, digest_id: i64) -> anyhow::Result<bool> {
    let now = app.now_ms();
    if !app.store.finish_digest_if_done(digest_id, now).await? {
        return Ok(false);
    }
    let p = app.store.delivery_progress(digest_id, now).await?;
    let seconds = p
        .send_started_at
        .map(|s| (now - s) as f64 / 1000.0)
        .unwrap_or(0.0);
    tracing::info!(
        digest = digest_id,
        sent = p.sent,
        failed = p.failed,
        recipients = p.recipients.unwrap_or(0),
        seconds,
        rate_per_second = p.rate_per_second,
        "digest send finished"
    );
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::backoff_ms;

    #[test]
    fn backoff_doubles_with_jitter_and_cap() {
        for _ in 0..100 {
            let first = backoff_ms(1, 1000, 60_000);
            assert!((500..=1000).contains(&first), "{first}");
            let third = backoff_ms(3, 1000, 60_000);
            assert!((2000..=4000).contains(&third), "{third}");
            let capped = backoff_ms(30, 1000, 60_000);
            assert!((30_000..=60_000).contains(&capped), "{capped}");
        }
    }
}
