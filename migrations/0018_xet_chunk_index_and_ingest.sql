-- The hub's chunk index: where a stored chunk can be found. When the hub
-- turns a file into xorbs itself (a Git LFS or browser upload), it stores
-- only the chunks not found here, so a new revision of a file costs only
-- the chunks that changed, whether it came through Xet or through LFS.
-- Chunks of xorbs uploaded through Xet are indexed as they are accepted.
-- A chunk in several xorbs is indexed once; losing that row (its xorb
-- collected) loses only a dedupe opportunity.
CREATE TABLE xet_chunks (
    hash  BYTEA PRIMARY KEY CHECK (length(hash) = 32),
    xorb  TEXT NOT NULL REFERENCES xet_xorbs (hash) ON DELETE CASCADE,
    idx   INTEGER NOT NULL CHECK (idx >= 0)
);
CREATE INDEX xet_chunks_xorb ON xet_chunks (xorb);

-- LFS objects waiting to be turned into xorbs. A row is removed only once
-- the file's reconstruction is recorded, so a crash mid-way repeats the
-- work (chunks already stored are found in the index) and loses nothing.
-- Every object stored before this migration is queued: existing data dirs
-- convert in the background.
CREATE TABLE xet_ingest_queue (
    oid         TEXT PRIMARY KEY REFERENCES lfs_objects (oid) ON DELETE CASCADE,
    queued_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    attempts    INTEGER NOT NULL DEFAULT 0,
    not_before  TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_error  TEXT
);
CREATE INDEX xet_ingest_queue_due ON xet_ingest_queue (not_before);

INSERT INTO xet_ingest_queue (oid) SELECT oid FROM lfs_objects;

-- Set by a collection that finds the xorb unused; a later collection, a
-- grace period on, removes it if it is still unused. A client that skipped
-- uploading a xorb it believes stored has that long to send its shard.
ALTER TABLE xet_xorbs ADD COLUMN unused_since TIMESTAMPTZ;
