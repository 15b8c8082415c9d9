-- Pupitre's agents: enrolment tokens, the agents with their own credentials, and the commands
-- the server sends them. Secrets are stored as SHA-256 hashes: the enrolment token and the
-- agent's credential are random 256-bit strings, so a fast hash suffices (as for API tokens).

CREATE TABLE agent_enrolments (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    entity_id    INTEGER NOT NULL REFERENCES entities(id),
    label        TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,     -- the token's first characters, to recognise it
    max_uses     INTEGER NOT NULL,
    uses         INTEGER NOT NULL DEFAULT 0,
    expires_at   INTEGER NOT NULL,
    revoked_at   INTEGER,
    created_by   TEXT NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX agent_enrolments_entity ON agent_enrolments (entity_id, created_at);

CREATE TABLE agents (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    entity_id         INTEGER NOT NULL REFERENCES entities(id),
    asset_id          INTEGER REFERENCES assets(id) ON DELETE SET NULL,
    name              TEXT NOT NULL,     -- the host name the agent reported
    machine_id        TEXT NOT NULL,
    status            TEXT NOT NULL,     -- pending, active, revoked
    secret_hash       TEXT NOT NULL UNIQUE,
    next_secret_hash  TEXT UNIQUE,       -- a rotation under way: valid until the agent uses it
    rotate            BOOLEAN NOT NULL DEFAULT FALSE,
    enrolment_id      INTEGER REFERENCES agent_enrolments(id),
    version           TEXT NOT NULL,
    os                TEXT NOT NULL,
    arch              TEXT NOT NULL,
    address           TEXT NOT NULL,
    config            TEXT NOT NULL,     -- JSON, pupitre_agent::wire::AgentConfig
    config_version    INTEGER NOT NULL,
    clock_skew_ms     INTEGER NOT NULL DEFAULT 0,
    last_seq          INTEGER NOT NULL DEFAULT 0,
    last_seen_at      INTEGER,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
CREATE INDEX agents_entity ON agents (entity_id, name);
CREATE INDEX agents_asset ON agents (asset_id);

CREATE TABLE agent_commands (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id          INTEGER NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    kind              TEXT NOT NULL,     -- exec, plugin
    spec              TEXT NOT NULL,     -- JSON, pupitre_agent::wire::CommandSpec
    state             TEXT NOT NULL,     -- queued, running, finished
    cancel_requested  BOOLEAN NOT NULL DEFAULT FALSE,
    outcome           TEXT,              -- exited, timeout, killed, failed
    exit_code         INTEGER,
    stdout            TEXT NOT NULL DEFAULT '',
    stderr            TEXT NOT NULL DEFAULT '',
    stdout_bytes      INTEGER NOT NULL DEFAULT 0,  -- produced, kept or not
    stderr_bytes      INTEGER NOT NULL DEFAULT 0,
    message           TEXT NOT NULL DEFAULT '',
    created_by        TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    started_at        INTEGER,
    finished_at       INTEGER
);
CREATE INDEX agent_commands_agent ON agent_commands (agent_id, state, id);
