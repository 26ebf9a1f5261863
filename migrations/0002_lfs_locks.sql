-- Git LFS file locks: at most one lock per path in a repo, held by one user.
CREATE TABLE lfs_locks (
    id          BIGSERIAL PRIMARY KEY,
    repo_id     BIGINT NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
    path        TEXT NOT NULL,
    owner_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    locked_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (repo_id, path)
);
CREATE INDEX lfs_locks_owner ON lfs_locks (owner_id);
