-- Chunks and rollup rows become rowid tables. In a WITHOUT ROWID table a row's payload is kept
-- in the page only up to about 1,000 bytes, and the rest of a BLOB of a few kilobytes then takes
-- an overflow page of its own, mostly empty: the file was twice the size of its BLOBs. A rowid
-- table keeps up to about 4,000 bytes in the page, and the unique index stays small.

CREATE TABLE metric_chunks_by_rowid (
    id         INTEGER PRIMARY KEY,
    series_id  INTEGER NOT NULL,
    window_at  INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    first_at   INTEGER NOT NULL,
    last_at    INTEGER NOT NULL,
    samples    INTEGER NOT NULL,
    compacted  INTEGER NOT NULL,
    data       BLOB NOT NULL
);
INSERT INTO metric_chunks_by_rowid
    (series_id, window_at, seq, first_at, last_at, samples, compacted, data)
    SELECT series_id, window_at, seq, first_at, last_at, samples, compacted, data
    FROM metric_chunks ORDER BY series_id, window_at, seq;
DROP TABLE metric_chunks;
ALTER TABLE metric_chunks_by_rowid RENAME TO metric_chunks;
CREATE UNIQUE INDEX metric_chunks_key ON metric_chunks (series_id, window_at, seq);
CREATE INDEX metric_chunks_window ON metric_chunks (window_at);
CREATE INDEX metric_chunks_pending ON metric_chunks (window_at) WHERE NOT compacted;

CREATE TABLE metric_rollups_by_rowid (
    id         INTEGER PRIMARY KEY,
    series_id  INTEGER NOT NULL,
    step       INTEGER NOT NULL,
    span_at    INTEGER NOT NULL,
    points     INTEGER NOT NULL,
    data       BLOB NOT NULL
);
INSERT INTO metric_rollups_by_rowid (series_id, step, span_at, points, data)
    SELECT series_id, step, span_at, points, data FROM metric_rollups
    ORDER BY series_id, step, span_at;
DROP TABLE metric_rollups;
ALTER TABLE metric_rollups_by_rowid RENAME TO metric_rollups;
CREATE UNIQUE INDEX metric_rollups_key ON metric_rollups (series_id, step, span_at);
