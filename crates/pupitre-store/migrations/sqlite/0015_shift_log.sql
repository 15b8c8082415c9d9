-- The shift log (main courante, issue #7): timestamped entries by the operators, and the
-- handovers between shifts, each a summary generated when the outgoing operator hands over,
-- acknowledged by the incoming one.

CREATE TABLE shift_entries (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    entity_id     INTEGER NOT NULL REFERENCES entities(id),
    at            INTEGER NOT NULL,
    author        TEXT NOT NULL,
    category      TEXT NOT NULL,     -- note, intervention, call, incident, maintenance, other
    text          TEXT NOT NULL,
    asset_ids     TEXT NOT NULL,     -- JSON array
    incident_ids  TEXT NOT NULL,     -- JSON array
    created_at    INTEGER NOT NULL
);
CREATE INDEX shift_entries_entity ON shift_entries (entity_id, at);

CREATE TABLE handovers (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    entity_id        INTEGER NOT NULL REFERENCES entities(id),
    since            INTEGER NOT NULL,   -- the previous handover, or a day before
    summary          TEXT NOT NULL,      -- JSON, generated at handover
    note             TEXT NOT NULL,
    created_by       TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    acknowledged_by  TEXT,
    acknowledged_at  INTEGER
);
CREATE INDEX handovers_entity ON handovers (entity_id, id);
