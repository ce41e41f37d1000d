-- Reader's local time: the schedule's delivery mode ('moment': everyone at the send time
-- in the publication's zone; 'local': each reader at the send time in their own zone),
-- and on each delivery row the moment it may go out and the zone that moment is in
-- (fixed at fan-out, so a reader who changes zone mid-issue is still sent once).
ALTER TABLE schedules ADD COLUMN delivery TEXT NOT NULL DEFAULT 'moment';
ALTER TABLE deliveries ADD COLUMN not_before BIGINT;
ALTER TABLE deliveries ADD COLUMN time_zone TEXT;
