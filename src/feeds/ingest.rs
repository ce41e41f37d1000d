//! Connects fetching and parsing to the store: the config's feeds become rows, each
//! feed is fetched conditionally, and its articles are upserted without duplicates.
//!
//! A feed that fails (down, slow, 404, an HTML page, broken XML) is recorded on its row
//! with the reason and the round carries on with the others: one publisher's outage
//! must never stop the digest.

use std::time::Duration;

use futures::StreamExt;
use url::Url;

use super::{
    FetchLimits, FetchOutcome, ParseOptions, ParsedArticle, Validators, fetch_feed, http_client,
    parse_feed,
};
use crate::{
    app::App,
    shutdown::{Shutdown, every},
    store::{
        articles::{NewArticle, Upserted},
        feeds::Feed,
    },
};

/// Feeds fetched at once: enough that one slow feed does not hold up the rest, few
/// enough to stay polite and keep the database writer uncontended.
const CONCURRENT_FETCHES: usize = 4;

/// What one feed's fetch did, for `breakfast feeds fetch` and the logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedReport {
    pub feed_id: i64,
    pub name: String,
    pub result: FeedResult,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedResult {
    /// The server (or file) said nothing changed.
    NotModified,
    Fetched {
        new: usize,
        updated: usize,
        unchanged: usize,
        /// Entries left out: no link and no title, no date, or repeated in the feed.
        skipped: usize,
    },
    Failed(String),
}

impl std::fmt::Display for FeedResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FeedResult::NotModified => f.write_str("not modified"),
            FeedResult::Fetched {
                new,
                updated,
                unchanged,
                skipped,
            } => write!(
                f,
                "{new} new, {updated} updated, {unchanged} unchanged, {skipped} skipped"
            ),
            FeedResult::Failed(e) => write!(f, "failed: {e}"),
        }
    }
}

/// Adds the feeds named in the config that the database does not know yet; returns how
/// many were added. Feeds edited or removed in the admin stay as the admin left them,
/// except that a removed config feed comes back at the next start.
pub async fn sync_config_feeds(app: &App) -> anyhow::Result<usize> {
    // A mapping to an unknown section is refused before anything is added.
    check_category_sections(app).await?;
    let now = app.now_ms();
    // Looking first keeps ids dense: a conflicting insert still uses up a sequence
    // number in both databases, and operators type these ids.
    let known: std::collections::HashSet<String> = app
        .store
        .feeds()
        .await?
        .into_iter()
        .map(|f| f.url)
        .collect();
    let mut added = 0;
    for feed in &app.config.feeds {
        if known.contains(feed.url.trim()) {
            continue;
        }
        let section = feed.section.as_deref().filter(|s| !s.trim().is_empty());
        if app
            .store
            .ensure_feed(feed.url.trim(), feed.name.trim(), section, now)
            .await?
        {
            tracing::info!(url = %redacted_url(&feed.url), "feed from the configuration added");
            added += 1;
        }
    }
    Ok(added)
}

/// Checks `digest.category_sections` against every section known, the stored feeds'
/// included: with no `section_order` and no configured feed sections, the configuration
/// alone cannot tell a typo ("Sprot") from a section, but the feeds editors set up in the
/// admin can. The error names the mapping and the section.
pub async fn check_category_sections(app: &App) -> anyhow::Result<()> {
    if app.config.digest.category_sections.is_empty() {
        return Ok(());
    }
    let stored: Vec<String> = app
        .store
        .feeds()
        .await?
        .into_iter()
        .filter_map(|f| f.section)
        .collect();
    app.config.check_category_sections_with(&stored)?;
    Ok(())
}

/// Fetches every enabled feed once.
pub async fn fetch_all(app: &App) -> anyhow::Result<Vec<FeedReport>> {
    let feeds = app.store.enabled_feeds().await?;
    let client = client(app)?;
    let reports = futures::stream::iter(feeds)
        .map(|feed| {
            let client = client.clone();
            async move { ingest_feed(app, &client, &feed).await }
        })
        .buffer_unordered(CONCURRENT_FETCHES)
        .collect::<Vec<_>>()
        .await;
    let mut reports = reports;
    reports.sort_by_key(|r| r.feed_id);
    Ok(reports)
}

/// Fetches one feed now, whether or not it is enabled.
pub async fn fetch_one(app: &App, feed_id: i64) -> anyhow::Result<FeedReport> {
    let feed = app.store.feed(feed_id).await?;
    Ok(ingest_feed(app, &client(app)?, &feed).await)
}

/// The `serve` process's poller: adds the config's feeds, then fetches every feed each
/// `ingest.poll_minutes` (the first round at once). `None` when polling is off (0).
pub fn spawn_polling(app: &App, shutdown: &Shutdown) -> Option<tokio::task::JoinHandle<()>> {
    let minutes = app.config.ingest.poll_minutes;
    if minutes == 0 {
        tracing::info!("feed polling is off (ingest.poll_minutes = 0)");
        return None;
    }
    let app = app.clone();
    let mut first = true;
    Some(every(
        "feed polling",
        Duration::from_secs(minutes * 60),
        shutdown.clone(),
        move || {
            let app = app.clone();
            let sync = std::mem::take(&mut first);
            async move {
                if sync {
                    sync_config_feeds(&app).await?;
                }
                fetch_all(&app).await.map(drop)
            }
        },
    ))
}

pub(crate) fn limits(app: &App) -> FetchLimits {
    let ingest = &app.config.ingest;
    FetchLimits {
        timeout: Duration::from_secs(ingest.timeout_secs.max(1)),
        max_bytes: ingest.max_bytes,
        max_redirects: ingest.max_redirects,
        allow_private: super::fetch::AllowList::new(&ingest.allow_private),
    }
}

pub(crate) fn client(app: &App) -> anyhow::Result<reqwest::Client> {
    let agent = format!(
        "Breakfast/{} (+{})",
        env!("CARGO_PKG_VERSION"),
        app.config.base()
    );
    Ok(http_client(&limits(app), &agent)?)
}

/// Fetches, parses and stores one feed, recording the outcome on its row. Never fails:
/// whatever goes wrong becomes the feed's `last_error`.
async fn ingest_feed(app: &App, client: &reqwest::Client, feed: &Feed) -> FeedReport {
    let result = match fetch_and_store(app, client, feed).await {
        Ok(result) => result,
        Err(e) => FeedResult::Failed(e),
    };
    let now = app.now_ms();
    let recorded = match &result {
        FeedResult::NotModified => app.store.record_feed_not_modified(feed.id, now).await,
        FeedResult::Fetched { .. } => Ok(()),
        FeedResult::Failed(error) => {
            tracing::warn!(feed_id = feed.id, url = %redacted_url(&feed.url), %error, "feed fetch failed");
            app.store.record_feed_error(feed.id, error, now).await
        }
    };
    if let Err(e) = recorded {
        tracing::error!(feed_id = feed.id, error = %e, "could not record the feed's status");
    }
    if let FeedResult::Fetched { .. } = &result {
        tracing::info!(feed_id = feed.id, result = %result, "feed fetched");
    }
    FeedReport {
        feed_id: feed.id,
        name: feed.name.clone(),
        result,
    }
}

async fn fetch_and_store(
    app: &App,
    client: &reqwest::Client,
    feed: &Feed,
) -> Result<FeedResult, String> {
    let validators = Validators {
        etag: feed.etag.clone(),
        last_modified: feed.last_modified.clone(),
    };
    let outcome = fetch_feed(client, &feed.url, &validators, &limits(app))
        .await
        .map_err(|e| e.to_string())?;
    let (body, validators) = match outcome {
        FetchOutcome::NotModified => return Ok(FeedResult::NotModified),
        FetchOutcome::Fetched {
            body, validators, ..
        } => (body, validators),
    };
    let url = feed.url.clone();
    let opts = ParseOptions {
        summary_chars: app.config.digest.summary_chars.max(1),
        keep_undated: false,
    };
    // Parsing and sanitising megabytes of hostile markup is CPU work; keep it off the
    // threads that serve requests.
    let parsed = tokio::task::spawn_blocking(move || parse_feed(&body, &url, &opts))
        .await
        .map_err(|_| "the feed parser stopped unexpectedly".to_owned())?
        .map_err(|e| e.to_string())?;
    for skipped in &parsed.skipped {
        tracing::debug!(feed_id = feed.id, reason = %skipped.reason, "feed entry skipped");
    }
    let (mut new, mut updated, mut unchanged) = (0, 0, 0);
    let now = app.now_ms();
    for article in &parsed.entries {
        match store_article(app, feed, article, now).await {
            Ok(Upserted::New(_)) => new += 1,
            Ok(Upserted::Updated(_)) => updated += 1,
            Ok(Upserted::Unchanged) => unchanged += 1,
            Err(e) => return Err(format!("could not store an article: {e}")),
        }
    }
    app.store
        .record_feed_fetched(
            feed.id,
            validators.etag.as_deref(),
            validators.last_modified.as_deref(),
            now,
        )
        .await
        .map_err(|e| format!("could not record the fetch: {e}"))?;
    Ok(FeedResult::Fetched {
        new,
        updated,
        unchanged,
        skipped: parsed.skipped.len(),
    })
}

async fn store_article(
    app: &App,
    feed: &Feed,
    a: &ParsedArticle,
    now: i64,
) -> Result<Upserted, crate::store::StoreError> {
    let key = scoped_dedup_key(feed.id, &a.dedup_key);
    // A date in the future would keep an article at the top of every digest until then.
    let published_at = a
        .published_at
        .map_or(now, |d| d.timestamp_millis())
        .min(now);
    app.store
        .upsert_article(
            feed.id,
            &NewArticle {
                dedup_key: &key,
                guid: a.guid.as_deref(),
                link: a.link.as_deref(),
                title: &a.title,
                author: a.author.as_deref(),
                published_at,
                summary_html: &a.summary_html,
                summary_text: &a.summary_text,
                section: feed.section.as_deref(),
                categories: &a.categories,
                image_url: a.image_url.as_deref(),
            },
            now,
        )
        .await
}

/// A feed URL fit for logs and listings: a password in it (private feeds use
/// `https://user:password@…`) is replaced by `***`.
pub fn redacted_url(raw: &str) -> String {
    match Url::parse(raw.trim()) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => raw.to_owned(),
    }
}

/// Ids that are URIs (links, `tag:`, `urn:`) name an article wherever it appears, so
/// the same story in two of the publication's feeds is stored once. Bare ids such as
/// "123" only mean something inside their own feed and are scoped to it.
fn scoped_dedup_key(feed_id: i64, key: &str) -> String {
    let global =
        Url::parse(key).is_ok_and(|u| matches!(u.scheme(), "http" | "https" | "tag" | "urn"));
    if global {
        key.to_owned()
    } else {
        format!("feed:{feed_id}:{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_feed_urls_are_not_shown() {
        assert_eq!(
            redacted_url("https://me:hunter2@x.example/feed"),
            "https://me:***@x.example/feed"
        );
        assert_eq!(
            redacted_url("https://x.example/feed"),
            "https://x.example/feed"
        );
    }

    #[test]
    fn bare_ids_are_scoped_to_their_feed_and_uris_are_not() {
        assert_eq!(scoped_dedup_key(3, "123"), "feed:3:123");
        assert_eq!(
            scoped_dedup_key(3, "title:Hello|2026-03-06T00:00:00+00:00"),
            "feed:3:title:Hello|2026-03-06T00:00:00+00:00"
        );
        assert_eq!(
            scoped_dedup_key(3, "https://x.example/a"),
            "https://x.example/a"
        );
        assert_eq!(
            scoped_dedup_key(3, "tag:x.example,2026:1"),
            "tag:x.example,2026:1"
        );
    }
}
