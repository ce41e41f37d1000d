//! Articles pulled from the feeds, one row per article however often it is fetched.

use serde::Serialize;
use sqlx::AssertSqlSafe;

use super::{Store, StoreError, StoreResult, query};

/// An article as stored. `summary_html` was sanitised before it was stored. Times are
/// epoch milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Article {
    pub id: i64,
    pub feed_id: i64,
    pub dedup_key: String,
    pub guid: Option<String>,
    pub link: Option<String>,
    pub title: String,
    pub author: Option<String>,
    pub published_at: i64,
    pub summary_html: String,
    pub summary_text: String,
    pub section: Option<String>,
    pub categories: Vec<String>,
    pub image_url: Option<String>,
    pub first_seen_at: i64,
    pub updated_at: i64,
}

#[derive(sqlx::FromRow)]
pub(crate) struct ArticleRow {
    id: i64,
    feed_id: i64,
    dedup_key: String,
    guid: Option<String>,
    link: Option<String>,
    title: String,
    author: Option<String>,
    published_at: i64,
    summary_html: String,
    summary_text: String,
    section: Option<String>,
    categories: String,
    image_url: Option<String>,
    first_seen_at: i64,
    updated_at: i64,
}

impl super::Decoded for Article {
    type Row = ArticleRow;
}

impl From<ArticleRow> for Article {
    fn from(r: ArticleRow) -> Self {
        Article {
            id: r.id,
            feed_id: r.feed_id,
            dedup_key: r.dedup_key,
            guid: r.guid,
            link: r.link,
            title: r.title,
            author: r.author,
            published_at: r.published_at,
            summary_html: r.summary_html,
            summary_text: r.summary_text,
            section: r.section,
            // A damaged list of categories is not worth failing a digest over.
            categories: serde_json::from_str(&r.categories).unwrap_or_default(),
            image_url: r.image_url,
            first_seen_at: r.first_seen_at,
            updated_at: r.updated_at,
        }
    }
}

const ARTICLE_COLUMNS: &str = "id, feed_id, dedup_key, guid, link, title, author, published_at, \
    summary_html, summary_text, section, categories, image_url, first_seen_at, updated_at";

/// The same columns read through the article's feed, so that the section is the feed's
/// current one (an editor who moves a feed to another section moves its articles too).
const ARTICLE_COLUMNS_VIA_FEED: &str = "a.id, a.feed_id, a.dedup_key, a.guid, a.link, a.title, \
    a.author, a.published_at, a.summary_html, a.summary_text, f.section, a.categories, \
    a.image_url, a.first_seen_at, a.updated_at";

/// An article as a feed currently describes it.
#[derive(Debug, Clone)]
pub struct NewArticle<'a> {
    pub dedup_key: &'a str,
    pub guid: Option<&'a str>,
    pub link: Option<&'a str>,
    pub title: &'a str,
    pub author: Option<&'a str>,
    pub published_at: i64,
    pub summary_html: &'a str,
    pub summary_text: &'a str,
    pub section: Option<&'a str>,
    pub categories: &'a [String],
    pub image_url: Option<&'a str>,
}

/// Which articles an issue takes: see [`Store::articles_in_window`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArticleWindow {
    pub after_id: i64,
    pub until_id: i64,
    pub seen_after: i64,
    pub backfill_ms: i64,
}

/// What an upsert did, so a fetch can report new and edited articles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    New(i64),
    Updated(i64),
    Unchanged,
}

impl Store {
    /// Records an article, or updates the stored one with the same `dedup_key` when the
    /// feed has edited it. The first publication time and the feed it came from are kept:
    /// an edit must not make an old article look new.
    pub async fn upsert_article(
        &self,
        feed_id: i64,
        a: &NewArticle<'_>,
        now: i64,
    ) -> StoreResult<Upserted> {
        let categories = serde_json::to_string(a.categories)
            .map_err(|e| StoreError::Corrupt(format!("categories: {e}")))?;
        let row: Option<(i64, i64)> = self.fetch_optional(query(
            "INSERT INTO articles (feed_id, dedup_key, guid, link, title, author, published_at, \
             summary_html, summary_text, section, categories, image_url, first_seen_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13) \
             ON CONFLICT (dedup_key) DO UPDATE SET guid = excluded.guid, link = excluded.link, \
             title = excluded.title, author = excluded.author, summary_html = excluded.summary_html, \
             summary_text = excluded.summary_text, section = excluded.section, \
             categories = excluded.categories, image_url = excluded.image_url, updated_at = excluded.updated_at \
             WHERE articles.link IS DISTINCT FROM excluded.link \
             OR articles.title IS DISTINCT FROM excluded.title \
             OR articles.author IS DISTINCT FROM excluded.author \
             OR articles.summary_html IS DISTINCT FROM excluded.summary_html \
             OR articles.section IS DISTINCT FROM excluded.section \
             OR articles.categories IS DISTINCT FROM excluded.categories \
             OR articles.image_url IS DISTINCT FROM excluded.image_url \
             RETURNING id, first_seen_at",
        )
        .bind(feed_id)
        .bind(a.dedup_key)
        .bind(a.guid)
        .bind(a.link)
        .bind(a.title)
        .bind(a.author)
        .bind(a.published_at)
        .bind(a.summary_html)
        .bind(a.summary_text)
        .bind(a.section)
        .bind(&categories)
        .bind(a.image_url)
        .bind(now)).await?;
        Ok(match row {
            Some((id, first_seen)) if first_seen == now => Upserted::New(id),
            Some((id, _)) => Upserted::Updated(id),
            None => Upserted::Unchanged,
        })
    }

    pub async fn article(&self, id: i64) -> StoreResult<Article> {
        let sql = format!("SELECT {ARTICLE_COLUMNS} FROM articles WHERE id = $1");
        self.decode_optional(query(AssertSqlSafe(sql.as_str())).bind(id))
            .await?
            .ok_or(StoreError::NotFound)
    }

    pub async fn article_by_dedup_key(&self, dedup_key: &str) -> StoreResult<Option<Article>> {
        let sql = format!("SELECT {ARTICLE_COLUMNS} FROM articles WHERE dedup_key = $1");
        self.decode_optional(query(AssertSqlSafe(sql.as_str())).bind(dedup_key))
            .await
    }

    /// Articles of enabled feeds published in `[since, until)`, newest first, at most
    /// `limit`: the digest's candidates.
    pub async fn articles_published_between(
        &self,
        since: i64,
        until: i64,
        limit: i64,
    ) -> StoreResult<Vec<Article>> {
        let sql = format!(
            "SELECT {ARTICLE_COLUMNS_VIA_FEED} FROM articles a JOIN feeds f ON f.id = a.feed_id \
             WHERE f.enabled AND a.published_at >= $1 AND a.published_at < $2 \
             ORDER BY a.published_at DESC, a.id DESC LIMIT $3"
        );
        self.decode_all(
            query(AssertSqlSafe(sql.as_str()))
                .bind(since)
                .bind(until)
                .bind(limit),
        )
        .await
    }

    /// The highest article id stored, read so that every article with an id up to it is
    /// committed and every article stored later gets a higher one: the end of an issue's
    /// window. A feed's articles are stamped before they are committed, so a window keyed
    /// on time would lose an article stamped before a composition's read and committed
    /// after it (another fetch in flight: the poll, "Fetch now", another process). Ids do
    /// not have that gap once no insert is in flight: on SQLite the transaction begins
    /// `IMMEDIATE`, so it waits for the one writer; on PostgreSQL `SHARE` mode waits for
    /// every transaction that is writing `articles` (an insert takes its id only after it
    /// holds its lock), and holds new ones back for the one read.
    pub async fn article_window_mark(&self) -> StoreResult<i64> {
        let tx = self.begin().await?;
        if tx.is_postgres() {
            tx.exec(query("LOCK TABLE articles IN SHARE MODE")).await?;
        }
        let mark: Option<i64> = tx.scalar(query("SELECT MAX(id) FROM articles")).await?;
        tx.commit().await?;
        Ok(mark.unwrap_or(0))
    }

    /// The window of an edition: articles of enabled feeds with an id in
    /// `(window.after_id, window.until_id]` (after what the previous issue of the same
    /// readers could see, up to this one's [`Store::article_window_mark`]) and first seen
    /// after `window.seen_after` (the first issue's look-back, or the composition time of
    /// a previous issue stored before marks existed), newest first, at most `limit`. An
    /// article that was already older than `window.backfill_ms` when first seen (a new
    /// feed's back catalogue) is not news and is left out. Keyed on arrival, not on the
    /// feed's own date, so an article the feed back-dates or that is fetched late still
    /// lands in the next issue.
    pub async fn articles_in_window(
        &self,
        window: &ArticleWindow,
        limit: i64,
    ) -> StoreResult<Vec<Article>> {
        let sql = format!(
            "SELECT {ARTICLE_COLUMNS_VIA_FEED} FROM articles a JOIN feeds f ON f.id = a.feed_id \
             WHERE f.enabled AND a.id > $1 AND a.id <= $2 AND a.first_seen_at > $3 \
             AND a.published_at >= a.first_seen_at - $4 \
             ORDER BY a.published_at DESC, a.id DESC LIMIT $5"
        );
        self.decode_all(
            query(AssertSqlSafe(sql.as_str()))
                .bind(window.after_id)
                .bind(window.until_id)
                .bind(window.seen_after)
                .bind(window.backfill_ms)
                .bind(limit),
        )
        .await
    }

    /// The latest articles whatever their date, for the editor's list.
    pub async fn recent_articles(&self, limit: i64) -> StoreResult<Vec<Article>> {
        let sql = format!(
            "SELECT {ARTICLE_COLUMNS} FROM articles ORDER BY published_at DESC, id DESC LIMIT $1"
        );
        self.decode_all(query(AssertSqlSafe(sql.as_str())).bind(limit))
            .await
    }

    /// The articles with these ids, in no particular order; unknown ids are left out.
    pub async fn articles_by_ids(&self, ids: &[i64]) -> StoreResult<Vec<Article>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // Ids are integers we hold, so listing them in the statement is safe; both
        // dialects accept it, unlike array binds.
        let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        let sql = format!(
            "SELECT {ARTICLE_COLUMNS_VIA_FEED} FROM articles a JOIN feeds f ON f.id = a.feed_id \
             WHERE a.id IN ({list})"
        );
        self.decode_all(query(AssertSqlSafe(sql.as_str()))).await
    }

    pub async fn count_articles(&self) -> StoreResult<i64> {
        self.scalar(query("SELECT COUNT(*) FROM articles")).await
    }
}
