-- The BLOBs of the metric history are compressed already: PostgreSQL stores them out of line
-- when large, without trying to compress them again (SQLite's migration 0008 changes the
-- tables' layout; PostgreSQL's heap tables need no such change).
ALTER TABLE metric_ingest ALTER COLUMN data SET STORAGE EXTERNAL;
ALTER TABLE metric_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
ALTER TABLE metric_rollups ALTER COLUMN data SET STORAGE EXTERNAL;
