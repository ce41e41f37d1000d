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
    queue,
    shutdown::Shutdown,
    tasks::{self, Role},
    telemetry, web,
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
        Command::Serve => serve(config).await,
        Command::Worker => worker(config).await,
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
pub(crate) async fn open(config: Config) -> anyhow::Result<App> {
    App::open(config, Clock::for_process()).await
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let listener = web::bind(config.listen).await?;
    crate::doctor::warn_example_values(&config);
    let app = open(config).await?;
    let shutdown = Shutdown::on_signals();
    tracing::info!(
        listen = %app.config.listen,
        base_url = %app.config.base_url,
        mail = %app.mailer.describe(),
        database = if app.store.is_postgres() { "postgresql" } else { "sqlite" },
        "breakfast is serving"
    );
    run_until_shutdown(app, Role::Serve, shutdown, Some(listener)).await
}

async fn worker(config: Config) -> anyhow::Result<()> {
    crate::doctor::warn_example_values(&config);
    let app = open(config).await?;
    let shutdown = Shutdown::on_signals();
    tracing::info!(mail = %app.mailer.describe(), "breakfast worker started");
    run_until_shutdown(app, Role::Worker, shutdown, None).await
}

/// Runs the web server (when given a listener), the queue workers and the periodic tasks
/// until shutdown, then waits for each to finish what it was doing.
pub async fn run_until_shutdown(
    app: App,
    role: Role,
    shutdown: Shutdown,
    listener: Option<tokio::net::TcpListener>,
) -> anyhow::Result<()> {
    let loops = tasks::spawn_all(&app, role, &shutdown);
    let workers = queue::workers::run(app.clone(), shutdown.clone().wait());
    let result = match listener {
        Some(listener) => {
            let (w, q) = tokio::join!(web::serve(app.clone(), listener, shutdown.clone()), workers);
            w.and(q)
        }
        None => workers.await,
    };
    for handle in loops {
        let _ = handle.await;
    }
    app.close().await;
    tracing::info!("stopped");
    result
}

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
