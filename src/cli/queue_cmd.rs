//! `breakfast queue …`: the dashboard's numbers and actions from a terminal.
//!
//! (The file is not called `queue.rs` because `cli/mod.rs` already imports the
//! `crate::queue` module under that name.)

use clap::{Args, Subcommand};
use serde_json::json;

use crate::{
    config::Config,
    ops::metrics::{known_job_kinds, now_secs},
    queue::stats::{JobFailure, KindStats},
    store::Store,
};

#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// Jobs per kind: waiting, running, done, retrying, dead, oldest wait, throughput.
    Stats {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The latest failed and dead jobs with their errors.
    Failed {
        /// How many to list.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// Send a failed or dead job back to the queue (or every one, with --all).
    Retry(RetryArgs),
    /// Delete done jobs older than an age (e.g. 30d, 12h).
    Purge {
        /// Age of the done jobs to delete: a number followed by d (days) or h (hours).
        #[arg(long, value_name = "AGE", value_parser = parse_age)]
        done_older_than: i64,
    },
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct RetryArgs {
    /// The job's id, as `queue failed` shows it.
    id: Option<String>,
    /// Retry every failed and dead job.
    #[arg(long)]
    all: bool,
}

/// Runs a queue command against the database alone: no workers, no mail transport, so
/// it works beside a running service and from another host.
pub async fn run(command: QueueCommand, config: Config) -> anyhow::Result<()> {
    let store = Store::connect(config.database_url.expose()).await?;
    let result = execute(&store, command).await;
    store.close().await;
    result
}

async fn execute(store: &Store, command: QueueCommand) -> anyhow::Result<()> {
    match command {
        QueueCommand::Stats { json } => {
            let stats = store.queue_stats(&known_job_kinds(), now_secs()).await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({ "kinds": stats }))?
                );
            } else {
                print!("{}", stats_table(&stats));
            }
        }
        QueueCommand::Failed { limit, json } => {
            let failures = store.job_failures(limit).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&failures)?);
            } else {
                print!("{}", failures_table(&failures));
            }
        }
        QueueCommand::Retry(RetryArgs { id: Some(id), .. }) => {
            if !store.retry_job(&id, now_secs()).await? {
                anyhow::bail!("no failed or dead job with id {id}");
            }
            println!("job {id} is queued again");
        }
        QueueCommand::Retry(RetryArgs { all, .. }) => {
            debug_assert!(all);
            let n = store.retry_failed_jobs(None, now_secs()).await?;
            println!("{n} failed or dead jobs queued again");
        }
        QueueCommand::Purge { done_older_than } => {
            let n = store.purge_done_jobs(now_secs() - done_older_than).await?;
            println!("{n} done jobs deleted");
        }
    }
    Ok(())
}

/// "30d", "12h", "90m" or a plain number of days, as seconds.
pub fn parse_age(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c),
        _ => (text, 'd'),
    };
    let n: i64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not an age: use e.g. 30d, 12h or 90m"))?;
    let unit_secs = match unit {
        'd' => 86_400,
        'h' => 3_600,
        'm' => 60,
        other => return Err(format!("unknown unit {other:?}: use d, h or m")),
    };
    if n < 0 {
        return Err("the age cannot be negative".into());
    }
    Ok(n * unit_secs)
}

fn stats_table(stats: &[KindStats]) -> String {
    let mut out = format!(
        "{:<24} {:>8} {:>8} {:>10} {:>9} {:>8} {:>12} {:>8} {:>8}\n",
        "KIND",
        "WAITING",
        "RUNNING",
        "DONE",
        "RETRYING",
        "DEAD",
        "OLDEST WAIT",
        "DONE/1M",
        "DONE/1H"
    );
    for k in stats {
        let oldest = k
            .oldest_waiting_secs
            .map_or_else(|| "-".to_string(), |s| format!("{s}s"));
        out.push_str(&format!(
            "{:<24} {:>8} {:>8} {:>10} {:>9} {:>8} {:>12} {:>8} {:>8}\n",
            k.kind,
            k.waiting,
            k.running,
            k.done,
            k.retrying,
            k.dead,
            oldest,
            k.done_last_minute,
            k.done_last_hour
        ));
    }
    out
}

fn failures_table(failures: &[JobFailure]) -> String {
    if failures.is_empty() {
        return "no failed jobs\n".into();
    }
    let mut out = String::new();
    for f in failures {
        let when = f
            .failed_at
            .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
            .map_or_else(
                || "-".into(),
                |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            );
        out.push_str(&format!(
            "{}  {}  {}  attempt {}/{}  {}\n    {}\n",
            f.id, f.kind, f.state, f.attempts, f.max_attempts, when, f.error
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::parse_age;

    #[test]
    fn ages_parse() {
        assert_eq!(parse_age("30d"), Ok(30 * 86_400));
        assert_eq!(parse_age("12h"), Ok(12 * 3_600));
        assert_eq!(parse_age("7"), Ok(7 * 86_400));
        assert!(parse_age("soon").is_err());
        assert!(parse_age("3w").is_err());
    }
}
