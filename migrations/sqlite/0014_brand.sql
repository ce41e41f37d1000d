-- The publication's look and words as an editor saved them in the admin: one row per
-- setting ("accent", "accent_dark", "logo_url", "logo_alt", "copy.welcome", ...). A key
-- that has no row falls back to the configuration, then to the built-in default.
CREATE TABLE brand_settings (
    key        TEXT   PRIMARY KEY,
    value      TEXT   NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by BIGINT
);

-- Logos uploaded through the admin, served from our own route with the type found by
-- reading the file (never the type the browser claimed).
CREATE TABLE brand_assets (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    content_type TEXT   NOT NULL,
    bytes        BLOB   NOT NULL,
    sha256       TEXT   NOT NULL,
    created_at   BIGINT NOT NULL
);
