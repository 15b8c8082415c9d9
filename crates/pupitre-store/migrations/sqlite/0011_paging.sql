-- Paging (issue #7): escalation policies, on-call schedules and their overrides, and the
-- notifications sent, with every delivery attempt's outcome. Definitions are JSON validated
-- by the web layer (pupitre_oncall's types).

CREATE TABLE escalation_policies (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The entity whose incidents it pages for, and those below that have none of their own.
    entity_id   INTEGER NOT NULL UNIQUE REFERENCES entities(id),
    name        TEXT NOT NULL,
    definition  TEXT NOT NULL,     -- JSON {steps: [{targets, delay_minutes}], repeat}
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE oncall_schedules (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    entity_id   INTEGER NOT NULL REFERENCES entities(id),
    name        TEXT NOT NULL,
    time_zone   TEXT NOT NULL,
    definition  TEXT NOT NULL,     -- JSON {layers: [...], holidays: {...}}
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX oncall_schedules_entity ON oncall_schedules (entity_id, name);

CREATE TABLE schedule_overrides (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    schedule_id  INTEGER NOT NULL REFERENCES oncall_schedules(id) ON DELETE CASCADE,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    starts_at    INTEGER NOT NULL,
    ends_at      INTEGER NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX schedule_overrides_schedule ON schedule_overrides (schedule_id, ends_at);

CREATE TABLE notifications (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id      INTEGER NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    user_id          INTEGER REFERENCES users(id) ON DELETE SET NULL,
    channel          TEXT NOT NULL,     -- email
    address          TEXT NOT NULL,
    step             INTEGER NOT NULL,
    round            INTEGER NOT NULL,
    state            TEXT NOT NULL,     -- queued, sent, failed
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT NOT NULL DEFAULT '',
    next_attempt_at  INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    sent_at          INTEGER
);
CREATE INDEX notifications_due ON notifications (state, next_attempt_at);
CREATE INDEX notifications_incident ON notifications (incident_id, id);

-- The pager has fired every escalation step due up to this instant, counting from
-- escalation_base (when the incident opened, or was last reopened).
ALTER TABLE incidents ADD COLUMN escalated_until INTEGER;
ALTER TABLE incidents ADD COLUMN escalation_base INTEGER;
