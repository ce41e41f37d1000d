-- At most one daily schedule: processes that start together each try to create it, and
-- this index lets exactly one insert land (the others' ON CONFLICT DO NOTHING).
CREATE UNIQUE INDEX schedules_one_daily ON schedules (kind) WHERE kind = 'daily';
