-- Sign-in attempts per (account, client address), counted before the password is
-- checked, so a burst of guesses cannot outrun the limit and a stranger elsewhere cannot
-- lock the owner out. `account` is the lower-cased address as typed, known or not, so
-- unknown and known accounts are treated alike.
CREATE TABLE login_attempts (
    account      TEXT   NOT NULL,
    client       TEXT   NOT NULL,
    window_start BIGINT NOT NULL,
    attempts     BIGINT NOT NULL,
    PRIMARY KEY (account, client)
);
CREATE INDEX login_attempts_window ON login_attempts (window_start);

-- Personal API tokens: 'full' acts with the owner's role, 'read' only reads; an optional
-- expiry (epoch ms).
ALTER TABLE api_tokens ADD COLUMN access TEXT NOT NULL DEFAULT 'full';
ALTER TABLE api_tokens ADD COLUMN expires_at BIGINT;
