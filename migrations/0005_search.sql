-- Search fields, kept by the after-commit step: the model card's text (for
-- `search`) and the tags a repo is listed under (for `filter`), derived from
-- the card by hub-core's repos::tags.
ALTER TABLE repos
    ADD COLUMN card_text TEXT NOT NULL DEFAULT '',
    ADD COLUMN tags      TEXT[] NOT NULL DEFAULT '{}';
CREATE INDEX repos_tags ON repos USING GIN (tags);

-- Recent likes per repo, for the trending score.
CREATE INDEX repo_likes_repo_created ON repo_likes (repo_id, created_at);
