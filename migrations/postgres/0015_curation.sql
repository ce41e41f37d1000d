-- Curating an issue (issue 17): per-issue overrides of an article's headline, summary
-- and image (the feed's own text stays in `articles`), articles an editor added by URL,
-- and the announcement block placed between articles. Also the trigram indexes that
-- make the subscribers search an index lookup instead of a pass over every row.

CREATE TABLE digest_overrides (
    digest_id  BIGINT NOT NULL REFERENCES digests (id) ON DELETE CASCADE,
    article_id BIGINT NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    title      TEXT,
    summary    TEXT,
    image_url  TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (digest_id, article_id)
);

-- An article added by URL belongs to the issue it was added to, whatever its date.
CREATE TABLE digest_added_articles (
    digest_id  BIGINT NOT NULL REFERENCES digests (id) ON DELETE CASCADE,
    article_id BIGINT NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    added_at   BIGINT NOT NULL,
    PRIMARY KEY (digest_id, article_id)
);

-- `after_article`: how many articles (in reading order) come before the block.
CREATE TABLE digest_announcements (
    digest_id     BIGINT PRIMARY KEY REFERENCES digests (id) ON DELETE CASCADE,
    body          TEXT    NOT NULL,
    after_article INTEGER NOT NULL DEFAULT 1,
    updated_at    BIGINT  NOT NULL
);

-- pg_trgm is a trusted extension (PostgreSQL 13+): a database owner may create it.
-- Its GIN indexes answer `LIKE '%fragment%'` and `ILIKE` for fragments of 3+ characters.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX subscribers_email_key_trgm ON subscribers USING gin (email_key gin_trgm_ops);
CREATE INDEX subscribers_name_trgm ON subscribers USING gin (name gin_trgm_ops);
