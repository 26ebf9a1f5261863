-- Bytes the Xet CAS rebuilt for each user, per hour: the quota of
-- HUB_XET_DAILY_BYTES over a rolling day sums a user's last 24 rows
-- (older ones are removed as the user uploads). In the database, not in a
-- node's memory: several hub nodes share it.
CREATE TABLE xet_rebuilt_bytes (
    user_id  BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hour     TIMESTAMPTZ NOT NULL,
    bytes    BIGINT NOT NULL CHECK (bytes >= 0),
    PRIMARY KEY (user_id, hour)
);
