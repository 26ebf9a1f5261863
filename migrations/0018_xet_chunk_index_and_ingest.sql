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

-- LFS objects of repos waiting to be held as xorbs for that repo: chunked
-- (storing only chunks the index has in the repo's dedupe scope: its own
-- namespace's repos and public ones), or given the reconstruction another
-- repo of that scope has. Queued whenever an object is linked to a repo.
-- A row is removed only once the repo's record is written, so a crash
-- mid-way repeats the work (chunks already stored are found in the index)
-- and loses nothing. Every link made before this migration is queued:
-- existing data dirs convert in the background.
CREATE TABLE xet_ingest_queue (
    oid         TEXT NOT NULL REFERENCES lfs_objects (oid) ON DELETE CASCADE,
    repo_id     BIGINT NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
    queued_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    attempts    INTEGER NOT NULL DEFAULT 0,
    not_before  TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_error  TEXT,
    PRIMARY KEY (oid, repo_id)
);
CREATE INDEX xet_ingest_queue_due ON xet_ingest_queue (not_before);

INSERT INTO xet_ingest_queue (oid, repo_id) SELECT oid, repo_id FROM repo_lfs_links;

-- Set by a collection that finds the xorb unused; a later collection, a
-- grace period on, removes it if it is still unused. A client that skipped
-- uploading a xorb it believes stored has that long to send its shard.
ALTER TABLE xet_xorbs ADD COLUMN unused_since TIMESTAMPTZ;
