//! An editor's curation of one issue beyond the picks: per-issue overrides of an
//! article's headline, summary and image (the feed's text stays in `articles`), the
//! articles added to it by URL, and its announcement block.

use super::{Store, StoreResult, articles::NewArticle, query};

/// What an editor changed about an article for one issue; `None` keeps the feed's.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct ArticleOverride {
    pub article_id: i64,
    pub title: Option<String>,
    pub summary: Option<String>,
    pub image_url: Option<String>,
}

impl ArticleOverride {
    pub fn is_empty(&self) -> bool {
        self.title.is_none() && self.summary.is_none() && self.image_url.is_none()
    }
}

/// The short block an editor places between the articles of an issue.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct Announcement {
    /// Markdown (or plain text), as the editor wrote it.
    pub body: String,
    /// How many articles, in reading order, come before it.
    pub after_article: i64,
}

/// The feed row that articles added by URL hang from (disabled: never polled).
pub const ADDED_BY_URL_FEED: &str = "breakfast:added-by-url";

impl Store {
    pub async fn article_overrides(&self, digest_id: i64) -> StoreResult<Vec<ArticleOverride>> {
        self.fetch_all(
            query(
                "SELECT article_id, title, summary, image_url FROM digest_overrides \
             WHERE digest_id = $1 ORDER BY article_id",
            )
            .bind(digest_id),
        )
        .await
    }

    /// Stores the override, or forgets it when it overrides nothing.
    pub async fn set_article_override(
        &self,
        digest_id: i64,
        o: &ArticleOverride,
        now: i64,
    ) -> StoreResult<()> {
        if o.is_empty() {
            self.exec(
                query("DELETE FROM digest_overrides WHERE digest_id = $1 AND article_id = $2")
                    .bind(digest_id)
                    .bind(o.article_id),
            )
            .await?;
            return Ok(());
        }
        self.exec(query(
            "INSERT INTO digest_overrides (digest_id, article_id, title, summary, image_url, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (digest_id, article_id) DO UPDATE SET \
             title = excluded.title, summary = excluded.summary, image_url = excluded.image_url, \
             updated_at = excluded.updated_at",
        )
        .bind(digest_id)
        .bind(o.article_id)
        .bind(o.title.as_deref())
        .bind(o.summary.as_deref())
        .bind(o.image_url.as_deref())
        .bind(now)).await?;
        Ok(())
    }

    pub async fn announcement(&self, digest_id: i64) -> StoreResult<Option<Announcement>> {
        self.fetch_optional(query(
            "SELECT body, CAST(after_article AS BIGINT) AS after_article FROM digest_announcements \
             WHERE digest_id = $1",
        )
        .bind(digest_id)).await
    }

    /// Stores the announcement; an empty body removes it.
    pub async fn set_announcement(
        &self,
        digest_id: i64,
        a: &Announcement,
        now: i64,
    ) -> StoreResult<()> {
        if a.body.trim().is_empty() {
            self.exec(
                query("DELETE FROM digest_announcements WHERE digest_id = $1").bind(digest_id),
            )
            .await?;
            return Ok(());
        }
        self.exec(
            query(
                "INSERT INTO digest_announcements (digest_id, body, after_article, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (digest_id) DO UPDATE SET body = excluded.body, \
             after_article = excluded.after_article, updated_at = excluded.updated_at",
            )
            .bind(digest_id)
            .bind(&a.body)
            .bind(a.after_article as i32)
            .bind(now),
        )
        .await?;
        Ok(())
    }

    /// Ids of the articles added to this issue by URL, oldest addition first.
    pub async fn added_article_ids(&self, digest_id: i64) -> StoreResult<Vec<i64>> {
        self.scalars(
            query(
                "SELECT article_id FROM digest_added_articles WHERE digest_id = $1 \
             ORDER BY added_at, article_id",
            )
            .bind(digest_id),
        )
        .await
    }

    /// Stores an article read from a web page and adds it to the issue, in one
    /// transaction: either both are there or neither. The same URL added again updates
    /// the stored article (its dedup key is the URL). Returns the article's id.
    pub async fn add_article_to_digest(
        &self,
        digest_id: i64,
        a: &NewArticle<'_>,
        now: i64,
    ) -> StoreResult<i64> {
        let categories = "[]";
        Ok({
            let tx = self.begin().await?;
            let out = {
                tx.exec(query(
                "INSERT INTO feeds (url, name, enabled, created_at) VALUES ($1, 'Added by URL', FALSE, $2) \
                 ON CONFLICT (url) DO NOTHING",
            )
            .bind(ADDED_BY_URL_FEED)
            .bind(now)).await?;
                let feed_id: i64 = tx
                    .scalar(query("SELECT id FROM feeds WHERE url = $1").bind(ADDED_BY_URL_FEED))
                    .await?;
                let id: i64 = tx.scalar(query(
                "INSERT INTO articles (feed_id, dedup_key, guid, link, title, author, published_at, \
                 summary_html, summary_text, section, categories, image_url, first_seen_at, updated_at) \
                 VALUES ($1, $2, NULL, $3, $4, NULL, $5, $6, $7, NULL, $8, $9, $5, $5) \
                 ON CONFLICT (dedup_key) DO UPDATE SET title = excluded.title, \
                 summary_html = excluded.summary_html, summary_text = excluded.summary_text, \
                 image_url = excluded.image_url, updated_at = excluded.updated_at \
                 RETURNING id",
            )
            .bind(feed_id)
            .bind(a.dedup_key)
            .bind(a.link)
            .bind(a.title)
            .bind(now)
            .bind(a.summary_html)
            .bind(a.summary_text)
            .bind(categories)
            .bind(a.image_url)).await?;
                tx.exec(query(
                "INSERT INTO digest_added_articles (digest_id, article_id, added_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (digest_id, article_id) DO NOTHING",
            )
            .bind(digest_id)
            .bind(id)
            .bind(now)).await?;
                // Dropped earlier? Adding it again means the editor wants it.
                tx.exec(query(
                "UPDATE digest_picks SET dropped = FALSE WHERE digest_id = $1 AND article_id = $2",
            )
            .bind(digest_id)
            .bind(id)).await?;
                id
            };
            tx.commit().await?;
            out
        })
    }
}
