-- The audience in the admin (issue 17): a subscriber's own time zone, the indexes the
-- paginated subscribers table walks (keyset on signed-up time; filters by status and
-- source), and the uploads the admin imports in the background.
ALTER TABLE subscribers ADD COLUMN time_zone TEXT;
CREATE INDEX subscribers_created ON subscribers (created_at, id);
CREATE INDEX subscribers_status_created ON subscribers (status, created_at, id);
CREATE INDEX subscribers_source ON subscribers (source);

-- One uploaded CSV file on its way in: uploaded (waiting for its column mapping),
-- running, done or failed. `report` is the import's report as JSON once it ends, also
-- when it failed part-way, so nothing is half-imported without saying so.
CREATE TABLE subscriber_imports (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    admin_id    BIGINT  NOT NULL,
    file_name   TEXT    NOT NULL,
    path        TEXT    NOT NULL,
    size_bytes  BIGINT  NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('uploaded','running','done','failed')),
    options     TEXT,
    bytes_done  BIGINT  NOT NULL DEFAULT 0,
    report      TEXT,
    error       TEXT,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL
);
