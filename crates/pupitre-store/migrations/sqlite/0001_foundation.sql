-- Accounts, profiles, entities, sessions, API tokens and the audit log.
-- Timestamps are epoch milliseconds (INTEGER) so that SQL stays portable.

CREATE TABLE entities (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    parent_id   INTEGER REFERENCES entities(id),
    name        TEXT NOT NULL,
    comment     TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE UNIQUE INDEX entities_parent_name ON entities(COALESCE(parent_id, 0), name);
INSERT INTO entities (parent_id, name, comment, created_at, updated_at)
VALUES (NULL, 'Root entity', '', 0, 0);

CREATE TABLE profiles (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT NOT NULL UNIQUE,
    description   TEXT NOT NULL DEFAULT '',
    levels        TEXT NOT NULL,
    assigned_only BOOLEAN NOT NULL DEFAULT FALSE,
    builtin       BOOLEAN NOT NULL DEFAULT FALSE,
    entity_id     INTEGER NOT NULL REFERENCES entities(id),
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE users (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    login                TEXT NOT NULL,
    login_key            TEXT NOT NULL UNIQUE,
    display_name         TEXT NOT NULL,
    email                TEXT NOT NULL DEFAULT '',
    phone                TEXT NOT NULL DEFAULT '',
    language             TEXT NOT NULL,
    time_zone            TEXT NOT NULL,
    active               BOOLEAN NOT NULL DEFAULT TRUE,
    entity_id            INTEGER NOT NULL REFERENCES entities(id),
    password_hash        TEXT,
    must_change_password BOOLEAN NOT NULL DEFAULT FALSE,
    notify_email         BOOLEAN NOT NULL DEFAULT TRUE,
    notify_sms           BOOLEAN NOT NULL DEFAULT FALSE,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    last_login_at        INTEGER
);
CREATE INDEX users_entity ON users(entity_id, id);

CREATE TABLE assignments (
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    entity_id  INTEGER NOT NULL REFERENCES entities(id),
    profile_id INTEGER NOT NULL REFERENCES profiles(id),
    recursive  BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (user_id, entity_id, profile_id)
);

CREATE TABLE teams (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    entity_id   INTEGER NOT NULL REFERENCES entities(id),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (entity_id, name)
);

CREATE TABLE team_members (
    team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user ON team_members(user_id);

CREATE TABLE user_templates (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL UNIQUE,
    entity_id    INTEGER NOT NULL REFERENCES entities(id),
    profile_id   INTEGER NOT NULL REFERENCES profiles(id),
    recursive    BOOLEAN NOT NULL DEFAULT FALSE,
    team_id      INTEGER REFERENCES teams(id) ON DELETE SET NULL,
    language     TEXT NOT NULL,
    time_zone    TEXT NOT NULL,
    notify_email BOOLEAN NOT NULL DEFAULT TRUE,
    notify_sms   BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);

CREATE TABLE sessions (
    token_hash   TEXT PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token   TEXT NOT NULL,
    source       TEXT NOT NULL DEFAULT '',
    user_agent   TEXT NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    levels       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);
CREATE INDEX api_tokens_user ON api_tokens(user_id);

CREATE TABLE audit_log (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    at           INTEGER NOT NULL,
    actor_id     INTEGER,
    actor_login  TEXT NOT NULL,
    source       TEXT NOT NULL,
    action       TEXT NOT NULL,
    object_type  TEXT NOT NULL,
    object_id    INTEGER,
    object_label TEXT NOT NULL,
    entity_id    INTEGER,
    changes      TEXT NOT NULL
);
CREATE INDEX audit_log_object ON audit_log(object_type, object_id);
CREATE INDEX audit_log_action_label ON audit_log(action, object_label, at);
CREATE INDEX audit_log_action_source ON audit_log(action, source, at);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
