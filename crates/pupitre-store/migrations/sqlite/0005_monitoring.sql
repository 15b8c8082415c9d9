-- Supervision: check templates, checks attached to assets, each check's current state and last
-- result, the events its hard state changes left, and downtimes.

CREATE TABLE check_templates (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    entity_id   INTEGER NOT NULL REFERENCES entities(id),
    name        TEXT NOT NULL UNIQUE,
    rule        TEXT NOT NULL,          -- JSON: asset types, OS families, tags, entity, statuses
    checks      TEXT NOT NULL,          -- JSON: the check definitions, in order
    host_check  INTEGER,                -- the position of the check that gives the host state
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE checks (
    id                     INTEGER PRIMARY KEY AUTOINCREMENT,
    asset_id               INTEGER NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
    entity_id              INTEGER NOT NULL REFERENCES entities(id),
    name                   TEXT NOT NULL,
    probe_kind             TEXT NOT NULL,
    probe                  TEXT NOT NULL,   -- JSON: the probe's parameters
    interval_s             INTEGER NOT NULL,
    retry_interval_s       INTEGER NOT NULL,
    timeout_s              INTEGER NOT NULL,
    max_attempts           INTEGER NOT NULL,
    warning                TEXT NOT NULL,
    critical               TEXT NOT NULL,
    notifications_enabled  INTEGER NOT NULL,
    host_check             INTEGER NOT NULL,
    template_id            INTEGER REFERENCES check_templates(id) ON DELETE CASCADE,
    template_index         INTEGER,
    heartbeat_hash         TEXT UNIQUE,
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL,
    UNIQUE (asset_id, name)
);
CREATE UNIQUE INDEX checks_one_host_check ON checks (asset_id) WHERE host_check <> 0;
CREATE UNIQUE INDEX checks_from_template ON checks (template_id, asset_id, template_index)
    WHERE template_id IS NOT NULL;
CREATE INDEX checks_entity ON checks (entity_id, id);

CREATE TABLE check_states (
    check_id             INTEGER PRIMARY KEY REFERENCES checks(id) ON DELETE CASCADE,
    state                TEXT NOT NULL,
    hard                 INTEGER NOT NULL,
    attempt              INTEGER NOT NULL,
    unreachable          INTEGER NOT NULL,
    last_hard_state      TEXT NOT NULL,
    last_change_at       INTEGER,
    last_hard_change_at  INTEGER,
    history              TEXT NOT NULL,   -- one letter per result, oldest first: o w c u
    flapping             INTEGER NOT NULL,
    problem_notified     INTEGER NOT NULL,
    ack_author           TEXT,
    ack_comment          TEXT,
    ack_at               INTEGER,
    ack_expires_at       INTEGER,
    last_run_at          INTEGER,
    duration_ms          INTEGER NOT NULL DEFAULT 0,
    output               TEXT NOT NULL DEFAULT '',
    long_output          TEXT NOT NULL DEFAULT '',
    perfdata             TEXT NOT NULL DEFAULT '',
    heartbeat_at         INTEGER,
    heartbeat_state      TEXT,
    heartbeat_message    TEXT
);
CREATE INDEX check_states_problems ON check_states (state) WHERE state <> 'ok';

CREATE TABLE check_events (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    check_id        INTEGER NOT NULL REFERENCES checks(id) ON DELETE CASCADE,
    at              INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    state           TEXT NOT NULL,
    previous_state  TEXT,
    unreachable     INTEGER NOT NULL,
    notify          INTEGER NOT NULL,
    output          TEXT NOT NULL
);
CREATE INDEX check_events_by_check ON check_events (check_id, id);

CREATE TABLE downtimes (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    entity_id         INTEGER NOT NULL REFERENCES entities(id),
    asset_id          INTEGER REFERENCES assets(id) ON DELETE CASCADE,
    check_id          INTEGER REFERENCES checks(id) ON DELETE CASCADE,
    starts_at         INTEGER NOT NULL,
    ends_at           INTEGER NOT NULL,
    weekdays          INTEGER,
    start_minute      INTEGER,
    duration_minutes  INTEGER,
    author            TEXT NOT NULL,
    comment           TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    CHECK ((asset_id IS NULL) <> (check_id IS NULL))
);
CREATE INDEX downtimes_ends ON downtimes (ends_at);
