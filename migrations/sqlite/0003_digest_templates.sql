-- The digest as rendered once, with placeholders where each recipient's greeting and
-- links go. `html`/`text` keep the non-personal copy shown in the web archive; these
-- columns keep what the per-recipient fill-in starts from, so a digest already sending
-- is never re-rendered from articles that may have changed since.
ALTER TABLE digests ADD COLUMN html_template TEXT;
ALTER TABLE digests ADD COLUMN text_template TEXT;
