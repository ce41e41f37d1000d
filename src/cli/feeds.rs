//! `breakfast feeds …`: the feeds articles come from, and fetching them by hand.

use chrono::{DateTime, Utc};
use clap::Subcommand;

use crate::{
    app::App,
    config::Config,
    feeds::ingest::{self, FeedResult},
    store::{StoreError, feeds::Feed},
};

#[derive(Debug, Subcommand)]
pub enum FeedsCommand {
    /// Fetch every enabled feed now (or one, with --id) and store new and edited articles.
    ///
    /// Exits with an error when any feed failed; each feed's outcome is printed, and the
    /// error is also kept on the feed for `feeds list` and the admin.
    Fetch {
        /// Only this feed (even if disabled).
        #[arg(long, value_name = "ID")]
        id: Option<i64>,
    },
    /// List feeds with the outcome of their last fetch.
    List,
    /// Add a feed: RSS, Atom or JSON Feed, over http(s) or a file:// path.
    Add {
        url: String,
        /// Shown to editors.
        #[arg(long)]
        name: String,
        /// The digest section its articles appear under (see digest.section_order).
        #[arg(long)]
        section: Option<String>,
    },
    /// Remove a feed and its articles.
    Remove { id: i64 },
}

pub async fn run(command: FeedsCommand, config: Config) -> anyhow::Result<()> {
    let app = super::open(config).await?;
    let result = run_with(&app, command).await;
    app.close().await;
    result
}

async fn run_with(app: &App, command: FeedsCommand) -> anyhow::Result<()> {
    ingest::sync_config_feeds(app).await?;
    match command {
        FeedsCommand::Fetch { id } => fetch(app, id).await,
        FeedsCommand::List => list(app).await,
        FeedsCommand::Add { url, name, section } => add(app, &url, &name, section).await,
        FeedsCommand::Remove { id } => remove(app, id).await,
    }
}

async fn fetch(app: &App, id: Option<i64>) -> anyhow::Result<()> {
    let reports = match id {
        Some(id) => vec![ingest::fetch_one(app, id).await.map_err(not_found(id))?],
        None => ingest::fetch_all(app).await?,
    };
    if reports.is_empty() {
        println!("no feeds: add one with `breakfast feeds add URL --name NAME`");
        return Ok(());
    }
    for r in &reports {
        println!("{:>4}  {}: {}", r.feed_id, r.name, r.result);
    }
    let failed = reports
        .iter()
        .filter(|r| matches!(r.result, FeedResult::Failed(_)))
        .count();
    if failed > 0 {
        anyhow::bail!("{failed} of {} feeds failed", reports.len());
    }
    Ok(())
}

async fn list(app: &App) -> anyhow::Result<()> {
    let feeds = app.store.feeds().await?;
    if feeds.is_empty() {
        println!("no feeds: add one with `breakfast feeds add URL --name NAME`");
    }
    for feed in &feeds {
        println!("{}", describe(feed));
    }
    Ok(())
}

/// One feed in a few lines: id, name, section, URL, then how its last fetch went.
fn describe(feed: &Feed) -> String {
    let mut out = format!("{:>4}  {}", feed.id, feed.name);
    if let Some(section) = &feed.section {
        out.push_str(&format!("  [{section}]"));
    }
    if !feed.enabled {
        out.push_str("  (disabled)");
    }
    out.push_str(&format!("\n      {}", ingest::redacted_url(&feed.url)));
    let status = match feed.last_status.as_deref() {
        None => "never fetched".to_owned(),
        Some(status) => format!(
            "last fetch {} ({}); last success {}",
            when(feed.last_fetched_at),
            status.replace('_', " "),
            when(feed.last_ok_at)
        ),
    };
    out.push_str(&format!("\n      {status}"));
    if let Some(error) = feed
        .last_error
        .as_deref()
        .filter(|_| feed.last_status.as_deref() == Some("error"))
    {
        out.push_str(&format!("\n      error: {error}"));
    }
    out
}

fn when(ms: Option<i64>) -> String {
    ms.and_then(DateTime::<Utc>::from_timestamp_millis)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "never".into())
}

async fn add(app: &App, url: &str, name: &str, section: Option<String>) -> anyhow::Result<()> {
    let url = check_url(url)?;
    let name = name.trim();
    if name.is_empty() {
        anyhow::bail!("--name must not be empty");
    }
    let section = section.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let feed = match app
        .store
        .insert_feed(&url, name, section, app.now_ms())
        .await
    {
        Err(StoreError::Conflict(why)) => anyhow::bail!("{why}"),
        other => other?,
    };
    println!(
        "added feed {}: {} ({})",
        feed.id,
        feed.name,
        ingest::redacted_url(&feed.url)
    );
    println!("fetch it now with `breakfast feeds fetch --id {}`", feed.id);
    Ok(())
}

/// Only schemes the fetcher can read; a typo is reported now rather than at the first
/// fetch.
fn check_url(raw: &str) -> anyhow::Result<String> {
    let url = url::Url::parse(raw.trim())
        .map_err(|e| anyhow::anyhow!("{raw:?} is not a URL ({e}); use http(s)://… or file:///…"))?;
    match url.scheme() {
        "http" | "https" | "file" => Ok(url.to_string()),
        other => anyhow::bail!("unsupported URL scheme {other:?}: use http, https or file"),
    }
}

async fn remove(app: &App, id: i64) -> anyhow::Result<()> {
    let feed = app.store.feed(id).await.map_err(not_found(id))?;
    app.store.delete_feed(id).await.map_err(not_found(id))?;
    println!("removed feed {id} and its articles");
    if app.config.feeds.iter().any(|f| f.url.trim() == feed.url) {
        println!(
            "note: this feed is listed in the configuration file ([[feeds]]) and comes back \
             at the next start unless you remove it there too"
        );
    }
    Ok(())
}

fn not_found<E: Into<anyhow::Error>>(id: i64) -> impl FnOnce(E) -> anyhow::Error {
    move |e| {
        let e: anyhow::Error = e.into();
        match e.downcast_ref::<StoreError>() {
            Some(StoreError::NotFound) => anyhow::anyhow!("there is no feed {id}"),
            _ => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        assert!(check_url("https://x.example/feed").is_ok());
        assert!(check_url("file:///tmp/feed.xml").is_ok());
        assert!(check_url("ftp://x.example/feed").is_err());
        assert!(check_url("not a url").is_err());
    }
}
