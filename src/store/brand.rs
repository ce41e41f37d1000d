//! The brand settings and uploaded logos an editor saved in the admin.

use super::{Store, StoreResult, query};

/// An uploaded logo as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BrandAsset {
    pub id: i64,
    pub content_type: String,
    pub bytes: Vec<u8>,
    pub sha256: String,
}

impl Store {
    /// Every saved brand setting, as (key, value).
    pub async fn brand_settings(&self) -> StoreResult<Vec<(String, String)>> {
        self.fetch_all(query("SELECT key, value FROM brand_settings ORDER BY key"))
            .await
    }

    /// Saves `value` under `key`, or removes the key (back to the configured default)
    /// when `value` is `None`.
    pub async fn set_brand_setting(
        &self,
        key: &str,
        value: Option<&str>,
        by: Option<i64>,
        now: i64,
    ) -> StoreResult<()> {
        match value {
            Some(v) => self.exec(query(
                "INSERT INTO brand_settings (key, value, updated_at, updated_by) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, \
                 updated_by = excluded.updated_by",
            )
            .bind(key)
            .bind(v)
            .bind(now)
            .bind(by)).await?,
            None => self.exec(query("DELETE FROM brand_settings WHERE key = $1")
                .bind(key)).await?,
        };
        Ok(())
    }

    pub async fn insert_brand_asset(
        &self,
        content_type: &str,
        bytes: &[u8],
        sha256: &str,
        now: i64,
    ) -> StoreResult<i64> {
        self.scalar(query(
            "INSERT INTO brand_assets (content_type, bytes, sha256, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(content_type)
        .bind(bytes)
        .bind(sha256)
        .bind(now)).await
    }

    pub async fn brand_asset(&self, id: i64) -> StoreResult<Option<BrandAsset>> {
        self.fetch_optional(
            query("SELECT id, content_type, bytes, sha256 FROM brand_assets WHERE id = $1")
                .bind(id),
        )
        .await
    }
}
