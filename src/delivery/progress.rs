//! Following a send: the numbers `digest status` prints and `digest send --wait` watches.

use std::time::Duration;

use crate::{
    app::App,
    domain::clock::from_ms,
    store::{deliveries::DeliveryProgress, digests::DigestStatus},
};

/// Whether the send is still going: the digest's status, decoded.
pub fn is_sending(p: &DeliveryProgress) -> bool {
    p.status == DigestStatus::Sending
}

pub async fn progress(app: &App, digest_id: i64) -> anyhow::Result<DeliveryProgress> {
    app.store
        .delivery_progress(digest_id, app.now_ms())
        .await
        .map_err(|e| match e {
            crate::store::StoreError::NotFound => anyhow::anyhow!("no digest with id {digest_id}"),
            e => e.into(),
        })
}

/// One human-readable line.
pub fn summary_line(p: &DeliveryProgress) -> String {
    format!(
        "digest {} ({}): {} — {} recipients: {} sent, {} queued, {} sending, {} retrying, {} failed; {:.0} msg/s",
        p.digest_id,
        p.issue_date,
        p.status,
        p.recipients.map_or("?".into(), |r| r.to_string()),
        p.sent,
        p.queued,
        p.sending,
        p.retrying,
        p.failed,
        p.rate_per_second
    )
}

/// The full report of `breakfast digest status`.
pub fn report(p: &DeliveryProgress) -> String {
    let time = |t: Option<i64>| t.map_or("-".into(), |ms| from_ms(ms).to_rfc3339());
    format!(
        "digest     {}\nissue date {}\nstatus     {}\nrecipients {}\nsent       {}\nqueued     {}\nsending    {}\nretrying   {}\nfailed     {}\nstarted    {}\nfinished   {}\nrate       {:.1} msg/s\n",
        p.digest_id,
        p.issue_date,
        p.status,
        p.recipients.map_or("-".into(), |r| r.to_string()),
        p.sent,
        p.queued,
        p.sending,
        p.retrying,
        p.failed,
        time(p.send_started_at),
        time(p.send_finished_at),
        p.rate_per_second
    )
}

/// Polls until the digest is finished (or no longer sending), calling `on_tick` with
/// each reading.
pub async fn wait_until_finished(
    app: &App,
    digest_id: i64,
    every: Duration,
    mut on_tick: impl FnMut(&DeliveryProgress),
) -> anyhow::Result<DeliveryProgress> {
    loop {
        let p = progress(app, digest_id).await?;
        on_tick(&p);
        if !is_sending(&p) {
            return Ok(p);
        }
        tokio::time::sleep(every).await;
    }
}
