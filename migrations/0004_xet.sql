-- The write-only Xet CAS. Xorbs (chunk containers uploaded by hf_xet) are
-- kept by their verified Merkle hash, so a later shard can reference them
-- without uploading them again: that is chunk dedupe. Each xorb's chunk
-- layout is recorded so that a file can be rebuilt with ranged reads.
CREATE TABLE xet_xorbs (
    hash           TEXT PRIMARY KEY CHECK (hash ~ '^[0-9a-f]{64}$'),
    -- Stored bytes (chunks only, no footer).
    size           BIGINT NOT NULL CHECK (size > 0),
    chunk_count    INTEGER NOT NULL CHECK (chunk_count > 0),
    -- Where each chunk starts, then the end: chunk_count + 1 entries.
    chunk_offsets  INTEGER[] NOT NULL CHECK (cardinality(chunk_offsets) = chunk_count + 1),
    -- Each chunk's uncompressed length.
    chunk_sizes    INTEGER[] NOT NULL CHECK (cardinality(chunk_sizes) = chunk_count),
    uploaded_by    BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Who uploaded which xorb for which repo. A shard may use a xorb only
-- through such a row for its own repo or its own user: knowing a hash is
-- not enough.
CREATE TABLE xet_xorb_links (
    hash        TEXT NOT NULL REFERENCES xet_xorbs (hash),
    repo_id     BIGINT NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
    user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (hash, repo_id, user_id)
);
CREATE INDEX xet_xorb_links_user ON xet_xorb_links (user_id, hash);
CREATE INDEX xet_xorb_links_repo ON xet_xorb_links (repo_id, hash);
