//! Small key/value settings that belong with the data, such as the generated secret.

use super::{Store, StoreResult, query};

impl Store {
    pub async fn setting(&self, key: &str) -> StoreResult<Option<String>> {
        let value = self
            .scalar_optional(query("SELECT value FROM settings WHERE key = $1").bind(key))
            .await?;
        Ok(value)
    }

    /// Stores `value` unless the key already has one, and returns whichever value won.
    /// Several processes starting at once therefore agree on one value.
    pub async fn setting_or_insert(&self, key: &str, value: &str) -> StoreResult<String> {
        self.exec(
            query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
                .bind(key)
                .bind(value),
        )
        .await?;
        Ok(self
            .setting(key)
            .await?
            .unwrap_or_else(|| value.to_string()))
    }

    pub async fn set_setting(&self, key: &str, value: &str) -> StoreResult<()> {
        self.exec(query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)).await?;
        Ok(())
    }
}
