-- The sha256 of plain (git-stored) blobs, which git does not keep (it names
-- blobs by sha1) and the ModelScope listing reports for every file: computed
-- once per blob and repo, then read from here. Rows go with their repo.
CREATE TABLE blob_sha256 (
    repo_id BIGINT NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
    oid     TEXT   NOT NULL,
    sha256  TEXT   NOT NULL,
    PRIMARY KEY (repo_id, oid)
);
