-- The inventory: sites, buildings, rooms, racks, assets with their interfaces, disks,
-- attributes, tags and installed software, relations between assets, and the search terms
-- of the global search box.

CREATE TABLE sites (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    entity_id   INTEGER NOT NULL REFERENCES entities(id),
    name        TEXT NOT NULL,
    address     TEXT NOT NULL DEFAULT '',
    time_zone   TEXT NOT NULL,
    comment     TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (entity_id, name)
);

CREATE TABLE buildings (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id     INTEGER NOT NULL REFERENCES sites(id),
    entity_id   INTEGER NOT NULL REFERENCES entities(id),
    name        TEXT NOT NULL,
    comment     TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (site_id, name)
);

CREATE TABLE rooms (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id            INTEGER NOT NULL REFERENCES sites(id),
    building_id        INTEGER REFERENCES buildings(id),
    entity_id          INTEGER NOT NULL REFERENCES entities(id),
    name               TEXT NOT NULL,
    grid_rows          INTEGER NOT NULL DEFAULT 0,
    grid_cols          INTEGER NOT NULL DEFAULT 0,
    power_capacity_w   INTEGER,
    cooling_capacity_w INTEGER,
    notes              TEXT NOT NULL DEFAULT '',
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    UNIQUE (site_id, name)
);

CREATE TABLE racks (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id     INTEGER NOT NULL REFERENCES rooms(id),
    site_id     INTEGER NOT NULL REFERENCES sites(id),
    entity_id   INTEGER NOT NULL REFERENCES entities(id),
    name        TEXT NOT NULL,
    height_u    INTEGER NOT NULL,
    grid_row    INTEGER,
    grid_col    INTEGER,
    max_power_w INTEGER,
    comment     TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (room_id, name),
    UNIQUE (room_id, grid_row, grid_col)
);

CREATE TABLE assets (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    entity_id           INTEGER NOT NULL REFERENCES entities(id),
    asset_type          TEXT NOT NULL,
    name                TEXT NOT NULL,
    hostname            TEXT NOT NULL DEFAULT '',
    manufacturer        TEXT NOT NULL DEFAULT '',
    model               TEXT NOT NULL DEFAULT '',
    serial              TEXT NOT NULL DEFAULT '',
    asset_tag           TEXT NOT NULL DEFAULT '',
    uuid                TEXT NOT NULL DEFAULT '',
    status              TEXT NOT NULL,
    status_since        TEXT NOT NULL DEFAULT '',
    ordered_on          TEXT NOT NULL DEFAULT '',
    received_on         TEXT NOT NULL DEFAULT '',
    in_production_on    TEXT NOT NULL DEFAULT '',
    retired_on          TEXT NOT NULL DEFAULT '',
    disposed_on         TEXT NOT NULL DEFAULT '',
    owner_team_id       INTEGER REFERENCES teams(id) ON DELETE SET NULL,
    site_id             INTEGER REFERENCES sites(id),
    room_id             INTEGER REFERENCES rooms(id),
    rack_id             INTEGER REFERENCES racks(id),
    rack_u              INTEGER,
    rack_face           TEXT,
    height_u            INTEGER NOT NULL DEFAULT 1,
    full_depth          BOOLEAN NOT NULL DEFAULT TRUE,
    location_note       TEXT NOT NULL DEFAULT '',
    os_family           TEXT,
    os_name             TEXT NOT NULL DEFAULT '',
    os_version          TEXT NOT NULL DEFAULT '',
    cpu_model           TEXT NOT NULL DEFAULT '',
    cpu_sockets         INTEGER,
    cpu_cores           INTEGER,
    memory_mb           INTEGER,
    management_ip       TEXT NOT NULL DEFAULT '',
    power_draw_w        INTEGER,
    purchase_date       TEXT NOT NULL DEFAULT '',
    purchase_cost_cents INTEGER,
    supplier            TEXT NOT NULL DEFAULT '',
    order_ref           TEXT NOT NULL DEFAULT '',
    warranty_end        TEXT NOT NULL DEFAULT '',
    contract_id         INTEGER,
    notes               TEXT NOT NULL DEFAULT '',
    quarantined         BOOLEAN NOT NULL DEFAULT FALSE,
    locks               TEXT NOT NULL DEFAULT '',
    agent_device_id     TEXT NOT NULL DEFAULT '',
    last_inventory_at   INTEGER,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);
CREATE UNIQUE INDEX assets_type_serial ON assets(asset_type, serial) WHERE serial <> '';
CREATE UNIQUE INDEX assets_tag ON assets(asset_tag) WHERE asset_tag <> '';
CREATE INDEX assets_entity ON assets(entity_id, id);
CREATE INDEX assets_type ON assets(asset_type, id);
CREATE INDEX assets_status ON assets(status, id);
CREATE INDEX assets_rack ON assets(rack_id) WHERE rack_id IS NOT NULL;
CREATE INDEX assets_room ON assets(room_id) WHERE room_id IS NOT NULL;
CREATE INDEX assets_site ON assets(site_id, id) WHERE site_id IS NOT NULL;
CREATE INDEX assets_hostname ON assets(lower(hostname)) WHERE hostname <> '';
CREATE INDEX assets_uuid ON assets(uuid) WHERE uuid <> '';
CREATE INDEX assets_device ON assets(agent_device_id) WHERE agent_device_id <> '';
CREATE INDEX assets_serial ON assets(serial) WHERE serial <> '';

CREATE TABLE asset_interfaces (
    asset_id   INTEGER NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    name       TEXT NOT NULL,
    mac        TEXT NOT NULL,
    ips        TEXT NOT NULL,
    vlan       INTEGER,
    speed_mbps INTEGER,
    PRIMARY KEY (asset_id, position)
) WITHOUT ROWID;

CREATE TABLE asset_disks (
    asset_id INTEGER NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    name     TEXT NOT NULL,
    model    TEXT NOT NULL,
    serial   TEXT NOT NULL,
    size_mb  INTEGER,
    PRIMARY KEY (asset_id, position)
) WITHOUT ROWID;

CREATE TABLE asset_attributes (
    asset_id INTEGER NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (asset_id, key)
) WITHOUT ROWID;

CREATE TABLE asset_tags (
    asset_id INTEGER NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
    tag      TEXT NOT NULL,
    PRIMARY KEY (asset_id, tag)
) WITHOUT ROWID;
CREATE INDEX asset_tags_tag ON asset_tags(tag, asset_id);

-- Lower-case words an asset is found by (name, host name, serial, tag, MAC, IP…); the
-- global search is a prefix range scan on this index.
CREATE TABLE asset_search (
    term     TEXT NOT NULL,
    asset_id INTEGER NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
    PRIMARY KEY (term, asset_id)
) WITHOUT ROWID;
CREATE INDEX asset_search_asset ON asset_search(asset_id);

CREATE TABLE asset_relations (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL,
    from_id    INTEGER NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
    to_id      INTEGER NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
    from_port  TEXT NOT NULL DEFAULT '',
    to_port    TEXT NOT NULL DEFAULT '',
    cable_id   TEXT NOT NULL DEFAULT '',
    comment    TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    UNIQUE (kind, from_id, to_id, from_port, to_port)
);
CREATE INDEX asset_relations_from ON asset_relations(from_id);
CREATE INDEX asset_relations_to ON asset_relations(to_id);

-- One row per distinct (name, version, publisher); `name_key` is the lower-case name.
CREATE TABLE software (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    name      TEXT NOT NULL,
    name_key  TEXT NOT NULL,
    version   TEXT NOT NULL,
    publisher TEXT NOT NULL,
    UNIQUE (name, version, publisher)
);
CREATE INDEX software_name ON software(name_key, version);

CREATE TABLE asset_software (
    asset_id    INTEGER NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
    software_id INTEGER NOT NULL REFERENCES software(id),
    PRIMARY KEY (asset_id, software_id)
) WITHOUT ROWID;
CREATE INDEX asset_software_software ON asset_software(software_id, asset_id);

-- Rows locked to serialise writes that check a graph-wide rule (relation cycles).
CREATE TABLE inventory_locks (
    name TEXT PRIMARY KEY,
    n    INTEGER NOT NULL
);
INSERT INTO inventory_locks (name, n) VALUES ('relations', 0);
