-- Hosted Spaces: what runs (or why nothing does) for each Space, its
-- variables and secrets. A Space's run is a `space-run` job on the one
-- queue (inference_jobs): its build and run logs are that job's `log`
-- events, its stages its `stage` events.

CREATE TABLE space_runtimes (
    repo_id           BIGINT PRIMARY KEY REFERENCES repos (id) ON DELETE CASCADE,
    -- The Space's own origin: `{subdomain}.{HUB_SPACES_DOMAIN}`. Made from
    -- the owner and name once, so a rename keeps the origin (as HF does).
    subdomain         TEXT NOT NULL UNIQUE,
    -- Hugging Face's SpaceStage names; SLEEPING is shown for a STOPPED Space
    -- that will wake on the next visit.
    stage             TEXT NOT NULL DEFAULT 'NO_APP_FILE',
    error_message     TEXT,
    -- The commit the stage is about.
    sha               TEXT,
    -- `static` (served by the hub itself), gradio, streamlit, docker, python.
    sdk               TEXT,
    -- Hardware asked for (cpu-basic unless a runner offers more).
    hardware          TEXT NOT NULL DEFAULT 'cpu-basic',
    -- Seconds without a visit before the app is put to sleep; NULL: the
    -- hub's default; -1: never.
    sleep_time_s      INT,
    paused            BOOLEAN NOT NULL DEFAULT false,
    -- The run in progress (or the last one, whose events are its logs).
    job_id            UUID REFERENCES inference_jobs (id) ON DELETE SET NULL,
    last_activity_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    stage_changed_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX space_runtimes_job ON space_runtimes (job_id);

-- Variables are shown to the Space's admins and readable by its app;
-- secrets are sealed with a key derived from the hub's secret and are
-- never shown again, only handed to the app's environment.
CREATE TABLE space_env (
    repo_id      BIGINT NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
    key          TEXT NOT NULL,
    secret       BOOLEAN NOT NULL,
    value        TEXT NOT NULL,
    description  TEXT,
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (repo_id, key)
);
