//! Feeds the publication is read from, and how their last fetch went.

use serde::Serialize;
use sqlx::AssertSqlSafe;

use super::{ConflictOnUnique, Store, StoreError, StoreResult, query};

/// A feed as stored. Times are epoch milliseconds.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Feed {
    pub id: i64,
    pub url: String,
    pub name: String,
    pub section: Option<String>,
    pub enabled: bool,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub last_fetched_at: Option<i64>,
    pub last_ok_at: Option<i64>,
    /// [`FeedStatus`] as text, or `None` before the first fetch.
    pub last_status: Option<String>,
    pub last_error: Option<String>,
    pub created_at: i64,
}

/// How the last fetch of a feed ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedStatus {
    Ok,
    NotModified,
    Error,
}

impl FeedStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FeedStatus::Ok => "ok",
            FeedStatus::NotModified => "not_modified",
            FeedStatus::Error => "error",
        }
    }
}

const FEED_COLUMNS: &str = "id, url, name, section, enabled, etag, last_modified, \
    last_fetched_at, last_ok_at, last_status, last_error, created_at";

/// Error messages come from remote servers and parsers; keep rows and list views sane.
const MAX_ERROR_CHARS: usize = 500;

impl Store {
    /// Adds a feed; a URL already present is a `Conflict`.
    pub async fn insert_feed(
        &self,
        url: &str,
        name: &str,
        section: Option<&str>,
        now: i64,
    ) -> StoreResult<Feed> {
        let sql = format!(
            "INSERT INTO feeds (url, name, section, created_at) VALUES ($1, $2, $3, $4) \
             RETURNING {FEED_COLUMNS}"
        );
        self.fetch_one(
            query(AssertSqlSafe(sql.as_str()))
                .bind(url)
                .bind(name)
                .bind(section)
                .bind(now),
        )
        .await
        .conflict_on_unique(|| format!("a feed with the URL {url} already exists"))
    }

    /// Adds a feed unless its URL is already known; returns whether it was added. Used for
    /// the config's starting set, which must not undo later edits made in the admin.
    pub async fn ensure_feed(
        &self,
        url: &str,
        name: &str,
        section: Option<&str>,
        now: i64,
    ) -> StoreResult<bool> {
        let added = self
            .exec(
                query(
                    "INSERT INTO feeds (url, name, section, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (url) DO NOTHING",
                )
                .bind(url)
                .bind(name)
                .bind(section)
                .bind(now),
            )
            .await?;
        Ok(added == 1)
    }

    pub async fn feed(&self, id: i64) -> StoreResult<Feed> {
        let sql = format!("SELECT {FEED_COLUMNS} FROM feeds WHERE id = $1");
        let row: Option<Feed> = self
            .fetch_optional(query(AssertSqlSafe(sql.as_str())).bind(id))
            .await?;
        row.ok_or(StoreError::NotFound)
    }

    /// Every feed, oldest first.
    pub async fn feeds(&self) -> StoreResult<Vec<Feed>> {
        let sql = format!("SELECT {FEED_COLUMNS} FROM feeds ORDER BY id");
        self.fetch_all(query(AssertSqlSafe(sql.as_str()))).await
    }

    pub async fn enabled_feeds(&self) -> StoreResult<Vec<Feed>> {
        let sql = format!("SELECT {FEED_COLUMNS} FROM feeds WHERE enabled ORDER BY id");
        self.fetch_all(query(AssertSqlSafe(sql.as_str()))).await
    }

    /// Changes what editors see and where the feed's articles are grouped.
    pub async fn update_feed(
        &self,
        id: i64,
        name: &str,
        section: Option<&str>,
        enabled: bool,
    ) -> StoreResult<Feed> {
        self.exec_found(
            query("UPDATE feeds SET name = $2, section = $3, enabled = $4 WHERE id = $1")
                .bind(id)
                .bind(name)
                .bind(section)
                .bind(enabled),
        )
        .await?;
        self.feed(id).await
    }

    /// Removes a feed and its articles (and so their places in unsent digests).
    pub async fn delete_feed(&self, id: i64) -> StoreResult<()> {
        self.exec_found(query("DELETE FROM feeds WHERE id = $1").bind(id))
            .await?;
        Ok(())
    }

    /// A fetch that brought a feed body: keep the validators for the next conditional GET.
    pub async fn record_feed_fetched(
        &self,
        id: i64,
        etag: Option<&str>,
        last_modified: Option<&str>,
        now: i64,
    ) -> StoreResult<()> {
        self.exec(query(
            "UPDATE feeds SET etag = $2, last_modified = $3, last_fetched_at = $4, last_ok_at = $4, \
             last_status = $5, last_error = NULL WHERE id = $1",
        )
        .bind(id)
        .bind(etag)
        .bind(last_modified)
        .bind(now)
        .bind(FeedStatus::Ok.as_str())).await?;
        Ok(())
    }

    /// The server answered 304: the feed is healthy and unchanged.
    pub async fn record_feed_not_modified(&self, id: i64, now: i64) -> StoreResult<()> {
        self.exec(query(
            "UPDATE feeds SET last_fetched_at = $2, last_ok_at = $2, last_status = $3, last_error = NULL \
             WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .bind(FeedStatus::NotModified.as_str())).await?;
        Ok(())
    }

    /// The fetch or parse failed; the validators stay, so the next try is still conditional.
    pub async fn record_feed_error(&self, id: i64, error: &str, now: i64) -> StoreResult<()> {
        let error: String = error.chars().take(MAX_ERROR_CHARS).collect();
        self.exec(query(
            "UPDATE feeds SET last_fetched_at = $2, last_status = $3, last_error = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .bind(FeedStatus::Error.as_str())
        .bind(error)).await?;
        Ok(())
    }
}
