-- Who uploaded each xorb, whatever became of the repo they uploaded it for.
-- `xet_xorb_links` rows go with their repo, but hf_xet remembers the xorbs
-- it uploaded for the rest of the process (and in its cache) and never
-- uploads them again: a shard for a new repo naming a xorb whose first repo
-- was deleted must still be accepted for the user who uploaded it. Having
-- uploaded the bytes proves the user holds them, so this grants them nothing
-- they did not have.
CREATE TABLE xet_xorb_uploaders (
    hash        TEXT NOT NULL REFERENCES xet_xorbs (hash),
    user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, hash)
);

INSERT INTO xet_xorb_uploaders (hash, user_id, created_at)
SELECT hash, user_id, min(created_at) FROM xet_xorb_links GROUP BY hash, user_id;
