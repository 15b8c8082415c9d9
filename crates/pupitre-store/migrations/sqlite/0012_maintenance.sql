-- Maintenance windows (issue #7): one-off or recurring (an RFC 5545 RRULE in a time zone),
-- scoped by assets, tags, checks or entities, each with its planned intervention. Checks
-- keep running during a window; their problems open no incident and page nobody until it
-- ends (the engine reads the windows' current occurrences as downtimes).

CREATE TABLE maintenance_windows (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    entity_id         INTEGER NOT NULL REFERENCES entities(id),
    title             TEXT NOT NULL,
    starts_at         INTEGER NOT NULL,  -- the first occurrence's start
    duration_minutes  INTEGER NOT NULL,
    time_zone         TEXT NOT NULL,
    rrule             TEXT NOT NULL,     -- '' for a one-off window
    scope             TEXT NOT NULL,     -- JSON {asset_ids, check_ids, tags, entity_ids}
    intervention      TEXT NOT NULL,     -- JSON {who, what, vendor, description}
    created_by        TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
CREATE INDEX maintenance_windows_entity ON maintenance_windows (entity_id, starts_at);
