-- Alerts and incidents (issue #7). Every alert, from monitoring or from outside, first lands
-- in alert_inbox (monitoring's in the transaction that records the hard state change); the
-- correlator takes the inbox in order, deduplicates into alerts, groups alerts into incidents
-- and deletes the inbox row in the same transaction, so nothing is lost or counted twice.

CREATE TABLE alert_sources (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    entity_id     INTEGER NOT NULL REFERENCES entities(id),
    name          TEXT NOT NULL,
    kind          TEXT NOT NULL,     -- alertmanager, webhook
    token_hash    TEXT NOT NULL UNIQUE,
    prefix        TEXT NOT NULL,
    revoked_at    INTEGER,
    last_used_at  INTEGER,
    created_by    TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE TABLE incidents (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    entity_id        INTEGER NOT NULL REFERENCES entities(id),
    title            TEXT NOT NULL,
    status           TEXT NOT NULL,     -- triggered, acknowledged, resolved
    urgency          TEXT NOT NULL,     -- high, low
    impact           INTEGER NOT NULL,  -- assets affected, those broken and their dependents
    priority         INTEGER NOT NULL,  -- 1 to 5
    group_key        TEXT NOT NULL,     -- asset:<id>, service:<name> or key:<dedup key>
    cause_asset_id   INTEGER REFERENCES assets(id) ON DELETE SET NULL,
    assignee_id      INTEGER REFERENCES users(id) ON DELETE SET NULL,
    merged_into      INTEGER REFERENCES incidents(id),
    paged            BOOLEAN NOT NULL DEFAULT FALSE,
    reopened         INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    acknowledged_at  INTEGER,
    acknowledged_by  TEXT,
    resolved_at      INTEGER,
    resolved_by      TEXT
);
CREATE INDEX incidents_by_status ON incidents (status, id);
CREATE INDEX incidents_entity ON incidents (entity_id, id);
-- One open incident per group.
CREATE UNIQUE INDEX incidents_open_group ON incidents (entity_id, group_key)
    WHERE status <> 'resolved';

CREATE TABLE alerts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    entity_id    INTEGER NOT NULL REFERENCES entities(id),
    source       TEXT NOT NULL,     -- monitoring, alertmanager, webhook
    source_id    INTEGER REFERENCES alert_sources(id) ON DELETE SET NULL,
    dedup_key    TEXT NOT NULL,
    status       TEXT NOT NULL,     -- firing, resolved
    severity     TEXT NOT NULL,     -- critical, warning, info
    summary      TEXT NOT NULL,
    details      TEXT NOT NULL,     -- JSON object
    links        TEXT NOT NULL,     -- JSON array of {href, text}
    asset_id     INTEGER REFERENCES assets(id) ON DELETE SET NULL,
    check_id     INTEGER REFERENCES checks(id) ON DELETE SET NULL,
    service      TEXT NOT NULL,
    incident_id  INTEGER REFERENCES incidents(id) ON DELETE SET NULL,
    suppressed   TEXT NOT NULL,     -- why it opened no incident, else empty
    updates      INTEGER NOT NULL DEFAULT 1,
    first_at     INTEGER NOT NULL,
    last_at      INTEGER NOT NULL,
    resolved_at  INTEGER
);
-- One firing alert per key: deduplication.
CREATE UNIQUE INDEX alerts_firing_key ON alerts (dedup_key) WHERE status = 'firing';
CREATE INDEX alerts_by_key ON alerts (dedup_key, id);
CREATE INDEX alerts_incident ON alerts (incident_id);
CREATE INDEX alerts_by_status ON alerts (status, id);

CREATE TABLE incident_assets (
    incident_id  INTEGER NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    asset_id     INTEGER NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
    role         TEXT NOT NULL,     -- cause, impacted
    PRIMARY KEY (incident_id, asset_id)
);
CREATE INDEX incident_assets_asset ON incident_assets (asset_id);

CREATE TABLE incident_events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id  INTEGER NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    at           INTEGER NOT NULL,
    kind         TEXT NOT NULL,     -- opened, alert_fired, alert_resolved, acknowledged, ...
    actor        TEXT NOT NULL,
    text         TEXT NOT NULL,
    alert_id     INTEGER
);
CREATE INDEX incident_events_incident ON incident_events (incident_id, id);

CREATE TABLE alert_inbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at  INTEGER NOT NULL,
    signal       TEXT NOT NULL      -- JSON, pupitre_store::incidents::Signal
);
