//! The sender: every process that sends claims small chunks of ledger rows as it has
//! room for them, sends each over the SMTP pool and records each acceptance promptly.
//!
//! Three promises, and where each is kept:
//! - **Crash bound.** A message holds one of the process's in-flight slots from the
//!   moment its SMTP transaction starts until its `sent` row is committed (acceptances
//!   are group-committed by one recorder task, a few at a time, as fast as the database
//!   takes them). So after `kill -9` at most [`in_flight_limit`] messages were accepted
//!   by the server without the ledger knowing: those, and only those, may go out twice.
//!   Rows claimed but not yet on the wire go out once, by whoever takes them over.
//!   Personalising, formatting and DKIM-signing a message happen before it takes a
//!   slot (up to as many messages again are made ready while others are on the wire),
//!   so the slots are spent on the SMTP transaction and its record, nothing else.
//!   (On PostgreSQL the `sent` marks are committed without waiting for the WAL fsync;
//!   only a crash of the database server itself can forget its last ~0.6 s of them, see
//!   [`crate::store::Store::mark_sent`].)
//! - **Fast recovery.** Claims name their owner (this process's id), and the owner
//!   renews its row in `delivery_owners` every [`HEARTBEAT_EVERY`]. Once an owner has
//!   been silent for [`OWNER_SILENT_AFTER`], any process takes its rows over.
//! - **Shared work.** Nobody holds a digest: each process claims
//!   `mail.concurrency` rows at a time, only when it has a free slot, so every process
//!   sending takes a share in proportion to its speed, and a dead one leaves nothing
//!   locked but the rows it had claimed.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::sync::{Notify, Semaphore, mpsc, oneshot};

use super::{backoff_ms, ratelimit::RateLimiter};
use crate::{
    app::App,
    config::Config,
    digest::{Personaliser, ReaderCopy},
    domain::{EmailAddress, SubscriberStatus},
    links::Links,
    mail::{EncodedEmail, Head, Prepared, SendError},
    shutdown::Shutdown,
    store::deliveries::{Claim, ClaimKind, ClaimedDelivery},
};

/// How often a sending process says it is alive.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);
/// How long an owner may stay silent before its rows are taken over.
pub const OWNER_SILENT_AFTER: Duration = Duration::from_secs(5);
/// How often retries that fell due and rows of dead owners are looked for while
/// untouched rows remain (they are also looked for whenever those run out).
const LEFT_OVER_EVERY: Duration = Duration::from_secs(1);
/// How often the list of digests being sent is re-read while busy.
const DIGESTS_EVERY: Duration = Duration::from_secs(1);
/// While a digest's untouched rows all wait for a later moment (or cannot be claimed),
/// its untouched rows are looked at again after this long at most (or at their moment,
/// if sooner), not on every poll: each look scans them all.
const QUEUED_RECHECK: Duration = Duration::from_secs(2);
/// How often an idle sender closes the rows of subscribers who left, once it has closed
/// them after its last claim (each round looks at every untouched row of the digest).
const DEPARTED_EVERY: Duration = Duration::from_secs(10);
/// Retried and failed deliveries are summarised in one line per this interval.
const SUMMARY_EVERY: Duration = Duration::from_secs(10);

/// Wakes every idle sender of this process: a batch job arrived, so there is work.
static WAKE: Notify = Notify::const_new();

/// Tells this process's sender that a digest has rows to send (the batch jobs' only job).
pub fn wake() {
    WAKE.notify_waiters();
}

/// Messages on the wire, or accepted and not yet recorded, at once per process. Over
/// SMTP this is also capped by the pool size: more senders than pooled connections
/// would reconnect for every message.
pub fn in_flight_limit(config: &Config) -> usize {
    let limit = config.mail.concurrency.max(1);
    if config.smtp_url.is_empty() {
        limit
    } else {
        limit.min(config.mail.pool_size.max(1) as usize)
    }
}

/// Rows claimed per statement: `mail.concurrency`, but never fewer than the slots.
fn chunk_size(config: &Config) -> usize {
    config.mail.concurrency.max(in_flight_limit(config))
}

/// This process's name in leases and heartbeats: unique per start.
fn owner_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into());
    format!(
        "{host}-{}-{}",
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// What every send of one process shares: its owner name, the in-flight slots, the
/// rate limit, the recorder and the digests already loaded (rendered once).
pub struct DeliveryRuntime {
    owner: String,
    slots: usize,
    in_flight: Arc<Semaphore>,
    /// Messages being personalised, formatted and signed, at most `slots` at once: they
    /// are made ready while earlier ones are on the wire, and take an in-flight slot only
    /// once ready, so signing never holds a slot (nor widens the crash bound).
    preparing: Arc<Semaphore>,
    pub limiter: RateLimiter,
    contents: Mutex<HashMap<i64, Arc<Content>>>,
    tally: Tally,
}

impl DeliveryRuntime {
    pub fn new(config: &Config) -> DeliveryRuntime {
        let slots = in_flight_limit(config);
        DeliveryRuntime {
            owner: owner_name(),
            slots,
            in_flight: Arc::new(Semaphore::new(slots)),
            preparing: Arc::new(Semaphore::new(slots)),
            limiter: RateLimiter::new(config.mail.rate_limit_per_second),
            contents: Mutex::new(HashMap::new()),
            tally: Tally::default(),
        }
    }

    pub fn owner(&self) -> &str {
        &self.owner
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

/// Counts since the last summary line.
#[derive(Default)]
struct Tally {
    sent: AtomicU64,
    retrying: AtomicU64,
    slow_down: AtomicU64,
    failed: AtomicU64,
}

impl Tally {
    /// One INFO line for the interval when anything went wrong in it.
    fn summarise(&self) {
        let take = |c: &AtomicU64| c.swap(0, Ordering::Relaxed);
        let (sent, retrying, slow_down, failed) = (
            take(&self.sent),
            take(&self.retrying),
            take(&self.slow_down),
            take(&self.failed),
        );
        if retrying + failed > 0 {
            tracing::info!(
                sent,
                retrying,
                slow_down_replies = slow_down,
                failed,
                seconds = SUMMARY_EVERY.as_secs(),
                "deliveries retried or failed (details at debug level)"
            );
        }
    }
}

/// A digest ready to personalise: the composer's personaliser, loaded once per digest.
pub struct Content(Personaliser);

impl Content {
    pub async fn load(app: &App, digest_id: i64) -> anyhow::Result<Content> {
        Ok(Content(Personaliser::load(app, digest_id).await?))
    }

    /// The subject (the same for everyone) and one recipient's copy.
    pub fn copy_for(&self, subscriber_id: i64, name: Option<&str>) -> (&str, ReaderCopy) {
        (self.0.subject(), self.0.reader_copy(subscriber_id, name))
    }

    fn links(&self) -> &Links {
        self.0.links()
    }
}

/// An accepted message waiting for its `sent` row: the id, and who to tell once committed.
type Accepted = (i64, oneshot::Sender<()>);

/// Runs this process's sender until `shutdown`: heartbeat, claims, sends, recording.
/// On shutdown it stops claiming, hands back the rows it claimed but did not start,
/// finishes and records the messages in flight (within `queue.shutdown_timeout_secs`)
/// and removes its heartbeat so that nothing waits for it.
pub async fn run(app: App, shutdown: Shutdown) {
    let rt = Arc::new(DeliveryRuntime::new(&app.config));
    let (accepted, to_record) = mpsc::unbounded_channel::<Accepted>();
    let recorder = tokio::spawn(record_loop(app.clone(), to_record));
    let (heartbeat_stop, heartbeat_stopped) = Shutdown::new();
    let heartbeat = tokio::spawn(heartbeat_loop(app.clone(), rt.clone(), heartbeat_stopped));
    tracing::debug!(owner = rt.owner(), slots = rt.slots, "sender started");

    claim_loop(&app, &rt, &accepted, &shutdown).await;

    drop(accepted);
    let grace = Duration::from_secs(app.config.queue.shutdown_timeout_secs);
    let slots = rt.slots as u32;
    let drained = tokio::time::timeout(grace, async {
        // Those being prepared take a slot or hand their row back; then the slots empty.
        let prepared = rt.preparing.acquire_many(slots).await;
        let sent = rt.in_flight.acquire_many(slots).await;
        (prepared, sent)
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            "messages still in flight at the shutdown timeout; their rows will be taken over"
        );
    }
    let _ = tokio::time::timeout(grace, recorder).await;
    heartbeat_stop.trigger();
    let _ = heartbeat.await;
    rt.tally.summarise();
    let now = app.now_ms();
    if let Err(e) = app
        .store
        .drop_delivery_owners(rt.owner(), now - 3_600_000)
        .await
    {
        tracing::warn!(error = %e, "cannot remove this process's delivery heartbeat");
    }
}

/// Renews this process's heartbeat and writes the periodic summary line.
async fn heartbeat_loop(app: App, rt: Arc<DeliveryRuntime>, stop: Shutdown) {
    let mut ticker = tokio::time::interval(HEARTBEAT_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_summary = Instant::now();
    let mut last_prune = Instant::now();
    loop {
        tokio::select! {
            _ = ticker.tick() => {},
            _ = stop.clone().wait() => return,
        }
        if let Err(e) = renew(&app, &rt).await {
            tracing::warn!(error = %e, "cannot renew the delivery heartbeat");
        }
        if last_summary.elapsed() >= SUMMARY_EVERY {
            rt.tally.summarise();
            last_summary = Instant::now();
        }
        if last_prune.elapsed() >= Duration::from_secs(600) {
            // Owners silent for an hour are long dead; their rows were taken over.
            let _ = app
                .store
                .drop_delivery_owners(rt.owner(), app.now_ms() - 3_600_000)
                .await;
            let _ = renew(&app, &rt).await;
            last_prune = Instant::now();
        }
    }
}

async fn renew(app: &App, rt: &DeliveryRuntime) -> anyhow::Result<()> {
    let now = app.now_ms();
    let until = now + OWNER_SILENT_AFTER.as_millis() as i64;
    app.store
        .renew_delivery_owner(rt.owner(), now, until)
        .await?;
    Ok(())
}

/// Which digests to claim from, and when left-over rows were last looked for.
struct ClaimState {
    digests: Vec<i64>,
    digests_read: Option<Instant>,
    left_over_checked: Instant,
    /// Per digest, the highest id this sender claimed from its untouched rows: the next
    /// claim starts there (see [`crate::store::Store::claim_deliveries`]).
    after: HashMap<i64, i64>,
    /// Per digest, until when its untouched rows need no look (none could be claimed).
    queued_quiet_until: HashMap<i64, Instant>,
    /// Whether rows were claimed since the departed subscribers' rows were last closed.
    claimed_since_idle: bool,
    departed_closed: Option<Instant>,
}

impl ClaimState {
    fn new() -> ClaimState {
        ClaimState {
            digests: Vec::new(),
            digests_read: None,
            left_over_checked: Instant::now(),
            after: HashMap::new(),
            queued_quiet_until: HashMap::new(),
            claimed_since_idle: false,
            departed_closed: None,
        }
    }

    /// Something may have changed (a batch job arrived): look at every digest again.
    fn woken(&mut self) {
        self.queued_quiet_until.clear();
        self.digests_read = None;
    }
}

/// A claimed chunk ready to send.
/// A claimed chunk: its digest's content, the digest id and the rows.
type Chunk = (Arc<Content>, i64, Vec<ClaimedDelivery>);

/// Claims chunks and starts each row's send as a slot frees up, until shutdown. The
/// next chunk is claimed while the current one is being sent (one chunk ahead), so that
/// no slot waits for a claim's round trip. Claimed rows not yet on the wire cost nothing
/// in a crash (they go out once, by whoever takes them over) and are handed back on a
/// graceful stop.
async fn claim_loop(
    app: &App,
    rt: &Arc<DeliveryRuntime>,
    accepted: &mpsc::UnboundedSender<Accepted>,
    shutdown: &Shutdown,
) {
    // Register before the first claim, so that nobody mistakes our rows for a dead owner's.
    while let Err(e) = renew(app, rt).await {
        tracing::warn!(error = %e, "cannot register the delivery heartbeat; retrying");
        if sleep_or_stop(Duration::from_secs(1), shutdown).await {
            return;
        }
    }
    let (chunks, mut to_send) = mpsc::channel::<Chunk>(1);
    let dispatcher = async {
        while let Some((content, digest_id, rows)) = to_send.recv().await {
            if !dispatch(app, rt, &content, digest_id, rows, accepted, shutdown).await {
                break;
            }
        }
        to_send.close();
        while let Some((_, _, rows)) = to_send.recv().await {
            hand_back(app, rows).await;
        }
    };
    tokio::join!(claimer(app, rt, chunks, shutdown), dispatcher);
}

/// Claims chunks and passes them on, waiting (with a poll interval, or until woken)
/// while there is nothing to claim.
async fn claimer(
    app: &App,
    rt: &Arc<DeliveryRuntime>,
    chunks: mpsc::Sender<Chunk>,
    shutdown: &Shutdown,
) {
    let poll = Duration::from_millis(app.config.queue.poll_interval_ms.max(10));
    let mut state = ClaimState::new();
    while !shutdown.is_triggered() {
        let claimed = match claim_next(app, rt, &mut state).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "cannot claim deliveries; will retry");
                if sleep_or_stop(poll.max(Duration::from_millis(500)), shutdown).await {
                    return;
                }
                continue;
            }
        };
        let Some((digest_id, rows)) = claimed else {
            idle(app, &mut state).await;
            let woken = WAKE.notified();
            tokio::select! {
                _ = tokio::time::sleep(poll) => {},
                _ = woken => state.woken(),
                _ = shutdown.clone().wait() => return,
            }
            continue;
        };
        let content = match rt.content(app, digest_id).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(digest = digest_id, error = %format!("{e:#}"), "cannot load the digest to send; will retry");
                hand_back(app, rows).await;
                if sleep_or_stop(Duration::from_secs(1), shutdown).await {
                    return;
                }
                continue;
            }
        };
        if let Err(refused) = chunks.send((content, digest_id, rows)).await {
            // The dispatcher stopped (shutdown): this chunk was never started.
            hand_back(app, refused.0.2).await;
            return;
        }
    }
}

/// Starts one send per row, each as soon as there is room to prepare it; when shutdown
/// comes first, the rows not started are handed back and it returns false.
async fn dispatch(
    app: &App,
    rt: &Arc<DeliveryRuntime>,
    content: &Arc<Content>,
    digest_id: i64,
    rows: Vec<ClaimedDelivery>,
    accepted: &mpsc::UnboundedSender<Accepted>,
    shutdown: &Shutdown,
) -> bool {
    let mut rows = rows.into_iter();
    while let Some(row) = rows.next() {
        let permit = tokio::select! {
            biased;
            _ = shutdown.clone().wait() => None,
            p = rt.preparing.clone().acquire_owned() => p.ok(),
        };
        let Some(preparing) = permit else {
            hand_back(app, std::iter::once(row).chain(rows).collect()).await;
            return false;
        };
        rt.limiter.acquire().await;
        let (app, rt, content, accepted, shutdown) = (
            app.clone(),
            rt.clone(),
            content.clone(),
            accepted.clone(),
            shutdown.clone(),
        );
        tokio::spawn(async move {
            let one = One {
                app: &app,
                rt: &rt,
                content: &content,
                digest_id,
                row,
            };
            one.deliver(preparing, accepted, &shutdown).await;
        });
    }
    true
}

/// One claimed row on its way out, with what its send needs.
struct One<'a> {
    app: &'a App,
    rt: &'a DeliveryRuntime,
    content: &'a Content,
    digest_id: i64,
    row: ClaimedDelivery,
}

impl One<'_> {
    /// Prepares the message (holding `preparing`), then takes an in-flight slot, sends it
    /// and records the outcome; the slot is held until the outcome is in the ledger. On
    /// shutdown before a slot is free the row is handed back, never started. Its lines
    /// carry the digest and the ledger row (never the address).
    #[tracing::instrument(name = "delivery", skip_all, fields(digest = self.digest_id, delivery = self.row.id))]
    async fn deliver(
        self,
        preparing: tokio::sync::OwnedSemaphorePermit,
        accepted: mpsc::UnboundedSender<Accepted>,
        shutdown: &Shutdown,
    ) {
        let prepared = match self.prepare().await {
            Ok(p) => p,
            Err((kind, error)) => {
                // Still holding `preparing`, so a stop waits for this record too.
                self.record_failure(kind, error).await;
                return drop(preparing);
            }
        };
        let slot = tokio::select! {
            biased;
            _ = shutdown.clone().wait() => None,
            s = self.rt.in_flight.clone().acquire_owned() => s.ok(),
        };
        let Some(slot) = slot else {
            hand_back(self.app, vec![self.row]).await;
            return drop(preparing);
        };
        drop(preparing);
        match self.app.mailer.deliver(&prepared).await {
            Ok(()) => {
                let (done, recorded) = oneshot::channel();
                if accepted.send((self.row.id, done)).is_ok() {
                    let _ = recorded.await;
                }
                self.rt.tally.sent.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => self.record_failure("refused", error).await,
        }
        drop(slot);
    }

    /// Builds, formats and (with DKIM) signs the message; on failure, what kind of
    /// failure and the error.
    async fn prepare(&self) -> Result<Prepared, (&'static str, SendError)> {
        let (app, content, row) = (self.app, self.content, &self.row);
        let to = EmailAddress::parse(&row.email).map_err(|e| {
            (
                "invalid address",
                SendError::Permanent(format!("invalid address: {e}")),
            )
        })?;
        let (subject, copy) = content.copy_for(row.subscriber_id, row.name.as_deref());
        let email = EncodedEmail {
            head: Head {
                to,
                to_name: row.name.clone(),
                subject: subject.to_owned(),
                // The body's own unsubscribe link, not a second signature.
                unsubscribe: Some(content.links().list_unsubscribe(copy.links.unsubscribe)),
            },
            html_qp: copy.html_qp,
            text_qp: copy.text_qp,
        };
        // The envelope sender names this delivery, so a later bounce finds its row.
        let bounce_ref = crate::bounces::BounceRef::Delivery {
            digest_id: self.digest_id,
            subscriber_id: row.subscriber_id,
        };
        let return_path = crate::bounces::return_path(app, bounce_ref);
        let message = email
            .into_message(&app.identity, return_path.as_ref())
            .map_err(|e| ("unbuildable", SendError::Permanent(e.to_string())))?;
        app.mailer
            .prepare(message)
            .await
            .map_err(|e| ("unsigned", e))
    }

    async fn record_failure(&self, kind: &'static str, error: SendError) {
        if let Err(e) = record_failure(self.app, self.rt, kind, &self.row, error).await {
            // The row stays `sending` under our name; its lease brings it back.
            tracing::warn!(error = %e, "cannot record a failed delivery");
        }
    }
}

/// Commits acceptances in groups: whatever arrived while the previous statement ran
/// goes into the next one. Each sender is told once its row is committed; a statement
/// that fails is retried, since the bound depends on these rows reaching the ledger.
async fn record_loop(app: App, mut to_record: mpsc::UnboundedReceiver<Accepted>) {
    let mut group: Vec<Accepted> = Vec::new();
    let mut ids: Vec<i64> = Vec::new();
    while let Some(first) = to_record.recv().await {
        group.push(first);
        while let Ok(more) = to_record.try_recv() {
            group.push(more);
        }
        ids.clear();
        ids.extend(group.iter().map(|(id, _)| *id));
        let mut failures = 0u32;
        while let Err(e) = app.store.mark_sent(&ids, app.now_ms()).await {
            failures += 1;
            if failures == 1 || failures.is_multiple_of(50) {
                tracing::warn!(error = %e, messages = ids.len(), "cannot record accepted messages; retrying");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        metrics::counter!(crate::ops::metric_names::MESSAGES_SENT).increment(ids.len() as u64);
        for (_, done) in group.drain(..) {
            let _ = done.send(());
        }
    }
}

/// The next chunk to send, digest by digest (oldest first): left-over rows first when
/// they are due a look, otherwise untouched rows and, once those ran out, left-over ones.
async fn claim_next(
    app: &App,
    rt: &DeliveryRuntime,
    state: &mut ClaimState,
) -> anyhow::Result<Option<(i64, Vec<ClaimedDelivery>)>> {
    if state
        .digests_read
        .is_none_or(|t| t.elapsed() >= DIGESTS_EVERY)
    {
        state.digests = app.store.sending_digest_ids().await?;
        state.digests_read = Some(Instant::now());
    }
    let look_at_left_over = state.left_over_checked.elapsed() >= LEFT_OVER_EVERY;
    if look_at_left_over {
        state.left_over_checked = Instant::now();
    }
    let limit = chunk_size(&app.config) as i64;
    let lease_ms = (app.config.queue.lease_secs.max(1) * 1000) as i64;
    let digests = state.digests.clone();
    for digest_id in digests {
        let kinds: &[ClaimKind] = if look_at_left_over {
            &[ClaimKind::LeftOver, ClaimKind::Queued]
        } else {
            &[ClaimKind::Queued, ClaimKind::LeftOver]
        };
        for &kind in kinds {
            let claim = |after_id| {
                let now = app.now_ms();
                app.store.claim_deliveries(Claim {
                    kind,
                    digest_id,
                    owner: rt.owner(),
                    limit,
                    now,
                    lease_until: now + lease_ms,
                    after_id,
                })
            };
            let rows = match kind {
                ClaimKind::LeftOver => claim(0).await?,
                ClaimKind::Queued => {
                    if state
                        .queued_quiet_until
                        .get(&digest_id)
                        .is_some_and(|t| Instant::now() < *t)
                    {
                        continue;
                    }
                    let after = state.after.get(&digest_id).copied().unwrap_or(0);
                    let mut rows = claim(after).await?;
                    if rows.is_empty() && after > 0 {
                        // Rows behind the cursor: handed back, or waiting for their moment.
                        rows = claim(0).await?;
                    }
                    match rows.iter().map(|r| r.id).max() {
                        Some(last) => {
                            state.after.insert(digest_id, last);
                        }
                        None => {
                            state.after.remove(&digest_id);
                            let quiet = quiet_for(app, digest_id).await?;
                            state
                                .queued_quiet_until
                                .insert(digest_id, Instant::now() + quiet);
                        }
                    }
                    rows
                }
            };
            if !rows.is_empty() {
                state.claimed_since_idle = true;
                return Ok(Some((digest_id, rows)));
            }
        }
    }
    Ok(None)
}

/// How long a digest whose untouched rows gave nothing can be left alone: until the
/// earliest waiting row's moment, and no longer than [`QUEUED_RECHECK`] (rows handed
/// back by a stopping process become claimable without a moment).
async fn quiet_for(app: &App, digest_id: i64) -> anyhow::Result<Duration> {
    let now = app.now_ms();
    let next = app.store.next_queued_moment(digest_id, now).await?;
    Ok(match next {
        Some(at) => Duration::from_millis(at.saturating_sub(now).max(0) as u64).min(QUEUED_RECHECK),
        None => QUEUED_RECHECK,
    })
}

/// Nothing to claim: close the rows of subscribers who left (after a claim, then every
/// [`DEPARTED_EVERY`] while idle), finish digests that are done, and re-read the digests
/// next time.
async fn idle(app: &App, state: &mut ClaimState) {
    let close_departed = state.claimed_since_idle
        || state
            .departed_closed
            .is_none_or(|t| t.elapsed() >= DEPARTED_EVERY);
    if close_departed {
        state.claimed_since_idle = false;
        state.departed_closed = Some(Instant::now());
    }
    for &digest_id in &state.digests {
        let closed = async {
            if close_departed {
                app.store.fail_departed(digest_id, app.now_ms()).await?;
            }
            super::finish_if_done(app, digest_id).await
        };
        if let Err(e) = closed.await {
            tracing::warn!(digest = digest_id, error = %format!("{e:#}"), "cannot close a digest's send");
        }
    }
    state.digests_read = None;
}

/// Gives claimed rows that were never started back to the ledger, for anyone to take.
async fn hand_back(app: &App, rows: Vec<ClaimedDelivery>) {
    if rows.is_empty() {
        return;
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    match app.store.release_claimed(&ids, app.now_ms()).await {
        Ok(n) => tracing::debug!(rows = n, "handed back claimed deliveries"),
        Err(e) => {
            tracing::warn!(error = %e, rows = ids.len(), "cannot hand back claimed deliveries; they return when this process's heartbeat stops")
        }
    }
}

/// Sleeps for `d` unless shutdown comes first; true when it did.
async fn sleep_or_stop(d: Duration, shutdown: &Shutdown) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => false,
        _ = shutdown.clone().wait() => true,
    }
}

async fn record_failure(
    app: &App,
    rt: &DeliveryRuntime,
    kind: &'static str,
    row: &ClaimedDelivery,
    error: SendError,
) -> anyhow::Result<()> {
    let now = app.now_ms();
    let q = &app.config.queue;
    if error.is_slow_down() {
        rt.tally.slow_down.fetch_add(1, Ordering::Relaxed);
        rt.limiter.slow_down();
    }
    if error.is_permanent() {
        tracing::debug!(subscriber = row.subscriber_id, kind, error = %error, "delivery failed permanently");
        app.store
            .mark_failed(row.id, &error.to_string(), now)
            .await?;
        rt.tally.failed.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(crate::ops::metric_names::MESSAGES_FAILED).increment(1);
        return bounce(app, row.subscriber_id).await;
    }
    if row.attempts >= i64::from(q.max_delivery_attempts.max(1)) {
        tracing::debug!(subscriber = row.subscriber_id, attempts = row.attempts, error = %error, "delivery gave up after retries");
        let why = format!("gave up after {} attempts: {error}", row.attempts);
        app.store.mark_failed(row.id, &why, now).await?;
        rt.tally.failed.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(crate::ops::metric_names::MESSAGES_FAILED).increment(1);
        return Ok(());
    }
    let delay = backoff_ms(row.attempts as u32, q.retry_base_ms, q.retry_max_ms);
    tracing::debug!(subscriber = row.subscriber_id, attempts = row.attempts, retry_in_ms = delay, error = %error, "delivery will be retried");
    app.store
        .mark_retrying(row.id, &error.to_string(), now + delay as i64, now)
        .await?;
    rt.tally.retrying.fetch_add(1, Ordering::Relaxed);
    metrics::counter!(crate::ops::metric_names::MESSAGES_RETRIED).increment(1);
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

/// The [`DeliverBatch`](super::jobs::DeliverBatch) handler.
#[tracing::instrument(name = "job", skip_all, fields(kind = "batch", digest = job.digest_id, batch = job.batch_no))]
pub async fn deliver_batch(
    job: super::jobs::DeliverBatch,
    _app: apalis::prelude::Data<App>,
) -> Result<(), apalis::prelude::BoxDynError> {
    tracing::debug!(digest = job.digest_id, batch = job.batch_no, "batch ready");
    wake();
    Ok(())
}
