-- Every asset list filters on the quarantine flag and the caller's entities: index them
-- together, so that counting the (small) quarantine never scans the fleet, whatever the
-- planner's statistics say.
DROP INDEX assets_entity;
CREATE INDEX assets_entity ON assets(quarantined, entity_id, id);
