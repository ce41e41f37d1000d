-- Fewer index entries written per message (issue 15).
--
-- Every delivery row is updated twice on its way out (queued → sending → sent), and on
-- PostgreSQL an update that changes an indexed column writes a new entry into every
-- index of the table: with seven indexes that was fourteen index entries per message,
-- most of them into indexes no query uses for those rows.
--
-- * `deliveries_batch` and `deliveries_due` serve no query any more: claims and the
--   left-over sweep go by (digest_id, state, id).
-- * The claim index holds only the rows still to be sent; a `sent` or `failed` row
--   leaves it. Every query that uses it names one of those states.
-- * The sent-time index holds only rows that were sent; a claim no longer adds to it.
DROP INDEX IF EXISTS deliveries_batch;
DROP INDEX IF EXISTS deliveries_due;
DROP INDEX IF EXISTS deliveries_claim;
CREATE INDEX deliveries_claim ON deliveries (digest_id, state, id)
    WHERE state IN ('queued', 'sending', 'retrying');
DROP INDEX IF EXISTS deliveries_sent_at;
CREATE INDEX deliveries_sent_at ON deliveries (sent_at) WHERE sent_at IS NOT NULL;
