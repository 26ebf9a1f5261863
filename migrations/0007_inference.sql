-- The free demo inference tier: worker tokens and sessions, the job queue
-- (claimed with FOR UPDATE SKIP LOCKED, leased, retried, dead-lettered),
-- the events workers report per attempt, and per-request usage records
-- (the paid tier bills from them).

-- One token per worker: the token is the worker's identity, so a worker
-- that registers again (it restarted) replaces its earlier session.
CREATE TABLE workers (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL,
    -- sha256 of the token, as for API tokens.
    token_hash  BYTEA NOT NULL UNIQUE,
    prefix      TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at  TIMESTAMPTZ
);

-- One run of a worker, from `register` until it registers again or goes silent.
CREATE TABLE worker_sessions (
    id                 UUID PRIMARY KEY,
    worker_id          BIGINT NOT NULL REFERENCES workers (id) ON DELETE CASCADE,
    capabilities       JSONB NOT NULL,
    device_kind        TEXT NOT NULL,
    memory_bytes       BIGINT NOT NULL,
    architectures      TEXT[] NOT NULL,
    tasks              TEXT[] NOT NULL,
    max_concurrent     INT NOT NULL,
    loaded_models      JSONB NOT NULL DEFAULT '[]',
    memory_used_bytes  BIGINT NOT NULL DEFAULT 0,
    state              TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'replaced')),
    started_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_heartbeat     TIMESTAMPTZ NOT NULL DEFAULT now(),
    ended_at           TIMESTAMPTZ
);
CREATE INDEX worker_sessions_worker ON worker_sessions (worker_id);
CREATE INDEX worker_sessions_active ON worker_sessions (last_heartbeat) WHERE state = 'active';

CREATE TABLE inference_jobs (
    id                UUID PRIMARY KEY,
    state             TEXT NOT NULL DEFAULT 'queued'
                      CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'dead')),
    task              TEXT NOT NULL,
    repo_id           BIGINT NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
    repo_name         TEXT NOT NULL,
    revision          TEXT NOT NULL,
    architecture      TEXT NOT NULL,
    memory_bytes      BIGINT NOT NULL,
    -- JSON as text: jsonb cannot hold \u0000, which a prompt or a token may.
    input             TEXT NOT NULL,
    -- Who asked: a signed-in account, else the client's address.
    account_id        BIGINT REFERENCES users (id) ON DELETE SET NULL,
    client_ip         TEXT NOT NULL,
    attempt           INT NOT NULL DEFAULT 0,
    max_attempts      INT NOT NULL,
    leased_to         UUID REFERENCES worker_sessions (id) ON DELETE SET NULL,
    lease_expires_at  TIMESTAMPTZ,
    last_error        TEXT,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at        TIMESTAMPTZ,
    finished_at       TIMESTAMPTZ
);
CREATE INDEX inference_jobs_queued ON inference_jobs (created_at) WHERE state = 'queued';
CREATE INDEX inference_jobs_running ON inference_jobs (lease_expires_at) WHERE state = 'running';
CREATE INDEX inference_jobs_leased ON inference_jobs (leased_to) WHERE state = 'running';
CREATE INDEX inference_jobs_account ON inference_jobs (account_id, created_at);
CREATE INDEX inference_jobs_ip ON inference_jobs (client_ip, created_at);

-- What a worker reported, once per (job, attempt, seq): a worker may resend.
CREATE TABLE inference_job_events (
    job_id      UUID NOT NULL REFERENCES inference_jobs (id) ON DELETE CASCADE,
    attempt     INT NOT NULL,
    seq         BIGINT NOT NULL,
    -- JSON as text, as for jobs' input.
    body        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, attempt, seq)
);

-- One row per request that consumed compute. `kind` leaves room for the
-- fine-tuning tier's own kinds; (kind, job_id) is the idempotency key.
CREATE TABLE usage_records (
    id                BIGSERIAL PRIMARY KEY,
    kind              TEXT NOT NULL DEFAULT 'inference',
    account_id        BIGINT REFERENCES users (id) ON DELETE SET NULL,
    client_ip         TEXT,
    job_id            UUID,
    repo_id           BIGINT,
    revision          TEXT,
    prompt_tokens     BIGINT NOT NULL DEFAULT 0,
    generated_tokens  BIGINT NOT NULL DEFAULT 0,
    worker_id         BIGINT REFERENCES workers (id) ON DELETE SET NULL,
    device_ms         BIGINT NOT NULL DEFAULT 0,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (kind, job_id)
);
CREATE INDEX usage_records_account ON usage_records (account_id, created_at);
CREATE INDEX usage_records_ip ON usage_records (client_ip, created_at);

-- What the hub learnt about a model at a commit (config.json, weight sizes),
-- so that serving it again and listing servable models read no git objects.
CREATE TABLE inference_models (
    repo_id       BIGINT NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
    revision      TEXT NOT NULL,
    architecture  TEXT NOT NULL,
    task          TEXT NOT NULL,
    memory_bytes  BIGINT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (repo_id, revision)
);
