-- Post-incident reviews (issue #7): the cause, the impact and the actions decided, written
-- once the incident is resolved. JSON {cause, impact, actions}; '' until written.
ALTER TABLE incidents ADD COLUMN review TEXT NOT NULL DEFAULT '';
ALTER TABLE incidents ADD COLUMN reviewed_by TEXT;
ALTER TABLE incidents ADD COLUMN reviewed_at INTEGER;
