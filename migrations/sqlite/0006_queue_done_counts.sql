-- Done jobs per kind, counted up to a moment (epoch seconds). The queue dashboard adds
-- the done jobs finished since `counted_until` (a short index range) instead of counting
-- a million rows per page view; a background loop moves the moment forward and recounts
-- in full every hour. apalis's own table is not ours to alter, so the tally lives here.
CREATE TABLE queue_done_counts (
    job_type      TEXT   PRIMARY KEY,
    counted_until BIGINT NOT NULL,
    done_count    BIGINT NOT NULL
);
