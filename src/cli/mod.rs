//! The `breakfast` command line.

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

pub mod bounces;
pub mod digest;
mod dkim;
mod doctor;
pub mod feeds;
mod preview;
mod send;

pub mod queue_cmd;
pub mod subscribers;
pub mod users;

use crate::{
    app::App,
    config::{Config, LogFormat},
    domain::Clock,
    service, telemetry,
};

#[derive(Debug, Parser)]
#[command(
    name = "breakfast",
    version,
    about = "Breakfast: a self-hosted newsletter service for a publication's daily digest",
    long_about = "Breakfast pulls the latest articles from a publication's feeds, composes a daily \
                  digest email, and sends it to every confirmed subscriber.\n\n\
                  With no configuration it keeps everything in data/breakfast.db (SQLite) and \
                  writes emails to data/outbox/ instead of sending them."
)]
pub struct Cli {
    /// Configuration file (TOML) overriding the embedded defaults.
    #[arg(
        long,
        short,
        global = true,
        env = "BREAKFAST_CONFIG",
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,

    /// Log as JSON lines instead of human-readable text.
    #[arg(long, global = true)]
    pub log_json: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run everything in one process: web server, queue workers, scheduler, feed polling.
    Serve,
    /// Run queue workers and the scheduler only (scale out: several on one PostgreSQL).
    Worker,
    /// Apply database migrations and exit.
    Migrate,
    /// Work on a day's digest: preview it, send it, follow its delivery.
    #[command(subcommand)]
    Digest(digest::DigestCommand),
    /// The feeds articles come from: fetch now, list with their status, add, remove.
    #[command(subcommand)]
    Feeds(feeds::FeedsCommand),
    /// Look at the job queue and repair it: stats, failed, retry, purge.
    #[command(subcommand)]
    Queue(queue_cmd::QueueCommand),
    /// Import, export, list and count subscribers.
    #[command(subcommand)]
    Subscribers(subscribers::SubscribersCommand),
    /// Admin accounts (editors and operators) and their personal API tokens.
    #[command(subcommand)]
    Users(users::UsersCommand),
    /// Bounce and complaint reports: unmatched ones, re-processing, a mailbox round now.
    #[command(subcommand)]
    Bounces(bounces::BouncesCommand),
    /// DKIM signing keys: generate one and print the DNS record to publish.
    #[command(subcommand)]
    Dkim(dkim::DkimCommand),
    /// Check DNS (SPF, DKIM, DMARC, MX), settings and the SMTP relay; exit 1 on a problem.
    Doctor,
}

/// Parses arguments, loads configuration and runs the command; the exit code reflects
/// success, and every failure is one line on stderr naming the cause.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("breakfast: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let format = if cli.log_json {
        LogFormat::Json
    } else {
        config.log_format
    };
    telemetry::init(format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("breakfast: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("breakfast: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve => service::serve(config).await,
        Command::Worker => service::work(config).await,
        Command::Migrate => migrate(config).await,
        Command::Digest(command) => digest::run(command, config).await,
        Command::Feeds(command) => feeds::run(command, config).await,
        Command::Queue(command) => queue_cmd::run(command, config).await,
        Command::Subscribers(command) => subscribers::run(command, config).await,
        Command::Users(command) => users::run(command, config).await,
        Command::Bounces(command) => bounces::run(command, config).await,
        Command::Dkim(command) => dkim::run(command, config).await,
        Command::Doctor => doctor::run(config).await,
    }
}

/// Opens the app for a command that does its job and exits.
/// Every command opens the app through the composition root, on the system clock.
pub(crate) async fn open(config: Config) -> anyhow::Result<App> {
    service::open(config, Clock::for_process()).await
}

/// Kept at its old path for callers (tests) written before [`crate::service`] existed.
pub use crate::service::run_until_shutdown;

async fn migrate(config: Config) -> anyhow::Result<()> {
    let app = open(config).await?;
    let tables = app.store.table_names().await?;
    println!(
        "migrations applied; {} tables: {}",
        tables.len(),
        tables.join(", ")
    );
    app.close().await;
    Ok(())
}
