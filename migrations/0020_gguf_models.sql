-- GGUF repos (issue 15): a request may name a quantisation (`ns/name:Q4_K_M`),
-- so a repo at a commit is described once per quantisation asked for
-- (`variant`: the tag in upper case, '' for the default choice), and the
-- job carries the .gguf file(s) it was admitted for.
ALTER TABLE inference_models ADD COLUMN variant TEXT NOT NULL DEFAULT '';
-- The chosen quantisation and its file (all parts of a split one, in order);
-- NULL for safetensors.
ALTER TABLE inference_models ADD COLUMN gguf_tag TEXT;
ALTER TABLE inference_models ADD COLUMN gguf_files TEXT[];
-- Every quantisation tag the repo offers at this commit (for /v1/models).
ALTER TABLE inference_models ADD COLUMN gguf_tags TEXT[];
ALTER TABLE inference_models DROP CONSTRAINT inference_models_pkey;
ALTER TABLE inference_models ADD PRIMARY KEY (repo_id, revision, variant);

ALTER TABLE inference_jobs ADD COLUMN gguf_files TEXT[];
