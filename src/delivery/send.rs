//! The batch sender: claim a chunk of ledger rows, send it concurrently over the pool,
//! record the outcome — one statement per chunk for the common case.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{sync::Semaphore, task::JoinSet};

use super::{backoff_ms, chunk_size, jobs::DeliverBatch, ratelimit::RateLimiter};
use crate::{
    app::App,
    config::Config,
    digest::Personaliser,
    domain::{EmailAddress, SubscriberStatus},
    mail::{OutgoingEmail, SendError},
    queue::jobs::unsubscribe_for,
    store::deliveries::ClaimedDelivery,
};

/// What every batch of one process shares: the in-flight limit, the rate limit and the
/// digests already loaded (rendered once, personalised per recipient).
pub struct DeliveryRuntime {
    in_flight: Arc<Semaphore>,
    pub limiter: RateLimiter,
    contents: Mutex<HashMap<i64, Arc<Content>>>,
}

impl DeliveryRuntime {
    pub fn new(config: &Config) -> DeliveryRuntime {
        DeliveryRuntime {
            in_flight: Arc::new(Semaphore::new(in_flight_limit(config))),
            limiter: RateLimiter::new(config.mail.rate_limit_per_second),
            contents: Mutex::new(HashMap::new()),
        }
    }

    async fn content(&self, app: &App, digest_id: i64) -> anyhow::Result<Arc<Content>> {
        if let Some(c) = self.lock_contents().get(&digest_id) {
            return Ok(c.clone());
        }
        let content = Arc::new(Content::load(app, digest_id).await?);
        let mut cache = self.lock_contents();
        if cache.len() > 16 {
            cache.clear();
        }
        cache.insert(digest_id, content.clone());
        Ok(content)
    }

    fn lock_contents(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Arc<Content>>> {
        self.contents.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Messages on the wire at once. Over SMTP this is also capped by the pool size: the
/// pool opens a fresh connection when none is idle and closes it again when the pool is
/// full, so more senders than pooled connections would reconnect for every message.
pub fn in_flight_limit(config: &Config) -> usize {
    let limit = config.mail.concurrency.max(1);
    if config.smtp_url.is_empty() {
        limit
    } else {
        limit.min(config.mail.pool_size.max(1) as usize)
    }
}

/// A digest ready to personalise: through the composer's personaliser when it can load
/// the digest, otherwise the stored subject, HTML and text as they are.
pub enum Content {
    Personalised(Personaliser),
    Stored {
        subject: String,
        html: String,
        text: String,
    },
}

impl Content {
    pub async fn load(app: &App, digest_id: i64) -> anyhow::Result<Content> {
        match Personaliser::load(app, digest_id).await {
            Ok(p) => Ok(Content::Personalised(p)),
            Err(e) => {
                let d = app.store.stored_digest(digest_id).await?;
                let (Some(subject), Some(html), Some(text)) = (d.subject, d.html, d.text) else {
                    return Err(e.context(format!("digest {digest_id} has no rendered content")));
                };
                Ok(Content::Stored {
                    subject,
                    html,
                    text,
                })
            }
        }
    }

    pub fn render_for(&self, subscriber_id: i64, name: Option<&str>) -> (String, String, String) {
        match self {
            Content::Personalised(p) => p.render_for(subscriber_id, name),
            Content::Stored {
                subject,
                html,
                text,
            } => (subject.clone(), html.clone(), text.clone()),
        }
    }
}

/// How one message went.
enum Outcome {
    Sent(i64),
    Failed {
        delivery: &'static str,
        claimed: ClaimedDelivery,
        error: SendError,
    },
}

/// What a batch run did, for logs and tests.
#[derive(Debug, Default, Clone, Copy)]
pub struct BatchReport {
    pub sent: u64,
    pub retrying: u64,
    pub failed: u64,
}

/// Works through one batch until nothing in it is sendable now or `stopping` says the
/// process is shutting down (the chunk in flight is always finished first). Retries not
/// yet due are handed to a delayed job for the same batch.
pub async fn deliver_batch(
    app: &App,
    rt: &DeliveryRuntime,
    job: &DeliverBatch,
    stopping: impl Fn() -> bool,
) -> anyhow::Result<BatchReport> {
    let mut report = BatchReport::default();
    let digest = app.store.stored_digest(job.digest_id).await?;
    if digest.status != "sending" {
        return Ok(report);
    }
    let content = rt.content(app, job.digest_id).await?;
    let lease_ms = (app.config.queue.lease_secs.max(1) * 1000) as i64;
    let chunk = chunk_size(app) as i64;
    loop {
        app.store
            .fail_departed(job.digest_id, job.batch_no, app.now_ms())
            .await?;
        if stopping() {
            return Ok(report);
        }
        let now = app.now_ms();
        let claimed = app
            .store
            .claim_deliveries(job.digest_id, job.batch_no, chunk, now, now + lease_ms)
            .await?;
        if claimed.is_empty() {
            break;
        }
        let outcomes = send_chunk(app, rt, &content, job.digest_id, claimed).await;
        record(app, rt, outcomes, &mut report).await?;
    }
    if let Some(due) = app.store.next_retry_at(job.digest_id, job.batch_no).await? {
        let delay = Duration::from_millis(due.saturating_sub(app.now_ms()).max(0) as u64);
        app.queue.push_after(job.clone(), delay).await?;
    }
    super::finish_if_done(app, job.digest_id).await?;
    Ok(report)
}

/// Sends every claimed row at once, each waiting for a slot in the process-wide
/// in-flight limit and rate limit; messages are built on the worker threads.
async fn send_chunk(
    app: &App,
    rt: &DeliveryRuntime,
    content: &Arc<Content>,
    digest_id: i64,
    claimed: Vec<ClaimedDelivery>,
) -> Vec<Outcome> {
    let mut tasks = JoinSet::new();
    for row in claimed {
        let permit = rt.in_flight.clone().acquire_owned().await;
        rt.limiter.acquire().await;
        let app = app.clone();
        let content = content.clone();
        tasks.spawn(async move {
            let outcome = send_one(&app, &content, digest_id, row).await;
            drop(permit);
            outcome
        });
    }
    let mut outcomes = Vec::with_capacity(tasks.len());
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(o) => outcomes.push(o),
            // A panicking send leaves its row `sending`; the lease brings it back.
            Err(e) => tracing::error!(error = %e, "a delivery task failed"),
        }
    }
    outcomes
}

async fn send_one(app: &App, content: &Content, digest_id: i64, row: ClaimedDelivery) -> Outcome {
    let to = match EmailAddress::parse(&row.email) {
        Ok(to) => to,
        Err(e) => {
            return Outcome::Failed {
                delivery: "invalid address",
                claimed: row,
                error: SendError::Permanent(format!("invalid address: {e}")),
            };
        }
    };
    let (subject, html, text) = content.render_for(row.subscriber_id, row.name.as_deref());
    let email = OutgoingEmail {
        to,
        to_name: row.name.clone(),
        subject,
        html,
        text,
        unsubscribe: Some(unsubscribe_for(app, row.subscriber_id)),
    };
    let bounce_ref = crate::bounces::BounceRef::Delivery {
        digest_id,
        subscriber_id: row.subscriber_id,
    };
    let return_path = crate::bounces::return_path(app, bounce_ref);
    let message = match email.to_message_returning(&app.identity, return_path.as_ref()) {
        Ok(m) => m,
        Err(e) => {
            return Outcome::Failed {
                delivery: "unbuildable",
                claimed: row,
                error: SendError::Permanent(e.to_string()),
            };
        }
    };
    match app.mailer.send(message).await {
        Ok(()) => Outcome::Sent(row.id),
        Err(error) => Outcome::Failed {
            delivery: "refused",
            claimed: row,
            error,
        },
    }
}

/// Writes a chunk's outcomes: all acceptances in one statement, then each failure.
async fn record(
    app: &App,
    rt: &DeliveryRuntime,
    outcomes: Vec<Outcome>,
    report: &mut BatchReport,
) -> anyhow::Result<()> {
    let sent: Vec<i64> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Sent(id) => Some(*id),
            _ => None,
        })
        .collect();
    app.store.mark_sent(&sent, app.now_ms()).await?;
    report.sent += sent.len() as u64;
    metrics::counter!(crate::ops::metrics::MESSAGES_SENT).increment(sent.len() as u64);
    for outcome in outcomes {
        if let Outcome::Failed {
            delivery,
            claimed,
            error,
        } = outcome
        {
            record_failure(app, rt, delivery, claimed, error, report).await?;
        }
    }
    Ok(())
}

async fn record_failure(
    app: &App,
    rt: &DeliveryRuntime,
    kind: &'static str,
    row: ClaimedDelivery,
    error: SendError,
    report: &mut BatchReport,
) -> anyhow::Result<()> {
    let now = app.now_ms();
    let q = &app.config.queue;
    if error.is_slow_down() {
        rt.limiter.slow_down();
    }
    if error.is_permanent() {
        tracing::warn!(subscriber = row.subscriber_id, kind, error = %error, "delivery failed permanently");
        app.store
            .mark_failed(row.id, &error.to_string(), now)
            .await?;
        report.failed += 1;
        metrics::counter!(crate::ops::metrics::MESSAGES_FAILED).increment(1);
        return bounce(app, row.subscriber_id).await;
    }
    if row.attempts >= i64::from(q.max_delivery_attempts.max(1)) {
        tracing::warn!(subscriber = row.subscriber_id, attempts = row.attempts, error = %error, "delivery gave up after retries");
        let why = format!("gave up after {} attempts: {error}", row.attempts);
        app.store.mark_failed(row.id, &why, now).await?;
        report.failed += 1;
        metrics::counter!(crate::ops::metrics::MESSAGES_FAILED).increment(1);
        return Ok(());
    }
    let delay = backoff_ms(row.attempts as u32, q.retry_base_ms, q.retry_max_ms);
    tracing::info!(subscriber = row.subscriber_id, attempts = row.attempts, retry_in_ms = delay, error = %error, "delivery will be retried");
    app.store
        .mark_retrying(row.id, &error.to_string(), now + delay as i64, now)
        .await?;
    report.retrying += 1;
    metrics::counter!(crate::ops::metrics::MESSAGES_RETRIED).increment(1);
    Ok(())
}

/// Counts a permanent refusal; at the configured threshold the subscriber is `bounced`
/// and gets no more mail.
async fn bounce(app: &App, subscriber_id: i64) -> anyhow::Result<()> {
    let count = app.store.record_bounce(subscriber_id).await?;
    if count >= i64::from(app.config.subscribers.bounce_threshold.max(1)) {
        match app
            .store
            .set_subscriber_status(subscriber_id, SubscriberStatus::Bounced, app.now_ms())
            .await
        {
            Ok(_) => tracing::info!(subscriber = subscriber_id, "subscriber marked bounced"),
            Err(e) => {
                tracing::warn!(subscriber = subscriber_id, error = %e, "cannot mark subscriber bounced")
            }
        }
    }
    Ok(())
}
