-- Foundation schema: namespaces (users and organisations share one name space),
-- sessions, API tokens, repos and what is recorded about them.

-- Users and organisations share one table of names so that a name is unique
-- across both without regard to case, as on Hugging Face.
CREATE TABLE namespaces (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('user', 'org')),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX namespaces_name_lower ON namespaces (lower(name));

CREATE TABLE users (
    id             BIGINT PRIMARY KEY REFERENCES namespaces (id) ON DELETE CASCADE,
    email          TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    full_name      TEXT NOT NULL DEFAULT '',
    is_admin       BOOLEAN NOT NULL DEFAULT false,
    -- Account lock-out after repeated failed log-ins.
    failed_logins  INT NOT NULL DEFAULT 0,
    locked_until   TIMESTAMPTZ
);
CREATE UNIQUE INDEX users_email_lower ON users (lower(email));

CREATE TABLE organizations (
    id         BIGINT PRIMARY KEY REFERENCES namespaces (id) ON DELETE CASCADE,
    full_name  TEXT NOT NULL DEFAULT ''
);

CREATE TABLE org_members (
    org_id   BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id  BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role     TEXT NOT NULL CHECK (role IN ('read', 'write', 'admin')),
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX org_members_user ON org_members (user_id);

-- Browser sessions: only the sha256 of the cookie value is stored.
CREATE TABLE sessions (
    token_hash  BYTEA PRIMARY KEY,
    user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

-- API tokens: shown once, stored only as a sha256 (they are long random
-- secrets, so a slow hash adds nothing but latency on every request).
CREATE TABLE api_tokens (
    id            BIGSERIAL PRIMARY KEY,
    user_id       BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('read', 'write')),
    token_hash    BYTEA NOT NULL UNIQUE,
    -- First characters of the token, to let a user recognise it in a list.
    prefix        TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used_at  TIMESTAMPTZ,
    revoked_at    TIMESTAMPTZ
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

-- Failed log-ins per client address, for slowing down password guessing
-- that spreads over many accounts.
CREATE TABLE login_failures (
    ip         TEXT NOT NULL,
    at         TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_ip_at ON login_failures (ip, at);

CREATE TABLE repos (
    -- Immutable: the git directory is laid out by it, some clients address repos by it.
    id              BIGSERIAL PRIMARY KEY,
    repo_type       TEXT NOT NULL CHECK (repo_type IN ('model', 'dataset', 'space')),
    namespace_id    BIGINT NOT NULL REFERENCES namespaces (id),
    name            TEXT NOT NULL,
    private         BOOLEAN NOT NULL DEFAULT false,
    default_branch  TEXT NOT NULL DEFAULT 'main',
    created_by      BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_modified   TIMESTAMPTZ NOT NULL DEFAULT now(),
    head_sha        TEXT,
    -- Model-card metadata, from README.md's front matter on the default branch.
    card_license       TEXT,
    card_language      TEXT[] NOT NULL DEFAULT '{}',
    card_tags          TEXT[] NOT NULL DEFAULT '{}',
    card_pipeline_tag  TEXT,
    card_library_name  TEXT,
    card_base_model    TEXT[] NOT NULL DEFAULT '{}',
    card_datasets      TEXT[] NOT NULL DEFAULT '{}',
    card_data          JSONB,
    card_error         TEXT,
    likes           BIGINT NOT NULL DEFAULT 0,
    downloads_total BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX repos_type_ns_name ON repos (repo_type, namespace_id, lower(name));

-- Old names of renamed repos keep answering (redirect to the repo's current name).
CREATE TABLE repo_redirects (
    repo_type     TEXT NOT NULL,
    full_name     TEXT NOT NULL,
    repo_id       BIGINT NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX repo_redirects_name ON repo_redirects (repo_type, lower(full_name));

-- Branches and tags as PostgreSQL last saw them; git is the truth for targets,
-- this table adds what git does not keep (creation time) and serves listings.
CREATE TABLE repo_refs (
    repo_id     BIGINT NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('branch', 'tag')),
    name        TEXT NOT NULL,
    target      TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (repo_id, kind, name)
);

CREATE TABLE repo_likes (
    repo_id     BIGINT NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
    user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (repo_id, user_id)
);

-- Downloads per repo per day (HF counts one download per request of the
-- repo's "counting" file; rolling 30-day sums come from this table).
CREATE TABLE repo_downloads_daily (
    repo_id  BIGINT NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
    day      DATE NOT NULL,
    count    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (repo_id, day)
);

-- Content-addressed large objects (Git LFS); a repo may read an object only
-- through a link, so knowing a hash never grants access.
CREATE TABLE lfs_objects (
    oid         TEXT PRIMARY KEY CHECK (oid ~ '^[0-9a-f]{64}$'),
    size        BIGINT NOT NULL CHECK (size >= 0),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE repo_lfs_links (
    repo_id     BIGINT NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
    oid         TEXT NOT NULL REFERENCES lfs_objects (oid),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (repo_id, oid)
);
CREATE INDEX repo_lfs_links_oid ON repo_lfs_links (oid);
