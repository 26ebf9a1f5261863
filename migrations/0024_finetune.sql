-- Paid fine-tuning: files uploaded for it (OpenAI's /v1/files), jobs in
-- OpenAI's shape, their events and checkpoints. The training itself is a
-- `fine-tune` job on the one queue (inference_jobs); a fine-tune job points
-- at it and follows it.

-- Files uploaded with purpose `fine-tune`, kept in object storage under
-- `finetune/files/{id}`. Owned by a user or an organisation.
CREATE TABLE finetune_files (
    id            TEXT PRIMARY KEY CHECK (id ~ '^file-[a-z0-9]{24}$'),
    namespace_id  BIGINT NOT NULL REFERENCES namespaces (id) ON DELETE CASCADE,
    created_by    BIGINT REFERENCES users (id) ON DELETE SET NULL,
    filename      TEXT NOT NULL CHECK (length(filename) BETWEEN 1 AND 255),
    purpose       TEXT NOT NULL,
    bytes         BIGINT NOT NULL CHECK (bytes >= 0),
    sha256        TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX finetune_files_owner ON finetune_files (namespace_id, created_at);

CREATE TABLE finetune_jobs (
    id                TEXT PRIMARY KEY CHECK (id ~ '^ftjob-[a-z0-9]{24}$'),
    -- Who owns the job and pays for it: a user, or an organisation whose
    -- admin created it. RESTRICT, as for the ledger: money history stays.
    namespace_id      BIGINT NOT NULL REFERENCES namespaces (id) ON DELETE RESTRICT,
    created_by        BIGINT REFERENCES users (id) ON DELETE SET NULL,
    -- The base model as asked (`ns/name`), and the commit it resolved to.
    base_repo_id      BIGINT REFERENCES repos (id) ON DELETE SET NULL,
    model             TEXT NOT NULL,
    base_revision     TEXT NOT NULL,
    -- A file id, or `datasets/{ns}/{name}/{path}@{rev}`.
    training_file     TEXT NOT NULL,
    validation_file   TEXT,
    suffix            TEXT,
    seed              BIGINT NOT NULL,
    -- Resolved hyperparameters (numbers, no "auto"), LoRA fields included.
    hyperparameters   JSONB NOT NULL,
    -- Examples are cut at this many tokens.
    max_length        INT NOT NULL,
    metadata          JSONB,
    -- Also publish the merged full checkpoint.
    merge             BOOLEAN NOT NULL DEFAULT false,
    status            TEXT NOT NULL DEFAULT 'validating_files'
                      CHECK (status IN ('validating_files', 'queued', 'running',
                                        'succeeded', 'failed', 'cancelled')),
    -- OpenAI's error object: {code, message, param}.
    error             JSONB,
    -- The validation report: counts, errors by category, token statistics.
    report            JSONB,
    -- Tokens of one epoch (chat template included, cut at max_length), and
    -- the estimate's price: tokens × epochs at the hold's rate.
    epoch_tokens      BIGINT,
    estimate          BIGINT,
    hold_id           TEXT REFERENCES ledger_transfers (id),
    charge            BIGINT,
    trained_tokens    BIGINT,
    queue_job         UUID REFERENCES inference_jobs (id) ON DELETE SET NULL,
    -- The adapter repo (`ns/name`) once published; and the merged one.
    fine_tuned_model  TEXT,
    merged_model      TEXT,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at        TIMESTAMPTZ,
    finished_at       TIMESTAMPTZ,
    estimated_finish  TIMESTAMPTZ
);
CREATE INDEX finetune_jobs_owner ON finetune_jobs (namespace_id, created_at DESC);
CREATE UNIQUE INDEX finetune_jobs_queue_job ON finetune_jobs (queue_job);
CREATE INDEX finetune_jobs_unfinished ON finetune_jobs (status)
    WHERE status IN ('validating_files', 'queued', 'running');

-- OpenAI's job events: messages and metrics, in order.
CREATE TABLE finetune_events (
    id          BIGSERIAL PRIMARY KEY,
    job_id      TEXT NOT NULL REFERENCES finetune_jobs (id) ON DELETE CASCADE,
    level       TEXT NOT NULL CHECK (level IN ('info', 'warn', 'error')),
    type        TEXT NOT NULL CHECK (type IN ('message', 'metrics')),
    message     TEXT NOT NULL,
    data        JSONB,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX finetune_events_job ON finetune_events (job_id, id);

-- Checkpoints the trainer uploaded (`finetune/jobs/{job}/checkpoints/{step}/`):
-- a lost lease resumes from the last one.
CREATE TABLE finetune_checkpoints (
    id          TEXT PRIMARY KEY,
    job_id      TEXT NOT NULL REFERENCES finetune_jobs (id) ON DELETE CASCADE,
    step        BIGINT NOT NULL,
    files       TEXT[] NOT NULL,
    metrics     JSONB NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (job_id, step)
);

-- A fine-tune's usage record: tokens trained (the usage record's own
-- prompt/generated counts stay those of inference).
ALTER TABLE usage_records ADD COLUMN trained_tokens BIGINT NOT NULL DEFAULT 0;

-- A job on an adapter names the base model the worker merges it into.
ALTER TABLE inference_jobs
    ADD COLUMN base_repo_id   BIGINT REFERENCES repos (id) ON DELETE CASCADE,
    ADD COLUMN base_repo_name TEXT,
    ADD COLUMN base_revision  TEXT;
