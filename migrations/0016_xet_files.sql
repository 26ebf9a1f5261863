-- The Xet read path: how each file uploaded through Xet is made of xorb
-- chunks, kept per repo when the repo's shard is accepted, so the CAS can
-- answer hf_xet's reconstruction query and resolve can advertise the
-- file's Xet hash.
--
-- Per repo, not per content: a repo advertises and reconstructs only what
-- its own uploads described. A global record would tell the owner of any
-- repo holding a file whether someone else had uploaded it through Xet
-- (it would be advertised, its terms would name their xorbs), private
-- repos included.
--
-- A row is written only once the terms were rebuilt to the file's sha256
-- and their chunks hashed to `file_hash` (the Xet file hash).
CREATE TABLE xet_files (
    repo_id     BIGINT NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
    file_hash   TEXT NOT NULL CHECK (file_hash ~ '^[0-9a-f]{64}$'),
    -- The file's sha256 (the LFS oid the repo names it by).
    sha256      TEXT NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size        BIGINT NOT NULL CHECK (size >= 0),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (repo_id, file_hash)
);
-- A repo file is known by its LFS oid: this finds its Xet hash.
CREATE INDEX xet_files_sha256 ON xet_files (repo_id, sha256);

-- The file's terms in order: chunks [chunk_start, chunk_end) of a xorb,
-- `unpacked_bytes` long, starting at byte `file_offset` of the file (so a
-- ranged query finds its terms without summing the ones before).
CREATE TABLE xet_file_terms (
    repo_id         BIGINT NOT NULL,
    file_hash       TEXT NOT NULL,
    seq             INTEGER NOT NULL CHECK (seq >= 0),
    file_offset     BIGINT NOT NULL CHECK (file_offset >= 0),
    xorb_hash       TEXT NOT NULL REFERENCES xet_xorbs (hash),
    chunk_start     INTEGER NOT NULL CHECK (chunk_start >= 0),
    chunk_end       INTEGER NOT NULL CHECK (chunk_end > chunk_start),
    unpacked_bytes  INTEGER NOT NULL CHECK (unpacked_bytes > 0),
    PRIMARY KEY (repo_id, file_hash, seq),
    FOREIGN KEY (repo_id, file_hash) REFERENCES xet_files (repo_id, file_hash) ON DELETE CASCADE
);
-- Which files use a xorb (garbage collection of xorbs).
CREATE INDEX xet_file_terms_xorb ON xet_file_terms (xorb_hash);
