//! Read-only queries that only the admin pages need.

use sqlx::AssertSqlSafe;

use super::{Store, StoreResult, on_db, subscribers::Subscriber};

impl Store {
    /// Subscribers whose address contains `fragment` (any case), newest first.
    pub async fn search_subscribers_by_email(
        &self,
        fragment: &str,
        limit: i64,
    ) -> StoreResult<Vec<Subscriber>> {
        let escaped = fragment
            .trim()
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let pattern = format!("%{escaped}%");
        let ids: Vec<i64> = on_db!(self, pool => sqlx::query_scalar(AssertSqlSafe(
            "SELECT id FROM subscribers WHERE email_key LIKE $1 ESCAPE '\\' ORDER BY id DESC LIMIT $2",
        ))
        .bind(&pattern)
        .bind(limit)
        .fetch_all(pool)
        .await)?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(self.subscriber(id).await?);
        }
        Ok(out)
    }
}
