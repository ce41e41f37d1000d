//! `breakfast digest …`: the editor's and operator's commands for one day's digest.

use chrono::NaiveDate;
use clap::Subcommand;

use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum DigestCommand {
    /// Compose a day's digest and write its HTML and text without sending anything.
    ///
    /// The digest is stored as composed (editors see it in the admin); composing again,
    /// or sending, picks up articles fetched since. Without --out the text part (or, with
    /// --html, the HTML) goes to standard output.
    Preview {
        /// Issue date (YYYY-MM-DD); today in the schedule's time zone by default.
        #[arg(long, value_name = "DATE")]
        date: Option<NaiveDate>,
        /// Write preview.html and preview.txt into this folder (created if missing).
        #[arg(long, value_name = "DIR")]
        out: Option<std::path::PathBuf>,
        /// Without --out: print the HTML instead of the text.
        #[arg(long, conflicts_with = "out")]
        html: bool,
    },
    /// Compose (if not yet) and send a digest now; refused when it was already sent.
    ///
    /// Without --wait the send is queued for the workers of a running `breakfast serve`
    /// or `breakfast worker`. With --wait this command also runs workers itself and
    /// returns when every delivery is sent or failed, so it completes with or without a
    /// running server (both share the work safely).
    Send {
        /// Issue date (YYYY-MM-DD); today in the schedule's time zone by default.
        #[arg(long, value_name = "DATE")]
        date: Option<NaiveDate>,
        /// Send this stored digest (by id) instead of composing one for a date.
        #[arg(long, value_name = "ID", conflicts_with = "date")]
        digest: Option<i64>,
        /// Send one test copy to this address only; subscribers and the ledger are untouched.
        #[arg(long, value_name = "EMAIL")]
        to: Option<String>,
        /// Follow the send until it finishes (progress bar on a terminal, lines otherwise).
        #[arg(long)]
        wait: bool,
    },
    /// Show a digest's delivery progress: queued, sending, sent, retrying, failed, rate.
    Status {
        /// The digest's id.
        id: i64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// List every failed, bounced or complained delivery with its reason and time,
        /// and the bounce and complaint rates.
        #[arg(long)]
        failed: bool,
    },
}

pub async fn run(command: DigestCommand, config: Config) -> anyhow::Result<()> {
    match command {
        DigestCommand::Preview { date, out, html } => {
            super::preview::preview(config, super::preview::PreviewArgs { date, out, html }).await
        }
        DigestCommand::Send {
            date,
            digest,
            to,
            wait,
        } => {
            super::send::send(
                config,
                super::send::SendArgs {
                    date,
                    digest,
                    to,
                    wait,
                },
            )
            .await
        }
        DigestCommand::Status {
            id,
            json,
            failed: true,
        } => super::bounces::failed(config, id, json).await,
        DigestCommand::Status { id, json, .. } => super::send::status(config, id, json).await,
    }
}
