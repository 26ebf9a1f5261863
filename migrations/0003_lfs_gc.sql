-- Garbage collection of LFS objects: a link that no ref reaches any more is
-- first marked, and dropped only when a later run, a grace period on, still
-- finds it unreferenced; so a commit or push that is about to reference an
-- object (and has checked its link) never loses it.
ALTER TABLE repo_lfs_links ADD COLUMN unreferenced_since TIMESTAMPTZ;
CREATE INDEX lfs_objects_created_at ON lfs_objects (created_at);
