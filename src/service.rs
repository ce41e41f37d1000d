//! The composition root: the one place that opens the service and starts its parts. The
//! CLI (and so `main`), the benchmarks and the tests all start the service through here,
//! so process-wide set-up (the metrics recorder) happens once, before anything records,
//! and every process runs the same parts the same way.

use crate::{app::App, config::Config, domain::Clock, queue, shutdown::Shutdown, tasks, web};

pub use crate::tasks::Role;

/// Installs the process's metrics recorder (the first call does; later ones reuse it),
/// checks the configured brand, then opens the app (database, migrations, queue, mail
/// transport, signing secret) and loads the publication's look.
pub async fn open(config: Config, clock: Clock) -> anyhow::Result<App> {
    // Before anything records a metric, or it would go nowhere.
    crate::ops::metrics::install();
    crate::brand::check_config(&config.brand).map_err(|e| anyhow::anyhow!("[brand] {e}"))?;
    let app = App::open(config, clock).await?;
    app.look.reload(&app).await;
    Ok(app)
}

/// `breakfast serve`: the web server, the workers and every periodic task.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let listener = web::bind(config.listen).await?;
    crate::doctor::warn_example_values(&config);
    let app = open(config, Clock::for_process()).await?;
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

/// `breakfast worker`: the workers and the periodic tasks of a worker process.
pub async fn work(config: Config) -> anyhow::Result<()> {
    crate::doctor::warn_example_values(&config);
    let app = open(config, Clock::for_process()).await?;
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
