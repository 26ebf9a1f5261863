"""The card check huggingface_hub runs before uploading a README
(`POST /api/validate-yaml`): `RepoCard.validate`, and the check inside
`create_commit` that stops an upload with bad metadata before any file is sent."""

import pytest
from huggingface_hub import CommitOperationAdd, DatasetCard, ModelCard, RepoCard

INVALID_MODEL_INDEX = """---
model-index: foo
---

This is a modelcard with an invalid metadata section.
"""


def test_card_validate_refuses_bad_metadata(hub):
    ModelCard("---\nlicense: mit\nlanguage: [zh, en]\ntags: [a]\n---\n# ok\n").validate()
    with pytest.raises(ValueError, match='- Error: "model-index" must be an array'):
        RepoCard(INVALID_MODEL_INDEX).validate()
    with pytest.raises(ValueError, match='- Error: "license" must be a string'):
        ModelCard("---\nlicense:\n  name: mit\n---\n# x\n").validate()
    # Checked as the card's repo type: a dataset may list several licenses.
    DatasetCard("---\nlicense: [mit, cc-by-4.0]\n---\n# d\n").validate()
    with pytest.raises(ValueError):
        ModelCard("---\nlicense: [mit, cc-by-4.0]\n---\n# m\n").validate()


def test_a_commit_with_bad_metadata_fails_before_uploading(api, hub, name):
    repo_id = f"{hub.user}/{name('card')}"
    api.create_repo(repo_id)
    before = api.model_info(repo_id).sha
    with pytest.raises(ValueError, match="Invalid metadata in README.md"):
        api.create_commit(
            repo_id=repo_id,
            operations=[
                CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=INVALID_MODEL_INDEX.encode()),
                CommitOperationAdd(path_in_repo="file.txt", path_or_fileobj=b"content"),
            ],
            commit_message="bad card",
        )
    assert api.model_info(repo_id).sha == before


def test_a_card_without_metadata_is_uploaded_with_a_warning(api, hub, name):
    repo_id = f"{hub.user}/{name('bare-card')}"
    api.create_repo(repo_id)
    with pytest.warns(UserWarning, match="Warnings while validating metadata in README.md"):
        api.upload_file(path_or_fileobj=b"This is a modelcard without metadata", path_in_repo="README.md",
                        repo_id=repo_id)
    assert api.file_exists(repo_id, "README.md")
