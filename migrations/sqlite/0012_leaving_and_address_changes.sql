-- Why readers leave (optional, anonymous: no subscriber id, so erasure has nothing to
-- find and editors see only counts), and address changes waiting for the new address to
-- confirm.
CREATE TABLE unsubscribe_reasons (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    reason TEXT   NOT NULL,
    at     BIGINT NOT NULL
);

CREATE TABLE email_changes (
    subscriber_id BIGINT PRIMARY KEY REFERENCES subscribers (id) ON DELETE CASCADE,
    new_email     TEXT   NOT NULL,
    requested_at  BIGINT NOT NULL
);
