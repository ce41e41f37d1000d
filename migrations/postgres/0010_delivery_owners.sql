-- Delivery leases name their owner, and owners prove they are alive.
--
-- A sender claims a delivery by setting `lease_owner` to its process's id; every process
-- that sends keeps its row in `delivery_owners` fresh (`alive_until` a few seconds ahead).
-- A row in `sending` whose owner stopped renewing is taken over at once, without waiting
-- for the whole lease, so a crashed process stalls its rows for seconds, not minutes.
ALTER TABLE deliveries ADD COLUMN lease_owner TEXT;

CREATE TABLE delivery_owners (
    owner       TEXT   PRIMARY KEY,
    started_at  BIGINT NOT NULL,
    alive_until BIGINT NOT NULL
);

-- Claims walk one digest's rows of one state in id order.
CREATE INDEX deliveries_claim ON deliveries (digest_id, state, id);
