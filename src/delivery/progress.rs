//! Following a send: the numbers `digest status` prints and `digest send --wait` watches.

use std::time::Duration;

use crate::{
    app::App,
    domain::clock::from_ms,
    store::{
        deliveries::{DeliveryProgress, ZoneProgress},
        digests::DigestStatus,
    },
};
pub use templates::admin::digest::ZoneRow;

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

/// Whether the digest is still sending: its status alone, without counting the ledger
/// (a count reads every row of the digest: ~40 ms at 100 000 on PostgreSQL).
pub async fn still_sending(app: &App, digest_id: i64) -> anyhow::Result<bool> {
    match app.store.digest_status(digest_id).await {
        Ok(status) => Ok(status == DigestStatus::Sending),
        Err(crate::store::StoreError::NotFound) => anyhow::bail!("no digest with id {digest_id}"),
        Err(e) => Err(e.into()),
    }
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

/// Where a send in each reader's zone stands, zone by zone, earliest first (empty for
/// a send to everyone at one moment): for the dashboard and `digest status`.
pub async fn zone_rows(app: &App, digest_id: i64) -> anyhow::Result<Vec<ZoneRow>> {
    let now = app.now_ms();
    Ok(app
        .store
        .zone_progress(digest_id)
        .await?
        .iter()
        .map(|z| zone_row(z, now))
        .collect())
}

fn zone_row(z: &ZoneProgress, now: i64) -> ZoneRow {
    let when = match z.not_before {
        _ if z.waiting == 0 => "done".to_string(),
        Some(at) if at > now => {
            let utc = from_ms(at);
            let local = z
                .time_zone
                .parse::<chrono_tz::Tz>()
                .map(|tz| {
                    utc.with_timezone(&tz)
                        .format("%H:%M %Z, %a %-d %b")
                        .to_string()
                })
                .unwrap_or_default();
            format!("at {local} ({} UTC)", utc.format("%H:%M"))
        }
        _ => "going out now".to_string(),
    };
    ZoneRow {
        zone: z.time_zone.clone(),
        sent: z.sent,
        waiting: z.waiting,
        failed: z.failed,
        when,
    }
}

/// The per-zone lines of `breakfast digest status`, after its report.
pub fn zone_report(rows: &[ZoneRow]) -> String {
    let mut out = String::new();
    if rows.is_empty() {
        return out;
    }
    out.push_str(
        "by zone (each reader at the send time in their zone):
",
    );
    for r in rows {
        out.push_str(&format!(
            "  {:<32} {:>6} sent {:>6} waiting {:>4} failed  {}\n",
            r.zone, r.sent, r.waiting, r.failed, r.when
        ));
    }
    out
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
