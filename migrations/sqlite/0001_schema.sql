-- Breakfast schema, SQLite dialect. Keep in step with migrations/postgres/0001_schema.sql.
-- Times are Unix epoch milliseconds (BIGINT) in both dialects: the application owns the
-- clock, which keeps the SQL portable and lets tests drive time.

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE subscribers (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    email                TEXT    NOT NULL,
    email_key            TEXT    NOT NULL UNIQUE,
    name                 TEXT,
    status               TEXT    NOT NULL CHECK (status IN ('pending','confirmed','unsubscribed','bounced','complained')),
    source               TEXT    NOT NULL DEFAULT 'web',
    frequency            TEXT    NOT NULL DEFAULT 'daily' CHECK (frequency IN ('daily','weekly')),
    paused_until         BIGINT,
    bounce_count         INTEGER NOT NULL DEFAULT 0,
    created_at           BIGINT  NOT NULL,
    status_changed_at    BIGINT  NOT NULL,
    confirmed_at         BIGINT,
    unsubscribed_at      BIGINT,
    bounced_at           BIGINT,
    complained_at        BIGINT,
    confirmation_sent_at BIGINT
);
CREATE INDEX subscribers_status_id ON subscribers (status, id);

CREATE TABLE subscriber_events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    subscriber_id BIGINT NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    kind          TEXT   NOT NULL,
    detail        TEXT,
    at            BIGINT NOT NULL
);
CREATE INDEX subscriber_events_subscriber ON subscriber_events (subscriber_id, at);

CREATE TABLE suppressions (
    email_hash TEXT PRIMARY KEY,
    reason     TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE feeds (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    url             TEXT    NOT NULL UNIQUE,
    name            TEXT    NOT NULL,
    section         TEXT,
    enabled         BOOLEAN NOT NULL DEFAULT TRUE,
    etag            TEXT,
    last_modified   TEXT,
    last_fetched_at BIGINT,
    last_ok_at      BIGINT,
    last_status     TEXT,
    last_error      TEXT,
    created_at      BIGINT  NOT NULL
);

CREATE TABLE articles (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    feed_id       BIGINT NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
    dedup_key     TEXT   NOT NULL UNIQUE,
    guid          TEXT,
    link          TEXT,
    title         TEXT   NOT NULL,
    author        TEXT,
    published_at  BIGINT NOT NULL,
    summary_html  TEXT   NOT NULL,
    summary_text  TEXT   NOT NULL,
    section       TEXT,
    categories    TEXT   NOT NULL DEFAULT '[]',
    image_url     TEXT,
    first_seen_at BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX articles_published ON articles (published_at);

CREATE TABLE digests (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    issue_date       TEXT   NOT NULL UNIQUE,
    status           TEXT   NOT NULL CHECK (status IN ('draft','composed','sending','sent','skipped','cancelled')),
    editor_note      TEXT   NOT NULL DEFAULT '',
    subject_override TEXT,
    subject          TEXT,
    preheader        TEXT,
    html             TEXT,
    text             TEXT,
    article_ids      TEXT   NOT NULL DEFAULT '[]',
    recipients       BIGINT,
    composed_at      BIGINT,
    send_started_at  BIGINT,
    send_finished_at BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX digests_status ON digests (status, issue_date);

CREATE TABLE digest_picks (
    digest_id  BIGINT  NOT NULL REFERENCES digests (id) ON DELETE CASCADE,
    article_id BIGINT  NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    pinned     BOOLEAN NOT NULL DEFAULT FALSE,
    dropped    BOOLEAN NOT NULL DEFAULT FALSE,
    position   INTEGER,
    PRIMARY KEY (digest_id, article_id)
);

CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    digest_id       BIGINT  NOT NULL REFERENCES digests (id) ON DELETE CASCADE,
    subscriber_id   BIGINT  NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    batch_no        INTEGER NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('queued','sending','sent','retrying','failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    lease_until     BIGINT,
    next_attempt_at BIGINT,
    sent_at         BIGINT,
    updated_at      BIGINT  NOT NULL,
    UNIQUE (digest_id, subscriber_id)
);
CREATE INDEX deliveries_batch ON deliveries (digest_id, batch_no, state);
CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);
CREATE INDEX deliveries_sent_at ON deliveries (sent_at);
CREATE INDEX deliveries_subscriber ON deliveries (subscriber_id);

CREATE TABLE schedules (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT    NOT NULL CHECK (kind IN ('daily','oneoff')),
    send_time       TEXT,
    time_zone       TEXT    NOT NULL,
    days            TEXT    NOT NULL DEFAULT 'mon,tue,wed,thu,fri,sat,sun',
    skip_when_empty BOOLEAN NOT NULL DEFAULT TRUE,
    paused          BOOLEAN NOT NULL DEFAULT FALSE,
    run_at          BIGINT,
    digest_id       BIGINT REFERENCES digests (id) ON DELETE CASCADE,
    cancelled       BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL
);

CREATE TABLE schedule_runs (
    schedule_id BIGINT NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    local_date  TEXT   NOT NULL,
    fired_at    BIGINT NOT NULL,
    digest_id   BIGINT,
    outcome     TEXT   NOT NULL,
    PRIMARY KEY (schedule_id, local_date)
);

CREATE TABLE admin_users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('editor','operator')),
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until  BIGINT,
    last_login_at BIGINT,
    created_at    BIGINT  NOT NULL
);

CREATE TABLE admin_sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES admin_users (id) ON DELETE CASCADE,
    csrf_token TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      BIGINT NOT NULL REFERENCES admin_users (id) ON DELETE CASCADE,
    name         TEXT   NOT NULL,
    token_hash   TEXT   NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT
);
