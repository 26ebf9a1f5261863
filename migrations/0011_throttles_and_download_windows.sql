-- Password log-in and sign-up throttles, and one counted download per client
-- and window. Both live here, not in a node's memory: several hub nodes
-- share them.

-- Attempts at log-in and sign-up, per client address. A log-in attempt also
-- names the account it tried (`account_key`: the user's id, or a hash of the
-- name typed when there is no such user, so a missing account is throttled
-- exactly as an existing one). A successful log-in removes the attempts of
-- its (account, address) pair; the rest expire with the window.
CREATE TABLE auth_attempts (
    kind         TEXT NOT NULL CHECK (kind IN ('login', 'signup')),
    ip           TEXT NOT NULL,
    account_key  TEXT NOT NULL DEFAULT '',
    at           TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX auth_attempts_kind_ip_at ON auth_attempts (kind, ip, at);
CREATE INDEX auth_attempts_at ON auth_attempts (at);

-- The account-wide lock-out let anyone lock a user out from every address
-- by typing wrong passwords; its columns and the per-address failure table
-- give way to auth_attempts.
DROP TABLE login_failures;
ALTER TABLE users DROP COLUMN failed_logins, DROP COLUMN locked_until;

-- When a client's last counted download of a repo was: another download by
-- the same client within the window is not counted again.
-- `client`: `user:<id>` for a signed-in user, else `ip:<address>`.
CREATE TABLE download_windows (
    repo_id     BIGINT NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
    client      TEXT NOT NULL,
    counted_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (repo_id, client)
);
CREATE INDEX download_windows_counted_at ON download_windows (counted_at);
