-- Metric history: series, their sources' cardinality, the durable ingest buffer, raw chunks
-- and the downsampled tiers. Samples are never one row each: a batch is one row of
-- metric_ingest, a series' two hours are one row of metric_chunks, and a day of minutes (or
-- 60 days of hours) one row of metric_rollups, all compressed by pupitre-series.

CREATE TABLE metric_series (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    source_kind  TEXT NOT NULL,        -- check, agent, scrape, import
    source_id    INTEGER NOT NULL,
    asset_id     INTEGER NOT NULL,     -- whose entity decides who may read it; no foreign key:
                                       -- history outlives the asset until its retention ends
    name         TEXT NOT NULL,
    labels       TEXT NOT NULL,        -- canonical, sorted: a="x",b="y"
    unit         TEXT NOT NULL,
    kind         TEXT NOT NULL,        -- gauge, counter, rate
    created_at   INTEGER NOT NULL,
    UNIQUE (source_kind, source_id, name, labels)
);
CREATE INDEX metric_series_name ON metric_series (name);
CREATE INDEX metric_series_asset ON metric_series (asset_id);

-- Each source's series count, and what its cardinality limit refused.
CREATE TABLE metric_sources (
    source_kind      TEXT NOT NULL,
    source_id        INTEGER NOT NULL,
    series           INTEGER NOT NULL,
    refused          INTEGER NOT NULL,
    refused_at       INTEGER,
    refused_example  TEXT NOT NULL,
    PRIMARY KEY (source_kind, source_id)
);

-- The durable ingest buffer: one row per acknowledged batch, until it is sealed into chunks.
-- AUTOINCREMENT: ids never go back, because a later batch's sample replaces an earlier one's
-- at the same timestamp.
CREATE TABLE metric_ingest (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at  INTEGER NOT NULL,
    samples      INTEGER NOT NULL,
    data         BLOB NOT NULL
);

-- Raw samples: chunks of one series within a two-hour window. A window holds several chunks
-- until it is compacted into one (seq: the latest batch in it).
CREATE TABLE metric_chunks (
    series_id  INTEGER NOT NULL,
    window_at  INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    first_at   INTEGER NOT NULL,
    last_at    INTEGER NOT NULL,
    samples    INTEGER NOT NULL,
    compacted  INTEGER NOT NULL,
    data       BLOB NOT NULL,
    PRIMARY KEY (series_id, window_at, seq)
) WITHOUT ROWID;
CREATE INDEX metric_chunks_window ON metric_chunks (window_at);
CREATE INDEX metric_chunks_pending ON metric_chunks (window_at) WHERE NOT compacted;

-- Downsampled points: one row per series, step and span of 1,440 steps.
CREATE TABLE metric_rollups (
    series_id  INTEGER NOT NULL,
    step       INTEGER NOT NULL,
    span_at    INTEGER NOT NULL,
    points     INTEGER NOT NULL,
    data       BLOB NOT NULL,
    PRIMARY KEY (series_id, step, span_at)
) WITHOUT ROWID;

-- One row: the maintenance lock (sealing, compaction and expiry take it in turn) and when
-- each last ran.
CREATE TABLE metric_maintenance (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    sealed_at     INTEGER,
    compacted_at  INTEGER,
    expired_at    INTEGER
);
INSERT INTO metric_maintenance (id) VALUES (1);
