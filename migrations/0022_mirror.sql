-- Mirror mode: upstream hubs, the repos mirrored from them (on demand or
-- kept in sync), the policy that decides what may be fetched, and what the
-- cache of fetched large files holds.

CREATE TABLE mirror_upstreams (
    id               BIGSERIAL PRIMARY KEY,
    name             TEXT NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    kind             TEXT NOT NULL CHECK (kind IN ('hf', 'modelscope')),
    endpoint         TEXT NOT NULL,
    -- The upstream token, sealed (AES-256-GCM) under a key derived from the
    -- hub secret: used by the mirror only, never shown.
    token_sealed     TEXT,
    enabled          BOOLEAN NOT NULL DEFAULT true,
    -- Asked in this order for a repo the hub does not hold.
    position         INT NOT NULL DEFAULT 0,
    -- The local users who may read the repos of this upstream that are
    -- private there (fetched with the upstream token).
    private_readers  BIGINT[] NOT NULL DEFAULT '{}',
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX mirror_upstreams_name ON mirror_upstreams (lower(name));

-- One row: what may be fetched from upstreams, and how the cache is kept.
CREATE TABLE mirror_policy (
    id                  BOOLEAN PRIMARY KEY DEFAULT true CHECK (id),
    -- Repo id patterns (`Qwen/*`); an empty allow list allows every id.
    allow               TEXT[] NOT NULL DEFAULT '{}',
    deny                TEXT[] NOT NULL DEFAULT '{}',
    -- Serve only what is cached; never contact an upstream.
    offline             BOOLEAN NOT NULL DEFAULT false,
    -- Whether anonymous callers may make the hub fetch a repo it lacks.
    anonymous_fetch     BOOLEAN NOT NULL DEFAULT false,
    -- How long refs fetched from upstream are served before asking again.
    freshness_seconds   INT NOT NULL DEFAULT 300 CHECK (freshness_seconds >= 0),
    -- Large-file bytes cached per mirrored repo, and in all (NULL: no cap).
    max_repo_bytes      BIGINT CHECK (max_repo_bytes > 0),
    max_total_bytes     BIGINT CHECK (max_total_bytes > 0)
);
INSERT INTO mirror_policy DEFAULT VALUES;

-- Namespaces the mirror created for upstream owners (no members: only the
-- mirror writes there).
CREATE TABLE mirror_namespaces (
    namespace_id  BIGINT PRIMARY KEY REFERENCES namespaces (id) ON DELETE CASCADE,
    upstream_id   BIGINT NOT NULL REFERENCES mirror_upstreams (id) ON DELETE CASCADE
);

CREATE TABLE mirror_repos (
    repo_id           BIGINT PRIMARY KEY REFERENCES repos (id) ON DELETE CASCADE,
    upstream_id       BIGINT NOT NULL REFERENCES mirror_upstreams (id) ON DELETE CASCADE,
    -- A pinned repo's cached files are never evicted.
    pinned            BOOLEAN NOT NULL DEFAULT false,
    -- Kept in sync (`hub mirror add`): the revisions whose large files are
    -- fetched (empty: every branch and tag), and how often.
    synced            BOOLEAN NOT NULL DEFAULT false,
    sync_revisions    TEXT[] NOT NULL DEFAULT '{}',
    sync_every        INTERVAL,
    next_sync_at      TIMESTAMPTZ,
    -- The last sync: when it ended, how far it got, what went wrong.
    sync_started_at   TIMESTAMPTZ,
    synced_at         TIMESTAMPTZ,
    sync_done_bytes   BIGINT NOT NULL DEFAULT 0,
    sync_total_bytes  BIGINT NOT NULL DEFAULT 0,
    sync_error        TEXT,
    -- The refs: when they were last fetched from upstream, and last tried.
    refreshed_at      TIMESTAMPTZ,
    refresh_tried_at  TIMESTAMPTZ,
    refresh_error     TEXT,
    last_read_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX mirror_repos_next_sync ON mirror_repos (next_sync_at) WHERE synced;

-- Large files the mirror fetched, per repo: what caps and eviction count.
CREATE TABLE mirror_objects (
    repo_id       BIGINT NOT NULL REFERENCES mirror_repos (repo_id) ON DELETE CASCADE,
    oid           TEXT NOT NULL,
    size          BIGINT NOT NULL,
    fetched_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_read_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (repo_id, oid)
);
CREATE INDEX mirror_objects_lru ON mirror_objects (last_read_at);

-- What eviction removed, for the admin page.
CREATE TABLE mirror_evictions (
    id          BIGSERIAL PRIMARY KEY,
    repo_id     BIGINT REFERENCES repos (id) ON DELETE SET NULL,
    repo_name   TEXT NOT NULL,
    oid         TEXT NOT NULL,
    size        BIGINT NOT NULL,
    reason      TEXT NOT NULL,
    at          TIMESTAMPTZ NOT NULL DEFAULT now()
);
