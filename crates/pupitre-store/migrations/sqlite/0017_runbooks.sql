-- Runbooks (issue #7): versioned markdown attached to an asset (a server, a service, an
-- application…), a check template or an alert's service name, with the corrective actions
-- it declares (commands run on the asset's agent); and the actions launched from incidents,
-- whose output goes to the incident's timeline.

CREATE TABLE runbooks (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    entity_id    INTEGER NOT NULL REFERENCES entities(id),
    target_kind  TEXT NOT NULL,     -- asset, check_template, service
    target       TEXT NOT NULL,     -- the asset's or template's id, or the service's name
    version      INTEGER NOT NULL,  -- the current one
    created_by   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX runbooks_target ON runbooks (target_kind, target);

CREATE TABLE runbook_versions (
    runbook_id  INTEGER NOT NULL REFERENCES runbooks(id) ON DELETE CASCADE,
    version     INTEGER NOT NULL,
    title       TEXT NOT NULL,
    body        TEXT NOT NULL,      -- markdown
    actions     TEXT NOT NULL,      -- JSON [{name, label, argv, user, timeout_s, automatic}]
    note        TEXT NOT NULL,      -- what changed
    author      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (runbook_id, version)
);

CREATE TABLE incident_actions (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id      INTEGER NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    runbook_id       INTEGER REFERENCES runbooks(id) ON DELETE SET NULL,
    runbook_version  INTEGER NOT NULL,
    action           TEXT NOT NULL,
    asset_id         INTEGER NOT NULL,
    command_id       INTEGER NOT NULL REFERENCES agent_commands(id) ON DELETE CASCADE,
    automatic        BOOLEAN NOT NULL,
    state            TEXT NOT NULL,    -- running, done
    started_by       TEXT NOT NULL,
    started_at       INTEGER NOT NULL,
    finished_at      INTEGER
);
CREATE INDEX incident_actions_incident ON incident_actions (incident_id, id);
CREATE INDEX incident_actions_running ON incident_actions (state);
CREATE INDEX incident_actions_asset ON incident_actions (asset_id, action, started_at);
