-- Bounces and complaints that arrive after the 250 (issue 13). Keep in step with
-- migrations/postgres/0009_bounces.sql.

-- What happened to a delivery after the server accepted it: NULL, 'hard', 'soft' or
-- 'complaint'. A column beside `state` (not a new state) so the sender's claims and
-- leases, which read `state`, are untouched.
ALTER TABLE deliveries ADD COLUMN outcome TEXT;
ALTER TABLE deliveries ADD COLUMN outcome_detail TEXT;
ALTER TABLE deliveries ADD COLUMN outcome_at BIGINT;

-- Every bounce and complaint applied, for soft-bounce windows, rates and history.
CREATE TABLE bounce_events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    subscriber_id BIGINT NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    digest_id     BIGINT REFERENCES digests (id) ON DELETE SET NULL,
    kind          TEXT   NOT NULL CHECK (kind IN ('hard','soft','complaint')),
    status_code   TEXT,
    detail        TEXT   NOT NULL,
    source        TEXT   NOT NULL,
    at            BIGINT NOT NULL
);
CREATE INDEX bounce_events_subscriber ON bounce_events (subscriber_id, kind, at);
CREATE INDEX bounce_events_digest ON bounce_events (digest_id, kind);

-- One row per report handled (a mailbox message by content hash, a webhook event by
-- the provider's id), written in the transaction that applies it: a report is applied
-- once however many processes see it.
CREATE TABLE bounce_processed (
    source_key   TEXT   PRIMARY KEY,
    result       TEXT   NOT NULL,
    processed_at BIGINT NOT NULL
);

-- Reports that could not be read or matched, kept with the reason to be re-processed.
CREATE TABLE bounce_unmatched (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    source      TEXT   NOT NULL,
    source_key  TEXT   NOT NULL,
    reason      TEXT   NOT NULL,
    raw         BLOB   NOT NULL,
    received_at BIGINT NOT NULL,
    resolved_at BIGINT,
    resolution  TEXT
);
CREATE INDEX bounce_unmatched_open ON bounce_unmatched (resolved_at, id);

-- An issue whose complaint or hard-bounce rate paused the schedule: at most once each.
CREATE TABLE bounce_alerts (
    digest_id BIGINT PRIMARY KEY REFERENCES digests (id) ON DELETE CASCADE,
    reason    TEXT   NOT NULL,
    at        BIGINT NOT NULL
);
