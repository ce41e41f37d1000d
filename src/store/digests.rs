//! Digests (one per issue date), the editor's picks for them, and what was composed.

use chrono::NaiveDate;
use serde::Serialize;
use sqlx::AssertSqlSafe;

use super::{Store, StoreError, StoreResult, query};

/// Where a digest is in its life (see the README's lifecycle diagram):
/// draft → composed → (held | approved) → sending → sent, or skipped when there was
/// nothing to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DigestStatus {
    Draft,
    Composed,
    /// Approval mode: the send time came and no editor had approved it. An editor can
    /// still send it late.
    Held,
    /// An editor approved it; the scheduler sends it at the scheduled time.
    Approved,
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
            DigestStatus::Held => "held",
            DigestStatus::Approved => "approved",
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

    /// The states a send may start from.
    pub const SENDABLE: [DigestStatus; 3] = [
        DigestStatus::Composed,
        DigestStatus::Held,
        DigestStatus::Approved,
    ];
}

impl std::fmt::Display for DigestStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

super::sql::stored_word!(DigestStatus);

impl std::str::FromStr for DigestStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "draft" => DigestStatus::Draft,
            "composed" => DigestStatus::Composed,
            "held" => DigestStatus::Held,
            "approved" => DigestStatus::Approved,
            "sending" => DigestStatus::Sending,
            "sent" => DigestStatus::Sent,
            "skipped" => DigestStatus::Skipped,
            "cancelled" => DigestStatus::Cancelled,
            other => return Err(format!("unknown digest status {other:?}")),
        })
    }
}

/// Which edition a digest is: the day's issue, an extra issue for the same day, or the
/// weekly round-up. Each has its own audience (see [`audience_sql`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EditionKind {
    Daily,
    Special,
    Weekly,
}

impl EditionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EditionKind::Daily => "daily",
            EditionKind::Special => "special",
            EditionKind::Weekly => "weekly",
        }
    }
}

impl std::str::FromStr for EditionKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "daily" => EditionKind::Daily,
            "special" => EditionKind::Special,
            "weekly" => EditionKind::Weekly,
            other => return Err(format!("unknown edition kind {other:?}")),
        })
    }
}

/// The one audience rule: who receives an edition of this kind at `now_param` (a
/// placeholder such as `$3`). Confirmed, not paused, and of the edition's frequency:
/// daily and special editions go to daily readers, the weekly edition to weekly ones.
/// The fan-out and every count shown before a send use this, and nothing else.
pub fn audience_sql(kind: EditionKind, now_param: &str) -> String {
    let frequency = match kind {
        EditionKind::Daily | EditionKind::Special => "daily",
        EditionKind::Weekly => "weekly",
    };
    format!(
        "status = 'confirmed' AND frequency = '{frequency}' \
         AND (paused_until IS NULL OR paused_until <= {now_param})"
    )
}

/// One entry of a digest's history.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct DigestEvent {
    pub kind: String,
    pub detail: Option<String>,
    pub at: i64,
}

/// A digest as stored. `html`/`text` are the non-personal copy the archive shows.
#[derive(Debug, Clone, Serialize)]
pub struct Digest {
    pub id: i64,
    pub issue_date: NaiveDate,
    pub kind: EditionKind,
    /// 0 for the daily and weekly editions; 1, 2, … for the day's special editions.
    pub edition_no: i64,
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
    pub approved_at: Option<i64>,
    pub review_sent_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(sqlx::FromRow)]
pub(crate) struct DigestRow {
    id: i64,
    issue_date: String,
    kind: String,
    edition_no: i64,
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
    approved_at: Option<i64>,
    review_sent_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl super::Decoded for Digest {
    type Row = DigestRow;
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
            kind: r.kind.parse().map_err(corrupt)?,
            edition_no: r.edition_no,
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
            approved_at: r.approved_at,
            review_sent_at: r.review_sent_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

const DIGEST_COLUMNS: &str = "id, issue_date, kind, CAST(edition_no AS BIGINT) AS edition_no, \
    status, editor_note, subject_override, subject, preheader, html, text, article_ids, \
    recipients, composed_at, send_started_at, send_finished_at, approved_at, review_sent_at, \
    created_at, updated_at";

/// A line in the archive's list: no bodies.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct SentDigest {
    pub id: i64,
    pub issue_date: String,
    /// The edition's kind as stored ("daily", "special", "weekly"): it decides the
    /// archive path ([`crate::digest::compose::archive_path_of`]).
    pub kind: String,
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

/// Statuses as an SQL list, e.g. `'composed','held'` (our own constants, never input).
fn status_list(statuses: &[DigestStatus]) -> String {
    statuses
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(",")
}

impl Store {
    /// The daily issue for `date`, created as an empty draft when there is none yet.
    pub async fn get_or_create_digest(&self, date: NaiveDate, now: i64) -> StoreResult<Digest> {
        self.get_or_create_edition(date, EditionKind::Daily, now)
            .await
    }

    /// The daily or weekly edition for `date`, created as an empty draft when there is
    /// none yet. Safe when two processes ask at once: (date, kind, number) is unique and
    /// the loser reads the winner's row.
    pub async fn get_or_create_edition(
        &self,
        date: NaiveDate,
        kind: EditionKind,
        now: i64,
    ) -> StoreResult<Digest> {
        self.exec(query(
            "INSERT INTO digests (issue_date, kind, edition_no, status, created_at, updated_at) \
             VALUES ($1, $2, 0, 'draft', $3, $3) ON CONFLICT (issue_date, kind, edition_no) DO NOTHING",
        )
        .bind(date_key(date))
        .bind(kind.as_str())
        .bind(now)).await?;
        self.edition_for_date(date, kind)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// A new special edition for `date`, numbered after the day's earlier ones, with its
    /// creation in its history.
    pub async fn create_special_edition(&self, date: NaiveDate, now: i64) -> StoreResult<Digest> {
        let tx = self.begin().await?;
        let id: i64 = {
            let id: i64 = tx.scalar(query(
                "INSERT INTO digests (issue_date, kind, edition_no, status, created_at, updated_at) \
                 SELECT $1, 'special', COALESCE(MAX(edition_no), 0) + 1, 'draft', $2, $2 \
                 FROM digests WHERE issue_date = $1 AND kind = 'special' RETURNING id",
            )
            .bind(date_key(date))
            .bind(now)).await?;
            tx.exec(query("INSERT INTO digest_events (digest_id, kind, detail, at) VALUES ($1, 'created', 'special edition', $2)")
            .bind(id)
            .bind(now)).await?;
            id
        };
        tx.commit().await?;
        self.digest(id).await
    }

    pub async fn digest(&self, id: i64) -> StoreResult<Digest> {
        let sql = format!("SELECT {DIGEST_COLUMNS} FROM digests WHERE id = $1");
        self.decode_optional(query(AssertSqlSafe(sql.as_str())).bind(id))
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// The daily issue for `date` (not its special editions nor the weekly edition).
    pub async fn digest_for_date(&self, date: NaiveDate) -> StoreResult<Option<Digest>> {
        self.edition_for_date(date, EditionKind::Daily).await
    }

    /// The daily or weekly edition of `date`.
    pub async fn edition_for_date(
        &self,
        date: NaiveDate,
        kind: EditionKind,
    ) -> StoreResult<Option<Digest>> {
        let sql = format!(
            "SELECT {DIGEST_COLUMNS} FROM digests WHERE issue_date = $1 AND kind = $2 AND edition_no = 0"
        );
        self.decode_optional(
            query(AssertSqlSafe(sql.as_str()))
                .bind(date_key(date))
                .bind(kind.as_str()),
        )
        .await
    }

    /// Every edition of `date` (daily, specials, weekly), in the order they were made.
    pub async fn editions_of_date(&self, date: NaiveDate) -> StoreResult<Vec<Digest>> {
        let sql = format!("SELECT {DIGEST_COLUMNS} FROM digests WHERE issue_date = $1 ORDER BY id");
        self.decode_all(query(AssertSqlSafe(sql.as_str())).bind(date_key(date)))
            .await
    }

    /// Digests waiting on an editor: composed for review, or held at their send time.
    pub async fn digests_awaiting_approval(&self) -> StoreResult<Vec<Digest>> {
        let sql = format!(
            "SELECT {DIGEST_COLUMNS} FROM digests WHERE status IN ('held') \
             OR (status = 'composed' AND review_sent_at IS NOT NULL) ORDER BY issue_date, id"
        );
        self.decode_all(query(AssertSqlSafe(sql.as_str()))).await
    }

    /// The rendering with placeholders that per-recipient personalisation starts from.
    pub async fn digest_templates(&self, id: i64) -> StoreResult<Option<(String, String)>> {
        let row: Option<(Option<String>, Option<String>)> = self
            .fetch_optional(
                query("SELECT html_template, text_template FROM digests WHERE id = $1").bind(id),
            )
            .await?;
        match row {
            None => Err(StoreError::NotFound),
            Some((Some(html), Some(text))) => Ok(Some((html, text))),
            Some(_) => Ok(None),
        }
    }

    /// Where the previous edition of these kinds stopped taking articles: the highest
    /// article id its last composition (the one that went out) could see, and the moment
    /// that composition was made. Both `None` before the first one; only the moment for
    /// an edition composed before marks were stored.
    pub async fn previous_window_end(
        &self,
        kinds: &[EditionKind],
        excluding: i64,
    ) -> StoreResult<(Option<i64>, Option<i64>)> {
        let kinds = kinds
            .iter()
            .map(|k| format!("'{}'", k.as_str()))
            .collect::<Vec<_>>()
            .join(",");
        let sql = format!(
            "SELECT MAX(window_last_article), MAX(composed_at) FROM digests WHERE kind IN ({kinds}) \
             AND status IN ('sending', 'sent') AND id <> $1"
        );
        self.fetch_one(query(AssertSqlSafe(sql.as_str())).bind(excluding))
            .await
    }

    /// How many subscribers an edition of `kind` would go to at `now`, by the same rule
    /// the fan-out uses.
    /// The distinct `time_zone` values of an edition's audience (`None`: readers without
    /// one), from which the fan-out's per-zone moments are computed.
    pub async fn audience_zones(
        &self,
        kind: EditionKind,
        now: i64,
    ) -> StoreResult<Vec<Option<String>>> {
        let sql = format!(
            "SELECT DISTINCT time_zone FROM subscribers WHERE {}",
            audience_sql(kind, "$1")
        );
        self.scalars(query(AssertSqlSafe(sql.as_str())).bind(now))
            .await
    }

    pub async fn count_audience(&self, kind: EditionKind, now: i64) -> StoreResult<i64> {
        let sql = format!(
            "SELECT COUNT(*) FROM subscribers WHERE {}",
            audience_sql(kind, "$1")
        );
        self.scalar(query(AssertSqlSafe(sql.as_str())).bind(now))
            .await
    }

    /// Moves a digest from one of `from` to `to` and records `event` in its history, in
    /// one transaction. False (and nothing written) when it was not in one of `from`.
    pub async fn transition_digest(
        &self,
        id: i64,
        from: &[DigestStatus],
        to: DigestStatus,
        event: &str,
        detail: Option<&str>,
        now: i64,
    ) -> StoreResult<bool> {
        let extra = match to {
            DigestStatus::Sending => ", send_started_at = $2",
            DigestStatus::Sent => {
                ", send_finished_at = $2, send_started_at = COALESCE(send_started_at, $2)"
            }
            _ => "",
        };
        let sql = format!(
            "UPDATE digests SET status = '{}', updated_at = $2{extra} WHERE id = $1 AND status IN ({})",
            to.as_str(),
            status_list(from)
        );
        self.change_with_event(id, &sql, event, detail, now).await
    }

    /// Runs one conditional update of digest `id` (binding `$1` = id, `$2` = now) and,
    /// when it changed the row, adds `event` to the history, in one transaction.
    async fn change_with_event(
        &self,
        id: i64,
        sql: &str,
        event: &str,
        detail: Option<&str>,
        now: i64,
    ) -> StoreResult<bool> {
        let tx = self.begin().await?;
        let out = {
            let n = tx
                .exec(query(AssertSqlSafe(sql)).bind(id).bind(now))
                .await?;
            if n == 1 {
                tx.exec(query("INSERT INTO digest_events (digest_id, kind, detail, at) VALUES ($1, $2, $3, $4)")
                .bind(id)
                .bind(event)
                .bind(detail)
                .bind(now)).await?;
            }
            n == 1
        };
        tx.commit().await?;
        Ok(out)
    }

    /// Moves a composed (or held, or approved) digest to `sending`. The update is
    /// conditional, so of two sends racing only one starts; the other gets a `Conflict`
    /// saying why.
    pub async fn begin_send(&self, digest_id: i64, now: i64) -> StoreResult<()> {
        let started = self
            .transition_digest(
                digest_id,
                &DigestStatus::SENDABLE,
                DigestStatus::Sending,
                "sending",
                None,
                now,
            )
            .await?;
        if started {
            return Ok(());
        }
        let digest = self.digest(digest_id).await?;
        Err(refuse_send(digest_id, digest.status))
    }

    /// An editor's approval: from composed or held to approved, recorded with who.
    pub async fn approve_digest(&self, id: i64, user_id: i64, now: i64) -> StoreResult<()> {
        let sql = format!(
            "UPDATE digests SET status = 'approved', approved_by = {user_id}, approved_at = $2, \
             updated_at = $2 WHERE id = $1 AND status IN ('composed', 'held')"
        );
        let detail = format!("by editor {user_id}");
        if self
            .change_with_event(id, &sql, "approved", Some(&detail), now)
            .await?
        {
            return Ok(());
        }
        let d = self.digest(id).await?;
        Err(StoreError::Conflict(match d.status {
            DigestStatus::Approved => "it is already approved".into(),
            DigestStatus::Sending => "it is already being sent; nothing was changed".into(),
            DigestStatus::Sent => "it has already been sent; nothing was changed".into(),
            other => format!(
                "it is {}, not composed; nothing was changed",
                other.as_str()
            ),
        }))
    }

    /// Records that the review email went out to the editors.
    pub async fn mark_review_sent(&self, id: i64, now: i64) -> StoreResult<bool> {
        self.change_with_event(
            id,
            "UPDATE digests SET review_sent_at = $2, updated_at = $2 WHERE id = $1 AND review_sent_at IS NULL",
            "review requested",
            None,
            now,
        )
        .await
    }

    /// Writes the ledger rows of a sending digest in one transaction: one per subscriber
    /// of the edition's audience ([`audience_sql`]), numbered into batches of
    /// `batch_size` in id order, with the recipient count and a history event. Running
    /// it again adds nobody twice. Returns (recipients, batches).
    pub async fn fan_out(
        &self,
        digest_id: i64,
        batch_size: i64,
        now: i64,
    ) -> StoreResult<(i64, i64)> {
        self.fan_out_at(digest_id, batch_size, now, None).await
    }

    /// [`Store::fan_out`], giving each row the moment it may go out when `moments` is
    /// set (delivery in each reader's zone; see [`SendMoments`]).
    pub async fn fan_out_at(
        &self,
        digest_id: i64,
        batch_size: i64,
        now: i64,
        moments: Option<&SendMoments>,
    ) -> StoreResult<(i64, i64)> {
        let kind = self.digest(digest_id).await?.kind;
        let (zone_expr, not_before_expr) =
            moments.map_or(("NULL".into(), "NULL".into()), |m| m.sql(6));
        let insert = format!(
            "INSERT INTO deliveries (digest_id, subscriber_id, batch_no, state, attempts, updated_at, time_zone, not_before) \
             SELECT $1, id, (ROW_NUMBER() OVER (ORDER BY id) - 1) / $2, 'queued', 0, $3, {zone_expr}, {not_before_expr} \
             FROM subscribers WHERE {} \
             ON CONFLICT (digest_id, subscriber_id) DO NOTHING",
            audience_sql(kind, "$3")
        );
        let tx = self.begin().await?;
        let out = {
            let mut q = query(AssertSqlSafe(insert.as_str()))
                .bind(digest_id)
                .bind(batch_size.max(1))
                .bind(now);
            if let Some(m) = moments {
                q = q.bind(m.fallback_zone.clone()).bind(m.fallback_not_before);
                for z in &m.zones {
                    q = q
                        .bind(z.stored.clone())
                        .bind(z.zone.clone())
                        .bind(z.not_before);
                }
            }
            let added = tx.exec(q).await?;
            let (recipients, batches): (i64, i64) = tx.fetch_one(query(
            "SELECT COUNT(*), COALESCE(MAX(batch_no) + 1, 0) FROM deliveries WHERE digest_id = $1")
            .bind(digest_id)).await?;
            tx.exec(
                query("UPDATE digests SET recipients = $2, updated_at = $3 WHERE id = $1")
                    .bind(digest_id)
                    .bind(recipients)
                    .bind(now),
            )
            .await?;
            if added > 0 || recipients == 0 {
                let detail = format!("{recipients} recipients in {batches} batches");
                tx.exec(query("INSERT INTO digest_events (digest_id, kind, detail, at) VALUES ($1, 'fanned out', $2, $3)")
                .bind(digest_id).bind(detail).bind(now)).await?;
            }
            (recipients, batches)
        };
        tx.commit().await?;
        Ok(out)
    }

    /// Marks the digest sent once no row is left to send, with its history event. Safe to
    /// call from anywhere: only one caller's update lands.
    pub async fn finish_digest_if_done(&self, digest_id: i64, now: i64) -> StoreResult<bool> {
        self.change_with_event(
            digest_id,
            "UPDATE digests SET status = 'sent', send_finished_at = $2, updated_at = $2 \
             WHERE id = $1 AND status = 'sending' AND recipients IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM deliveries WHERE digest_id = $1 \
                             AND state IN ('queued', 'sending', 'retrying'))",
            "sent",
            None,
            now,
        )
        .await
    }

    /// The digest's history, oldest first.
    pub async fn digest_events(&self, id: i64) -> StoreResult<Vec<DigestEvent>> {
        self.fetch_all(
            query(
                "SELECT kind, detail, at FROM digest_events WHERE digest_id = $1 ORDER BY at, id",
            )
            .bind(id),
        )
        .await
    }

    /// Digests that went out, newest first, for the public archive.
    pub async fn list_sent_digests(&self, limit: i64, offset: i64) -> StoreResult<Vec<SentDigest>> {
        self.fetch_all(
            query(
                "SELECT id, issue_date, kind, subject, preheader, send_started_at FROM digests \
             WHERE status IN ('sending', 'sent') AND html IS NOT NULL \
             ORDER BY issue_date DESC, id DESC LIMIT $1 OFFSET $2",
            )
            .bind(limit)
            .bind(offset),
        )
        .await
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
        let done = self.exec(query(sql).bind(id).bind(value).bind(now)).await?;
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
        self.exec(
            query(
                "INSERT INTO digest_picks (digest_id, article_id, pinned, dropped, position) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (digest_id, article_id) DO UPDATE SET \
             pinned = excluded.pinned, dropped = excluded.dropped, position = excluded.position",
            )
            .bind(digest_id)
            .bind(pick.article_id)
            .bind(pick.pinned)
            .bind(pick.dropped)
            .bind(pick.position),
        )
        .await?;
        Ok(())
    }

    /// Forgets the editor's decision about an article: it is chosen like any other again.
    pub async fn clear_digest_pick(&self, digest_id: i64, article_id: i64) -> StoreResult<()> {
        self.exec(
            query("DELETE FROM digest_picks WHERE digest_id = $1 AND article_id = $2")
                .bind(digest_id)
                .bind(article_id),
        )
        .await?;
        Ok(())
    }

    /// Which of `article_ids` an editor dropped from an edition of one of `kinds` (the
    /// weekly edition leaves out what was dropped from the week's dailies).
    pub async fn articles_dropped_from(
        &self,
        kinds: &[EditionKind],
        article_ids: &[i64],
    ) -> StoreResult<Vec<i64>> {
        if article_ids.is_empty() || kinds.is_empty() {
            return Ok(Vec::new());
        }
        let kinds = kinds
            .iter()
            .map(|k| format!("'{}'", k.as_str()))
            .collect::<Vec<_>>()
            .join(",");
        // Integers we hold and our own words: safe to list in the statement.
        let ids = article_ids
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let sql = format!(
            "SELECT DISTINCT p.article_id FROM digest_picks p JOIN digests d ON d.id = p.digest_id \
             WHERE p.dropped AND d.kind IN ({kinds}) AND p.article_id IN ({ids})"
        );
        self.scalars(query(AssertSqlSafe(sql.as_str()))).await
    }

    pub async fn digest_picks(&self, digest_id: i64) -> StoreResult<Vec<DigestPick>> {
        self.fetch_all(query(
            "SELECT article_id, pinned, dropped, position FROM digest_picks WHERE digest_id = $1 \
             ORDER BY position IS NULL, position, article_id",
        )
        .bind(digest_id)).await
    }

    /// Stores a composition unless the digest has meanwhile started sending; returns
    /// whether it was stored. (A composition made outside the composer, with no article
    /// window: see [`Store::save_composition`].)
    pub async fn save_composed_digest(
        &self,
        id: i64,
        c: &ComposedDigest<'_>,
        now: i64,
    ) -> StoreResult<bool> {
        self.save_composition(id, c, None, 0, now).await
    }

    /// Stores a composition with the end of its article window (the
    /// [`Store::article_window_mark`] it read) and how many of the window's articles it had
    /// no room for, unless the digest has meanwhile started sending; returns whether it
    /// was stored. Mark and composition are written in one statement, so the mark is
    /// always that of what goes out.
    pub async fn save_composition(
        &self,
        id: i64,
        c: &ComposedDigest<'_>,
        window_last_article: Option<i64>,
        left_out: i64,
        now: i64,
    ) -> StoreResult<bool> {
        let ids = serde_json::to_string(c.article_ids)
            .map_err(|e| StoreError::Corrupt(format!("article ids: {e}")))?;
        let sql = "UPDATE digests SET status = CASE WHEN status IN ('held', 'approved') THEN status ELSE 'composed' END, subject = $2, preheader = $3, html = $4, \
             text = $5, html_template = $6, text_template = $7, article_ids = $8, composed_at = $9, \
             updated_at = $9, window_last_article = $10, articles_left_out = $11 WHERE id = $1 AND status NOT IN ('sending', 'sent')";
        // The status change (draft or skipped to composed) and its history event are
        // written together; a recomposition that changes no status adds no event.
        let tx = self.begin().await?;
        let out = {
            let before: Option<DigestStatus> = tx
                .scalar_optional(query("SELECT status FROM digests WHERE id = $1").bind(id))
                .await?;
            let done = tx
                .exec(
                    query(sql)
                        .bind(id)
                        .bind(c.subject)
                        .bind(c.preheader)
                        .bind(c.html)
                        .bind(c.text)
                        .bind(c.html_template)
                        .bind(c.text_template)
                        .bind(&ids)
                        .bind(now)
                        .bind(window_last_article)
                        .bind(left_out),
                )
                .await?;
            if done == 1 && matches!(before, Some(DigestStatus::Draft | DigestStatus::Skipped)) {
                let detail = format!("{} articles", c.article_ids.len());
                tx.exec(query("INSERT INTO digest_events (digest_id, kind, detail, at) VALUES ($1, 'composed', $2, $3)")
                .bind(id)
                .bind(detail)
                .bind(now)).await?;
            }
            done == 1
        };
        tx.commit().await?;
        Ok(out)
    }

    /// How many of the window's articles the issue's last composition had no room for
    /// (`digest.max_articles`).
    pub async fn articles_left_out(&self, id: i64) -> StoreResult<i64> {
        self.scalar_optional(query("SELECT articles_left_out FROM digests WHERE id = $1").bind(id))
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Records that there was nothing to send (unless it already went out), with why.
    pub async fn mark_digest_skipped(&self, id: i64, now: i64) -> StoreResult<bool> {
        self.transition_digest(
            id,
            &[
                DigestStatus::Draft,
                DigestStatus::Composed,
                DigestStatus::Held,
                DigestStatus::Approved,
                DigestStatus::Skipped,
            ],
            DigestStatus::Skipped,
            "skipped",
            Some("nothing to send"),
            now,
        )
        .await
    }

    /// Marks a composed digest as sent, keeping an earlier send start if delivery
    /// recorded one, with its history event in the same transaction (for imports and
    /// tests that put an issue straight into the archive; a real send finishes through
    /// the fan-out). The archive shows digests from this point on.
    pub async fn mark_digest_sent(&self, id: i64, now: i64) -> StoreResult<()> {
        let done = self
            .change_with_event(
                id,
                "UPDATE digests SET status = 'sent', send_started_at = COALESCE(send_started_at, $2), \
                 send_finished_at = $2, updated_at = $2 WHERE id = $1 AND html IS NOT NULL",
                "sent",
                Some("marked sent"),
                now,
            )
            .await?;
        if !done {
            return Err(StoreError::Conflict(
                "only a composed digest can be marked sent".into(),
            ));
        }
        Ok(())
    }
}

/// Why a send cannot start.
pub fn refuse_send(id: i64, status: DigestStatus) -> StoreError {
    let why = match status {
        DigestStatus::Sending => {
            "is already being sent; follow it with `breakfast digest status`".to_string()
        }
        DigestStatus::Sent => "was already sent; it is never sent twice".to_string(),
        DigestStatus::Skipped | DigestStatus::Cancelled => format!("was {status}"),
        other => format!("is {other}, not composed"),
    };
    StoreError::Conflict(format!("digest {id} {why}"))
}

/// When each row of a fan-out may go out, by the reader's stored `time_zone` (computed
/// by [`crate::schedule::moments`]; the store only writes them). Readers whose zone is not
/// listed (none, or one no longer valid) get the fallback: the publication's zone.
#[derive(Debug, Clone, Default)]
pub struct SendMoments {
    pub fallback_zone: String,
    pub fallback_not_before: i64,
    pub zones: Vec<ZoneMoment>,
}

/// One reader zone's moment: `stored` as in `subscribers.time_zone`, `zone` its canonical name.
#[derive(Debug, Clone)]
pub struct ZoneMoment {
    pub stored: String,
    pub zone: String,
    pub not_before: i64,
}

impl SendMoments {
    /// The fan-out's `time_zone` and `not_before` expressions over `subscribers`, with the
    /// fallback bound at `$4`, `$5` and each zone's three values from `$first` on.
    pub(crate) fn sql(&self, first: usize) -> (String, String) {
        if self.zones.is_empty() {
            return ("$4".into(), "$5".into());
        }
        let (mut zone, mut at) = ("CASE".to_string(), "CASE".to_string());
        for i in 0..self.zones.len() {
            let p = first + 3 * i;
            zone.push_str(&format!(" WHEN time_zone = ${p} THEN ${}", p + 1));
            at.push_str(&format!(" WHEN time_zone = ${p} THEN ${}", p + 2));
        }
        zone.push_str(" ELSE $4 END");
        at.push_str(" ELSE $5 END");
        (zone, at)
    }
}
