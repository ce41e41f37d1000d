-- Curating an issue (issue 17): per-issue overrides of an article's headline, summary
-- and image (the feed's own text stays in `articles`), articles an editor added by URL,
-- and the announcement block placed between articles. (PostgreSQL also gets trigram
-- indexes for the subscribers search; SQLite has no such index type.)

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
