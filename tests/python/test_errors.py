"""The error classes huggingface_hub derives from status and X-Error-Code."""

from pathlib import Path

import pytest
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)


def test_repository_not_found(api, hub, tmp_path):
    missing = f"{hub.user}/does-not-exist-at-all"
    with pytest.raises(RepositoryNotFoundError) as e:
        hf_hub_download(missing, "config.json", cache_dir=str(tmp_path))
    assert e.value.response.status_code == 404
    with pytest.raises(RepositoryNotFoundError):
        api.model_info(missing)
    with pytest.raises(RepositoryNotFoundError):
        list(api.list_repo_tree(missing))
    with pytest.raises(RepositoryNotFoundError):
        api.list_repo_refs(missing)
    assert not api.repo_exists(missing)
    assert not api.repo_exists(f"{hub.user}/no-dataset", repo_type="dataset")


def test_repo_id_without_namespace_is_repository_not_found(api, tmp_path):
    # Every repo here has a namespace; an id without one is a missing repo
    # on every route, as on Hugging Face (not "no such route").
    with pytest.raises(RepositoryNotFoundError) as e:
        api.model_info("gpt2")
    assert e.value.response.status_code == 404
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("gpt2", revision="main")
    with pytest.raises(RepositoryNotFoundError):
        api.dataset_info("squad")
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("gpt2", "config.json", cache_dir=str(tmp_path))
    with pytest.raises(RepositoryNotFoundError):
        list(api.list_repo_tree("gpt2"))
    with pytest.raises(RepositoryNotFoundError):
        api.unlike("missing_repo_id")
    with pytest.raises(RepositoryNotFoundError):
        api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id="gpt2")
    assert not api.repo_exists("gpt2")
    assert not api.file_exists("gpt2", "config.json")


def test_revision_not_found(api, populated, tmp_path):
    with pytest.raises(RevisionNotFoundError) as e:
        hf_hub_download(populated.repo_id, "config.json", revision="no-such-branch", cache_dir=str(tmp_path))
    assert e.value.response.status_code == 404
    with pytest.raises(RevisionNotFoundError):
        api.model_info(populated.repo_id, revision="no-such-branch")
    with pytest.raises(RevisionNotFoundError):
        list(api.list_repo_tree(populated.repo_id, revision="no-such-branch"))
    with pytest.raises(RevisionNotFoundError):
        api.list_repo_commits(populated.repo_id, revision="0" * 40)
    # Uploading to a branch that does not exist.
    with pytest.raises(RevisionNotFoundError):
        api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=populated.repo_id,
                        revision="no-such-branch")
    assert api.revision_exists(populated.repo_id, "dev")
    assert api.revision_exists(populated.repo_id, "v1")
    assert not api.revision_exists(populated.repo_id, "no-such-branch")


def test_entry_not_found(api, populated, tmp_path):
    cache = tmp_path / "cache"
    with pytest.raises(RemoteEntryNotFoundError) as e:
        hf_hub_download(populated.repo_id, "missing.json", cache_dir=str(cache))
    assert isinstance(e.value, EntryNotFoundError)
    assert e.value.response.status_code == 404
    assert e.value.response.headers["X-Repo-Commit"] == populated.main
    # The client remembers the absence at that commit (it needs X-Repo-Commit).
    folder = cache / f"models--{populated.repo_id.replace('/', '--')}"
    assert (folder / ".no_exist" / populated.main / "missing.json").exists()
    assert not api.file_exists(populated.repo_id, "missing.json")
    assert api.file_exists(populated.repo_id, "sub/dir/file.txt")
    with pytest.raises(EntryNotFoundError):
        list(api.list_repo_tree(populated.repo_id, path_in_repo="no/such/folder"))


def test_private_repo_anonymous_gets_401(api, hub, name, tmp_path):
    repo_id = f"{hub.user}/{name('hidden')}"
    api.create_repo(repo_id, private=True)
    api.upload_file(path_or_fileobj=b"{}", path_in_repo="config.json", repo_id=repo_id)
    with pytest.raises(RepositoryNotFoundError) as e:
        hf_hub_download(repo_id, "config.json", token=False, cache_dir=str(tmp_path / "a"))
    assert e.value.response.status_code == 401
    assert e.value.response.headers["X-Error-Code"] == "RepoNotFound"
    # A missing repo answers the same: existence never leaks.
    with pytest.raises(RepositoryNotFoundError) as e2:
        hf_hub_download(f"{hub.user}/{name('nothing')}", "config.json", token=False,
                        cache_dir=str(tmp_path / "b"))
    assert e2.value.response.status_code == 401
    # Another user: 404, as for a missing repo.
    with pytest.raises(RepositoryNotFoundError) as e3:
        hf_hub_download(repo_id, "config.json", token=hub.other_token, cache_dir=str(tmp_path / "c"))
    assert e3.value.response.status_code == 404
    # The owner reads it.
    path = hf_hub_download(repo_id, "config.json", cache_dir=str(tmp_path / "d"))
    assert Path(path).read_bytes() == b"{}"


def test_invalid_token_is_401_without_repo_code(hub, populated):
    bad = HfApi(endpoint=hub.endpoint, token="hf_invalid_token_0000000000000000")
    with pytest.raises(HfHubHTTPError) as e:
        bad.model_info(populated.repo_id)
    assert not isinstance(e.value, RepositoryNotFoundError)
    assert e.value.response.status_code == 401
    assert "X-Error-Code" not in e.value.response.headers
    assert e.value.response.headers.get("X-Error-Message") == "Invalid credentials in Authorization header"


def test_messages_worded_as_hugging_face_words_them(api, hub, name):
    # huggingface_hub's own suite matches these texts (tests/test_hf_api.py).
    from huggingface_hub import CommitOperationAdd

    repo_id = f"{hub.user}/{name('wording')}"
    api.create_repo(repo_id)
    api.create_branch(repo_id, branch="cool-branch")
    with pytest.raises(HfHubHTTPError, match=r"Reference refs/heads/cool-branch already exists") as e:
        api.create_branch(repo_id, branch="cool-branch")
    assert e.value.response.status_code == 409
    with pytest.raises(HfHubHTTPError, match=r"Reference refs/heads/main already exists"):
        api.create_branch(repo_id, branch="main")
    api.create_branch(repo_id, branch="main", exist_ok=True)

    with pytest.raises(HfHubHTTPError, match="Cannot delete refs/heads/main"):
        api.delete_branch(repo_id, branch="main")
    with pytest.raises(HfHubHTTPError, match="Invalid rev id"):
        api.delete_branch(repo_id, branch="no-such-branch")
    api.create_tag(repo_id, tag="cool-tag")
    with pytest.raises(HfHubHTTPError, match="Invalid rev id"):
        api.delete_branch(repo_id, branch="cool-tag")

    other = f"{hub.user}/{name('wording-other')}"
    api.create_repo(other)
    with pytest.raises(HfHubHTTPError, match=r"A model repository called .* already exists"):
        api.move_repo(from_id=repo_id, to_id=other)

    parent = api.model_info(repo_id).sha
    api.upload_file(path_or_fileobj=b"moved on\n", path_in_repo="a.txt", repo_id=repo_id)
    with pytest.raises(HfHubHTTPError) as e:
        api.create_commit(repo_id, [CommitOperationAdd("b.txt", b"late\n")], commit_message="stale",
                          parent_commit=parent)
    assert e.value.response.status_code == 412
    assert "The branch was updated since you opened this page. Please refresh and try again." in str(e.value)
    assert not api.file_exists(repo_id, "b.txt")
