//! Digests (one per issue date), the editor's picks for them, and what was composed.

use chrono::NaiveDate;
use serde::Serialize;
use sqlx::AssertSqlSafe;

use super::{Store, StoreError, StoreResult, on_db};

/// Where a digest is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DigestStatus {
    Draft,
    Composed,
    Sending,
    Sent,
    Skipped,
    Cancelled,
}

impl DigestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DigestStatus::Draft => "draft",
            DigestStatus::Composed => "composed",
            DigestStatus::Sending => "sending",
            DigestStatus::Sent => "sent",
            DigestStatus::Skipped => "skipped",
            DigestStatus::Cancelled => "cancelled",
        }
    }

    /// Once mail has gone out, the stored digest is the record of what was sent and must
    /// not change.
    pub fn is_out(self) -> bool {
        matches!(self, DigestStatus::Sending | DigestStatus::Sent)
    }
}

impl std::str::FromStr for DigestStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "draft" => DigestStatus::Draft,
            "composed" => DigestStatus::Composed,
            "sending" => DigestStatus::Sending,
            "sent" => DigestStatus::Sent,
            "skipped" => DigestStatus::Skipped,
            "cancelled" => DigestStatus::Cancelled,
            other => return Err(format!("unknown digest status {other:?}")),
        })
    }
}

/// A digest as stored. `html`/`text` are the non-personal copy the archive shows.
#[derive(Debug, Clone, Serialize)]
pub struct Digest {
    pub id: i64,
    pub issue_date: NaiveDate,
    pub status: DigestStatus,
    pub editor_note: String,
    pub subject_override: Option<String>,
    pub subject: Option<String>,
    pub preheader: Option<String>,
    pub html: Option<String>,
    pub text: Option<String>,
    pub article_ids: Vec<i64>,
    pub recipients: Option<i64>,
    pub composed_at: Option<i64>,
    pub send_started_at: Option<i64>,
    pub send_finished_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(sqlx::FromRow)]
struct DigestRow {
    id: i64,
    issue_date: String,
    status: String,
    editor_note: String,
    subject_override: Option<String>,
    subject: Option<String>,
    preheader: Option<String>,
    html: Option<String>,
    text: Option<String>,
    article_ids: String,
    recipients: Option<i64>,
    composed_at: Option<i64>,
    send_started_at: Option<i64>,
    send_finished_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<DigestRow> for Digest {
    type Error = StoreError;
    fn try_from(r: DigestRow) -> Result<Self, StoreError> {
        let corrupt = |what: String| StoreError::Corrupt(format!("digest {}: {what}", r.id));
        Ok(Digest {
            id: r.id,
            issue_date: r
                .issue_date
                .parse()
                .map_err(|e| corrupt(format!("issue_date: {e}")))?,
            status: r.status.parse().map_err(corrupt)?,
            article_ids: serde_json::from_str(&r.article_ids)
                .map_err(|e| corrupt(format!("article_ids: {e}")))?,
            editor_note: r.editor_note,
            subject_override: r.subject_override,
            subject: r.subject,
            preheader: r.preheader,
            html: r.html,
            text: r.text,
            recipients: r.recipients,
            composed_at: r.composed_at,
            send_started_at: r.send_started_at,
            send_finished_at: r.send_finished_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

const DIGEST_COLUMNS: &str = "id, issue_date, status, editor_note, subject_override, subject, \
    preheader, html, text, article_ids, recipients, composed_at, send_started_at, \
    send_finished_at, created_at, updated_at";

/// A line in the archive's list: no bodies.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct SentDigest {
    pub id: i64,
    pub issue_date: String,
    pub subject: Option<String>,
    pub preheader: Option<String>,
    pub send_started_at: Option<i64>,
}

/// The editor's decision about one article in one digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct DigestPick {
    pub article_id: i64,
    pub pinned: bool,
    pub dropped: bool,
    /// Order among pinned articles (and among the articles of a section); lower first.
    pub position: Option<i64>,
}

/// Everything a composition produces, stored together.
#[derive(Debug, Clone)]
pub struct ComposedDigest<'a> {
    pub subject: &'a str,
    pub preheader: &'a str,
    /// Non-personal copy, for the archive.
    pub html: &'a str,
    pub text: &'a str,
    /// With placeholders for each recipient's greeting and links.
    pub html_template: &'a str,
    pub text_template: &'a str,
    pub article_ids: &'a [i64],
}

fn date_key(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

impl Store {
    /// The digest for `date`, created as an empty draft when there is none yet. Safe when
    /// two processes ask at once: the date is unique and the loser reads the winner's row.
    pub async fn get_or_create_digest(&self, date: NaiveDate, now: i64) -> StoreResult<Digest> {
        on_db!(self, pool => sqlx::query(
            "INSERT INTO digests (issue_date, status, created_at, updated_at) VALUES ($1, 'draft', $2, $2) \
             ON CONFLICT (issue_date) DO NOTHING",
        )
        .bind(date_key(date))
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        self.digest_for_date(date)
            .await?
            .ok_or(StoreError::NotFound)
    }

    pub async fn digest(&self, id: i64) -> StoreResult<Digest> {
        let sql = format!("SELECT {DIGEST_COLUMNS} FROM digests WHERE id = $1");
        let row: Option<DigestRow> = on_db!(self, pool => sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(id).fetch_optional(pool).await)?;
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    pub async fn digest_for_date(&self, date: NaiveDate) -> StoreResult<Option<Digest>> {
        let sql = format!("SELECT {DIGEST_COLUMNS} FROM digests WHERE issue_date = $1");
        let row: Option<DigestRow> = on_db!(self, pool => sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(date_key(date)).fetch_optional(pool).await)?;
        row.map(Digest::try_from).transpose()
    }

    /// The rendering with placeholders that per-recipient personalisation starts from.
    pub async fn digest_templates(&self, id: i64) -> StoreResult<Option<(String, String)>> {
        let row: Option<(Option<String>, Option<String>)> = on_db!(self, pool => sqlx::query_as(
            "SELECT html_template, text_template FROM digests WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(pool)
        .await)?;
        match row {
            None => Err(StoreError::NotFound),
            Some((Some(html), Some(text))) => Ok(Some((html, text))),
            Some(_) => Ok(None),
        }
    }

    /// The most recent digest that went out for a date before `date`: the composer takes
    /// articles published since it started sending.
    pub async fn last_sent_digest_before(&self, date: NaiveDate) -> StoreResult<Option<Digest>> {
        let sql = format!(
            "SELECT {DIGEST_COLUMNS} FROM digests WHERE status IN ('sending', 'sent') \
             AND issue_date < $1 AND send_started_at IS NOT NULL \
             ORDER BY send_started_at DESC LIMIT 1"
        );
        let row: Option<DigestRow> = on_db!(self, pool => sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(date_key(date)).fetch_optional(pool).await)?;
        row.map(Digest::try_from).transpose()
    }

    /// Digests that went out, newest first, for the public archive.
    pub async fn list_sent_digests(&self, limit: i64, offset: i64) -> StoreResult<Vec<SentDigest>> {
        Ok(on_db!(self, pool => sqlx::query_as(
            "SELECT id, issue_date, subject, preheader, send_started_at FROM digests \
             WHERE status IN ('sending', 'sent') AND html IS NOT NULL \
             ORDER BY issue_date DESC LIMIT $1 OFFSET $2",
        )
        .bind(limit)
        .bind(offset)
        .fetch_all(pool)
        .await)?)
    }

    /// The editor's note, in Markdown; refused once the digest has gone out.
    pub async fn set_editor_note(&self, id: i64, note: &str, now: i64) -> StoreResult<()> {
        self.update_unsent(
            id,
            "UPDATE digests SET editor_note = $2, updated_at = $3 WHERE id = $1 \
             AND status NOT IN ('sending', 'sent')",
            Some(note),
            now,
        )
        .await
    }

    /// A subject for this issue only, instead of the configured pattern (`None` clears it).
    pub async fn set_subject_override(
        &self,
        id: i64,
        subject: Option<&str>,
        now: i64,
    ) -> StoreResult<()> {
        self.update_unsent(
            id,
            "UPDATE digests SET subject_override = $2, updated_at = $3 WHERE id = $1 \
             AND status NOT IN ('sending', 'sent')",
            subject,
            now,
        )
        .await
    }

    async fn update_unsent(
        &self,
        id: i64,
        sql: &'static str,
        value: Option<&str>,
        now: i64,
    ) -> StoreResult<()> {
        let done = on_db!(self, pool => sqlx::query(sql)
            .bind(id)
            .bind(value)
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        if done == 0 {
            let digest = self.digest(id).await?;
            return Err(StoreError::Conflict(format!(
                "the digest for {} has already been sent and cannot be changed",
                digest.issue_date
            )));
        }
        Ok(())
    }

    /// Pins, drops or places an article in a digest (replacing an earlier decision).
    pub async fn set_digest_pick(&self, digest_id: i64, pick: &DigestPick) -> StoreResult<()> {
        on_db!(self, pool => sqlx::query(
            "INSERT INTO digest_picks (digest_id, article_id, pinned, dropped, position) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (digest_id, article_id) DO UPDATE SET \
             pinned = excluded.pinned, dropped = excluded.dropped, position = excluded.position",
        )
        .bind(digest_id)
        .bind(pick.article_id)
        .bind(pick.pinned)
        .bind(pick.dropped)
        .bind(pick.position)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Forgets the editor's decision about an article: it is chosen like any other again.
    pub async fn clear_digest_pick(&self, digest_id: i64, article_id: i64) -> StoreResult<()> {
        on_db!(self, pool => sqlx::query("DELETE FROM digest_picks WHERE digest_id = $1 AND article_id = $2")
            .bind(digest_id)
            .bind(article_id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn digest_picks(&self, digest_id: i64) -> StoreResult<Vec<DigestPick>> {
        Ok(on_db!(self, pool => sqlx::query_as(
            "SELECT article_id, pinned, dropped, position FROM digest_picks WHERE digest_id = $1 \
             ORDER BY position IS NULL, position, article_id",
        )
        .bind(digest_id)
        .fetch_all(pool)
        .await)?)
    }

    /// Stores a composition unless the digest has meanwhile started sending; returns
    /// whether it was stored.
    pub async fn save_composed_digest(
        &self,
        id: i64,
        c: &ComposedDigest<'_>,
        now: i64,
    ) -> StoreResult<bool> {
        let ids = serde_json::to_string(c.article_ids)
            .map_err(|e| StoreError::Corrupt(format!("article ids: {e}")))?;
        let done = on_db!(self, pool => sqlx::query(
            "UPDATE digests SET status = 'composed', subject = $2, preheader = $3, html = $4, \
             text = $5, html_template = $6, text_template = $7, article_ids = $8, composed_at = $9, \
             updated_at = $9 WHERE id = $1 AND status NOT IN ('sending', 'sent')",
        )
        .bind(id)
        .bind(c.subject)
        .bind(c.preheader)
        .bind(c.html)
        .bind(c.text)
        .bind(c.html_template)
        .bind(c.text_template)
        .bind(&ids)
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// Records that there was nothing to send for this date (unless it already went out).
    pub async fn mark_digest_skipped(&self, id: i64, now: i64) -> StoreResult<bool> {
        let done = on_db!(self, pool => sqlx::query(
            "UPDATE digests SET status = 'skipped', updated_at = $2 WHERE id = $1 \
             AND status NOT IN ('sending', 'sent')",
        )
        .bind(id)
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// Marks a composed digest as sent, keeping an earlier send start if delivery
    /// recorded one. The archive shows digests from this point on.
    pub async fn mark_digest_sent(&self, id: i64, now: i64) -> StoreResult<()> {
        let done = on_db!(self, pool => sqlx::query(
            "UPDATE digests SET status = 'sent', send_started_at = COALESCE(send_started_at, $2), \
             send_finished_at = $2, updated_at = $2 WHERE id = $1 AND html IS NOT NULL",
        )
        .bind(id)
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::Conflict(
                "only a composed digest can be marked sent".into(),
            ));
        }
        Ok(())
    }
}
