-- Credentials that SNMP and database checks name, and the time zones of recurring downtimes.
-- Credentials' secrets are sealed by the server (AES-256-GCM, see src/vault.rs) under a key
-- the database does not hold.

CREATE TABLE credentials (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    entity_id    INTEGER NOT NULL REFERENCES entities(id),
    name         TEXT NOT NULL UNIQUE,
    description  TEXT NOT NULL,
    kind         TEXT NOT NULL,   -- snmp_community, snmp_v3, password
    params       TEXT NOT NULL,   -- JSON: version, user, level, protocols; nothing secret
    secret       TEXT,            -- sealed: the community, authentication password or password
    priv_secret  TEXT,            -- sealed: the SNMPv3 privacy password
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX credentials_entity ON credentials (entity_id, name);

-- The IANA time zone a recurring downtime's days and start time are in (they were UTC).
ALTER TABLE downtimes ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';
