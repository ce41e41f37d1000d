//! `breakfast bounces …` and `digest status ID --failed`: who failed, bounced or
//! complained and why; the reports that could not be matched; a mailbox round now.

use clap::Subcommand;

use crate::{
    bounces::{IssueBounces, Thresholds},
    config::Config,
    store::bounces::BounceCounts,
};

#[derive(Debug, Subcommand)]
pub enum BouncesCommand {
    /// List stored reports that could not be read or matched, newest first.
    Unmatched {
        /// Include the ones already resolved.
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Read a stored unmatched report again (after its delivery exists, or a fix).
    Reprocess {
        /// The report's id (from `bounces unmatched`).
        id: i64,
    },
    /// Poll the bounce mailbox (bounces.imap_url) once now and print what was done.
    Poll,
    /// Send again an issue's deliveries that failed only because their retries ran out
    /// (temporary errors); permanent refusals, bounces and complaints are left alone.
    Retry {
        /// The digest's id.
        digest: i64,
    },
}

pub async fn run(command: BouncesCommand, config: Config) -> anyhow::Result<()> {
    let app = super::open(config).await?;
    let result = match command {
        BouncesCommand::Unmatched { all, json } => unmatched(&app, all, json).await,
        BouncesCommand::Reprocess { id } => {
            let handled = crate::bounces::reprocess(&app, id).await?;
            println!("report {id}: {handled:?}");
            Ok(())
        }
        BouncesCommand::Poll => poll(&app).await,
        BouncesCommand::Retry { digest } => {
            let r = crate::bounces::retry_transient_failures(&app, digest).await?;
            println!(
                "digest {digest}: {} deliveries in {} batch(es) queued again for the workers",
                r.deliveries, r.batches
            );
            Ok(())
        }
    };
    app.close().await;
    result
}

async fn unmatched(app: &crate::App, all: bool, json: bool) -> anyhow::Result<()> {
    let reports = app.store.unmatched_reports(!all, 1000).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
        return Ok(());
    }
    if reports.is_empty() {
        println!("no unmatched reports");
    }
    for r in reports {
        let state = r.resolution.as_deref().unwrap_or("open");
        println!(
            "{:>6}  {}  {:<14}  {}  [{}]",
            r.id,
            time(r.received_at),
            r.source,
            r.reason,
            state
        );
    }
    Ok(())
}

async fn poll(app: &crate::App) -> anyhow::Result<()> {
    if app.config.bounces.imap_url.is_empty() {
        anyhow::bail!("bounces.imap_url is not set");
    }
    let settings = crate::bounces::mailbox::parse_imap_url(app.config.bounces.imap_url.expose())?;
    let r = crate::bounces::mailbox::poll_once(app, &settings).await?;
    println!(
        "seen {}, applied {}, already done {}, no action {}, unmatched {}",
        r.seen, r.applied, r.already_done, r.no_action, r.unmatched
    );
    Ok(())
}

/// `digest status ID --failed [--json]`: every failed, bounced or complained delivery of
/// an issue with its reason and time, and the issue's bounce and complaint rates beside
/// the bulk-sender limits.
pub async fn failed(config: Config, id: i64, json: bool) -> anyhow::Result<()> {
    let app = super::open(config).await?;
    let result = async {
        let counts = app.store.digest_bounce_counts(id).await?;
        let failed = app.store.failed_deliveries(id).await?;
        let thresholds = Thresholds::from_config(&app.config.bounces);
        if json {
            let out = serde_json::json!({
                "digest_id": id,
                "counts": counts,
                "complaint_rate": counts.complaint_rate(),
                "hard_bounce_rate": counts.hard_bounce_rate(),
                "thresholds": thresholds,
                "deliveries": failed,
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
            return Ok(());
        }
        print!("{}", rates_report(&counts));
        print!("{}", limits_line(&thresholds));
        if failed.is_empty() {
            println!("no failed, bounced or complained deliveries");
        }
        for f in failed {
            println!(
                "{}  {:<32}  {:<9}  {}",
                time(f.at),
                f.email,
                f.outcome.as_deref().unwrap_or(f.state.as_str()),
                f.reason
            );
        }
        anyhow::Ok(())
    }
    .await;
    app.close().await;
    result
}

/// Counts and rates with the thresholds bulk senders are held to (the `--failed` header).
pub fn rates_report(c: &BounceCounts) -> String {
    format!(
        "sent {}; hard bounces {} ({:.2} %); soft bounces {}; complaints {} ({:.3} %; keep under 0.1 %, never 0.3 %)\n",
        c.sent,
        c.hard,
        c.hard_bounce_rate() * 100.0,
        c.soft,
        c.complaints,
        c.complaint_rate() * 100.0
    )
}

/// The issue's numbers as lines of plain `digest status`, aligned with its report.
pub fn status_lines(i: &IssueBounces, t: &Thresholds) -> String {
    let c = &i.counts;
    format!(
        "bounces    {} hard ({:.2} %), {} soft\ncomplaints {} ({:.3} %; keep under 0.1 %, never 0.3 %)\n{}",
        c.hard,
        i.hard_bounce_rate * 100.0,
        c.soft,
        c.complaints,
        i.complaint_rate * 100.0,
        limits_line(t)
    )
}

/// The configured auto-pause limits in one line, so the numbers above can be read
/// against what would stop the schedule.
pub fn limits_line(t: &Thresholds) -> String {
    let mut limits = Vec::new();
    if t.pause_complaint_rate > 0.0 {
        limits.push(format!(
            "complaint rate over {:.2} %",
            t.pause_complaint_rate * 100.0
        ));
    }
    if t.pause_hard_bounce_rate > 0.0 {
        limits.push(format!(
            "hard-bounce rate over {:.2} %",
            t.pause_hard_bounce_rate * 100.0
        ));
    }
    if limits.is_empty() {
        "pauses at  never (bounces.pause_complaint_rate and pause_hard_bounce_rate are 0)\n".into()
    } else {
        format!(
            "pauses at  {}, once {} are sent\n",
            limits.join(" or "),
            t.pause_min_sent
        )
    }
}

fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%SZ").to_string())
        .unwrap_or_else(|| ms.to_string())
}
