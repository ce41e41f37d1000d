-- Fewer index entries written per message (issue 15).
--
-- `deliveries_batch` and `deliveries_due` serve no query any more: claims and the
-- left-over sweep go by (digest_id, state, id), and each state change had to update
-- both. (PostgreSQL also makes the claim and sent-time indexes partial; SQLite uses a
-- partial index only when a query repeats its condition word for word, so here they
-- stay whole. SQLite rewrites only the indexes whose columns an update changes.)
DROP INDEX IF EXISTS deliveries_batch;
DROP INDEX IF EXISTS deliveries_due;
