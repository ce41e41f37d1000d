-- no-transaction
-- The edition (issue 10): several digests per date (the daily issue, special editions,
-- the weekly edition), approval states, and a history of every status change.
-- SQLite cannot drop the old UNIQUE (issue_date) in place, so the table is rebuilt with
-- the documented procedure: foreign keys off (or the DROP would cascade to deliveries),
-- the rebuild in one transaction, foreign keys back on.
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE digests_new (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    issue_date       TEXT    NOT NULL,
    kind             TEXT    NOT NULL DEFAULT 'daily' CHECK (kind IN ('daily','special','weekly')),
    edition_no       INTEGER NOT NULL DEFAULT 0,
    status           TEXT    NOT NULL CHECK (status IN ('draft','composed','held','approved','sending','sent','skipped','cancelled')),
    editor_note      TEXT    NOT NULL DEFAULT '',
    subject_override TEXT,
    subject          TEXT,
    preheader        TEXT,
    html             TEXT,
    text             TEXT,
    article_ids      TEXT    NOT NULL DEFAULT '[]',
    recipients       BIGINT,
    composed_at      BIGINT,
    send_started_at  BIGINT,
    send_finished_at BIGINT,
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL,
    html_template    TEXT,
    text_template    TEXT,
    approved_by      BIGINT,
    approved_at      BIGINT,
    review_sent_at   BIGINT,
    UNIQUE (issue_date, kind, edition_no)
);
INSERT INTO digests_new (id, issue_date, kind, edition_no, status, editor_note, subject_override,
    subject, preheader, html, text, article_ids, recipients, composed_at, send_started_at,
    send_finished_at, created_at, updated_at, html_template, text_template)
SELECT id, issue_date, 'daily', 0, status, editor_note, subject_override, subject, preheader,
    html, text, article_ids, recipients, composed_at, send_started_at, send_finished_at,
    created_at, updated_at, html_template, text_template FROM digests;
DROP TABLE digests;
ALTER TABLE digests_new RENAME TO digests;
CREATE INDEX digests_status ON digests (status, issue_date);

CREATE TABLE digest_events (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    digest_id BIGINT NOT NULL REFERENCES digests (id) ON DELETE CASCADE,
    kind      TEXT   NOT NULL,
    detail    TEXT,
    at        BIGINT NOT NULL
);
CREATE INDEX digest_events_digest ON digest_events (digest_id, at);

-- Existing installs keep sending automatically; a fresh install's schedule is created
-- from the configuration, whose default is approval.
ALTER TABLE schedules ADD COLUMN mode TEXT NOT NULL DEFAULT 'automatic' CHECK (mode IN ('automatic','approval'));

CREATE INDEX articles_first_seen ON articles (first_seen_at);
COMMIT;
PRAGMA foreign_keys = ON;
