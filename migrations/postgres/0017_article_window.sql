-- The article window of an issue (issue 10): the highest article id it could see when it
-- was composed. The next issue of the same readers takes the articles after it, so an
-- article stored while an issue is being composed (stamped before the composition,
-- committed after its read) goes into the next issue rather than into none. NULL on
-- issues composed before this: the next issue then falls back to their composition time.
ALTER TABLE digests ADD COLUMN window_last_article BIGINT;

-- How many of the window's articles the issue had no room for (`digest.max_articles`):
-- shown to the editor in the composer, since they go into no later issue either.
ALTER TABLE digests ADD COLUMN articles_left_out BIGINT NOT NULL DEFAULT 0;
