//! The service's shared context: configuration, store, queue, mailer, signer, clock.

use std::{ops::Deref, sync::Arc};

use crate::{
    config::{Config, Secret},
    domain::{Clock, TokenSigner, token::random_secret},
    mail::{MailIdentity, Mailer},
    queue::Queue,
    store::Store,
};

/// Cheap to clone; handed to every web handler and job.
#[derive(Clone)]
pub struct App(Arc<AppInner>);

pub struct AppInner {
    pub config: Config,
    pub store: Store,
    pub queue: Queue,
    pub mailer: Mailer,
    pub identity: MailIdentity,
    pub signer: TokenSigner,
    pub clock: Clock,
    /// The publication's look and copy ([`crate::brand::look`]; loaded by `service::open`).
    pub look: crate::brand::look::LookCache,
}

impl Deref for App {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

/// Key under which a generated secret is kept, so that links in emails already sent keep
/// working after a restart and every process of a cluster signs alike.
const SECRET_SETTING: &str = "signing_secret";

impl App {
    /// Opens the database, applies migrations, sets up the queue and the mail transport.
    /// Processes start through [`crate::service::open`], which installs the metrics
    /// recorder first; opening an `App` alone records nothing process-wide.
    pub async fn open(config: Config, clock: Clock) -> anyhow::Result<App> {
        let store = Store::connect(config.database_url.expose()).await?;
        store
            .migrate()
            .await
            .map_err(|e| anyhow::anyhow!("cannot apply database migrations: {e}"))?;
        let queue = Queue::connect(&config).await?;
        // Our indexes on apalis's table can only exist once apalis has created it.
        if let Err(e) = store.ensure_queue_indexes().await {
            tracing::warn!(error = %e, "cannot create the queue dashboard's index; its page may be slow");
        }
        let mailer = Mailer::from_config(&config)?;
        let identity = MailIdentity::from_config(&config)?;
        let secret = resolve_secret(&config, &store).await?;
        let signer = TokenSigner::new(&secret);
        let app = App(Arc::new(AppInner {
            config,
            store,
            queue,
            mailer,
            identity,
            signer,
            clock,
            look: Default::default(),
        }));
        Ok(app)
    }

    /// An absolute URL for `path_and_query` under the configured base URL.
    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{}", self.config.base(), path_and_query)
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub async fn close(&self) {
        self.queue.close().await;
        self.store.close().await;
    }
}

/// The configured secret, or the one generated and stored on first start.
async fn resolve_secret(config: &Config, store: &Store) -> anyhow::Result<Secret> {
    if !config.secret.is_empty() {
        if config.secret.expose().len() < 16 {
            anyhow::bail!(
                "secret is too short: use at least 16 characters (or leave it empty to generate one)"
            );
        }
        return Ok(config.secret.clone());
    }
    let stored = store
        .setting_or_insert(SECRET_SETTING, &random_secret())
        .await?;
    Ok(Secret::new(stored))
}
