-- Discussions and pull requests of a repo (issue 12), numbered together
-- from 1 per repo as Hugging Face numbers them. A pull request's commits
-- live in git on refs/pr/{num}; only its record and events live here.
CREATE TABLE discussions (
    id               BIGSERIAL PRIMARY KEY,
    repo_id          BIGINT NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
    num              BIGINT NOT NULL,
    title            TEXT NOT NULL,
    -- NULL once the author's account is deleted (shown as "deleted").
    author_id        BIGINT REFERENCES users (id) ON DELETE SET NULL,
    is_pull_request  BOOLEAN NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('open', 'closed', 'merged', 'draft')),
    -- The branch a pull request merges into (short name); NULL for discussions.
    target_branch    TEXT,
    merge_commit     TEXT,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (repo_id, num),
    CHECK (is_pull_request = (target_branch IS NOT NULL))
);
CREATE INDEX discussions_author ON discussions (author_id);

-- The last number given out per repo: taken with an upsert, whose row lock
-- makes concurrent openings wait for each other instead of sharing a number.
CREATE TABLE discussion_counters (
    repo_id   BIGINT PRIMARY KEY REFERENCES repos (id) ON DELETE CASCADE,
    last_num  BIGINT NOT NULL
);

-- What happened in a discussion, in order. `content` is a comment's latest
-- markdown source (rendered and sanitized only when shown); `data` holds
-- the other kinds' fields: {"status"}, {"from","to"}, {"oid","subject"}.
CREATE TABLE discussion_events (
    id             BIGSERIAL PRIMARY KEY,
    discussion_id  BIGINT NOT NULL REFERENCES discussions (id) ON DELETE CASCADE,
    kind           TEXT NOT NULL CHECK (kind IN ('comment', 'status-change', 'title-change', 'commit')),
    author_id      BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    content        TEXT,
    edited         BOOLEAN NOT NULL DEFAULT false,
    hidden         BOOLEAN NOT NULL DEFAULT false,
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    data           JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX discussion_events_discussion ON discussion_events (discussion_id, id);
CREATE INDEX discussion_events_author ON discussion_events (author_id);
