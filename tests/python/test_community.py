"""Discussions and pull requests with the real huggingface_hub client (issue 12):
a pull request from a user without write access (upload_folder(create_pr=True)),
more commits to it with the client and with git, comments, renames, the owner's
merge, conflicts, reopening, who may do what, private repos, listings, and the
pull request's files read through hf_hub_download, HfFileSystem and
list_repo_refs."""

from __future__ import annotations

import json
import os
import subprocess
import uuid

import pytest
from huggingface_hub import CommitOperationAdd, HfApi, HfFileSystem, hf_hub_download
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

from helpers import run_client


@pytest.fixture(scope="module")
def bob(hub):
    return HfApi(endpoint=hub.endpoint, token=hub.other_token)


@pytest.fixture(scope="module")
def carol(hub):
    user = f"carol{uuid.uuid4().hex[:8]}"
    hub.create_user(user)
    return HfApi(endpoint=hub.endpoint, token=hub.create_token(user, write=True))


def _git(cwd, *args):
    env = {
        **os.environ,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Bob",
        "GIT_AUTHOR_EMAIL": "bob@example.com",
        "GIT_COMMITTER_NAME": "Bob",
        "GIT_COMMITTER_EMAIL": "bob@example.com",
    }
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def _authed(hub, token, repo_id):
    return hub.endpoint.replace("http://", f"http://user:{token}@", 1) + f"/{repo_id}.git"


def test_pull_request_from_a_reader_reviewed_and_merged(hub, api, bob, carol, name, tmp_path):
    repo_id = f"{hub.user}/{name('pr')}"
    api.create_repo(repo_id)
    api.upload_file(path_or_fileobj=b"hello\n", path_in_repo="README.md", repo_id=repo_id)
    main_before = api.model_info(repo_id).sha

    # bob cannot write to alice's repo, but upload_folder(create_pr=True) opens a pull request.
    folder = tmp_path / "proposal"
    (folder / "sub").mkdir(parents=True)
    (folder / "notes.txt").write_text("from bob\n")
    (folder / "sub" / "more.txt").write_text("more\n")
    with pytest.raises(HfHubHTTPError) as e:
        bob.upload_folder(folder_path=folder, repo_id=repo_id)
    assert e.value.response.status_code == 403
    info = bob.upload_folder(folder_path=folder, repo_id=repo_id, create_pr=True,
                             commit_message="Add notes", commit_description="Please merge")
    assert info.pr_url == f"{hub.endpoint}/{repo_id}/discussions/1"
    assert info.pr_revision == "refs/pr/1" and info.pr_num == 1
    assert api.model_info(repo_id).sha == main_before

    # The pull request's files read like any revision's.
    path = hf_hub_download(repo_id, "notes.txt", revision="refs/pr/1", token=hub.token)
    assert open(path).read() == "from bob\n"
    fs = HfFileSystem(endpoint=hub.endpoint, token=hub.token, skip_instance_cache=True)
    assert fs.read_text(f"{repo_id}@refs/pr/1/sub/more.txt") == "more\n"
    assert not api.file_exists(repo_id, "notes.txt")

    # bob adds a commit with the client, then one with git.
    bob.create_commit(repo_id, operations=[CommitOperationAdd("second.txt", b"2")],
                      commit_message="Second", revision="refs/pr/1")
    work = tmp_path / "clone"
    out = _git(tmp_path, "clone", _authed(hub, hub.other_token, repo_id), str(work))
    assert out.returncode == 0, out.stderr
    assert _git(work, "fetch", "origin", "refs/pr/1").returncode == 0
    assert _git(work, "checkout", "FETCH_HEAD").returncode == 0
    (work / "from_git.txt").write_text("git\n")
    _git(work, "add", "from_git.txt")
    assert _git(work, "commit", "-m", "From git").returncode == 0
    refused = _git(work, "push", "origin", "HEAD:refs/heads/main")
    assert refused.returncode != 0 and "write access" in refused.stderr, refused.stderr
    pushed = _git(work, "push", "origin", "HEAD:refs/pr/1")
    assert pushed.returncode == 0, pushed.stderr

    # carol (another reader) can neither add to bob's pull request nor close it.
    with pytest.raises(HfHubHTTPError) as e:
        carol.create_commit(repo_id, operations=[CommitOperationAdd("x.txt", b"x")],
                            commit_message="Sneak", revision="refs/pr/1")
    assert e.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as e:
        carol.change_discussion_status(repo_id, 1, "closed")
    assert e.value.response.status_code == 403
    _git(work, "remote", "set-url", "origin", _authed(hub, carol.token, repo_id))
    (work / "carol.txt").write_text("c\n")
    _git(work, "add", "carol.txt")
    _git(work, "commit", "-m", "Carol")
    refused = _git(work, "push", "origin", "HEAD:refs/pr/1")
    assert refused.returncode != 0 and "only its author" in refused.stderr, refused.stderr

    # Comments and a rename.
    comment = carol.comment_discussion(repo_id, 1, "Nice **work**")
    assert comment.content == "Nice **work**" and "<strong>work</strong>" in comment.rendered
    rename = bob.rename_discussion(repo_id, 1, "Add notes and more")
    assert (rename.old_title, rename.new_title) == ("Add notes", "Add notes and more")

    details = api.get_discussion_details(repo_id, 1)
    # upload_folder opens its pull request as a draft (create_pull_request), then commits to it.
    assert details.is_pull_request and details.status == "draft" and details.author == hub.other_user
    assert details.target_branch == "refs/heads/main"
    assert details.conflicting_files == []
    assert "+++ b/notes.txt" in details.diff and "+++ b/from_git.txt" in details.diff
    commits = [e.summary for e in details.events if e.type == "commit"]
    assert commits == ["Add notes", "Second", "From git"]
    assert details.events[0].type == "comment" and details.events[0].content == "Please merge"

    # Only writers merge; the owner does.
    with pytest.raises(HfHubHTTPError) as e:
        bob.merge_pull_request(repo_id, 1)
    assert e.value.response.status_code == 403
    api.merge_pull_request(repo_id, 1, comment="Thanks")
    merged = api.get_discussion_details(repo_id, 1)
    assert merged.status == "merged" and merged.merge_commit_oid == api.model_info(repo_id).sha
    files = set(api.list_repo_files(repo_id))
    assert {"notes.txt", "sub/more.txt", "second.txt", "from_git.txt"} <= files
    assert "carol.txt" not in files

    refs = api.list_repo_refs(repo_id, include_pull_requests=True)
    last_commit = [e for e in details.events if e.type == "commit"][-1]
    assert [(r.ref, r.target_commit) for r in refs.pull_requests] == [("refs/pr/1", last_commit.oid)]


def test_conflicting_pull_request_is_refused_and_a_closed_one_reopens(hub, api, bob, name):
    repo_id = f"{hub.user}/{name('conflict')}"
    api.create_repo(repo_id)
    api.upload_file(path_or_fileobj=b"v1\n", path_in_repo="config.txt", repo_id=repo_id)
    pr = bob.create_commit(repo_id, operations=[CommitOperationAdd("config.txt", b"bob\n")],
                           commit_message="Bob's config", create_pr=True)
    api.upload_file(path_or_fileobj=b"alice\n", path_in_repo="config.txt", repo_id=repo_id)
    head = api.model_info(repo_id).sha

    assert api.get_discussion_details(repo_id, pr.pr_num).conflicting_files == ["config.txt"]
    with pytest.raises(HfHubHTTPError) as e:
        api.merge_pull_request(repo_id, pr.pr_num)
    assert e.value.response.status_code == 409
    assert "config.txt" in str(e.value)
    assert api.model_info(repo_id).sha == head
    assert api.get_discussion_details(repo_id, pr.pr_num).status == "open"

    # bob resolves it on his pull request; closing and reopening works; then it merges.
    bob.create_commit(repo_id, operations=[CommitOperationAdd("config.txt", b"alice\n")],
                      commit_message="Take alice's", revision=pr.pr_revision)
    event = bob.change_discussion_status(repo_id, pr.pr_num, "closed", comment="Not yet")
    assert event.new_status == "closed"
    with pytest.raises(HfHubHTTPError):
        api.merge_pull_request(repo_id, pr.pr_num)
    assert bob.change_discussion_status(repo_id, pr.pr_num, "open").new_status == "open"
    api.merge_pull_request(repo_id, pr.pr_num)
    assert api.get_discussion_details(repo_id, pr.pr_num).status == "merged"


def test_discussions_filters_and_paging(hub, api, bob, name):
    repo_id = f"{hub.user}/{name('list')}"
    api.create_repo(repo_id)
    made = [api.create_discussion(repo_id, f"Question number {i}") for i in range(52)]
    pr = bob.create_pull_request(repo_id, "A draft")
    assert pr.status == "draft" and pr.num == 53 and pr.git_reference == "refs/pr/53"
    assert api.model_info(repo_id, revision="refs/pr/53").sha == api.model_info(repo_id).sha
    api.change_discussion_status(repo_id, made[0].num, "closed")

    everything = list(api.get_repo_discussions(repo_id))  # pages of 50
    assert [d.num for d in everything] == list(range(53, 0, -1))
    assert [d.num for d in api.get_repo_discussions(repo_id, discussion_type="pull_request")] == [53]
    assert len(list(api.get_repo_discussions(repo_id, discussion_type="discussion"))) == 52
    assert [d.num for d in api.get_repo_discussions(repo_id, discussion_status="closed")] == [1]
    assert len(list(api.get_repo_discussions(repo_id, discussion_status="open"))) == 52
    assert [d.num for d in api.get_repo_discussions(repo_id, author=hub.other_user)] == [53]

    # Editing is the author's, hiding the writers'.
    comment = bob.comment_discussion(repo_id, 2, "first")
    edited = bob.edit_discussion_comment(repo_id, 2, comment.id, "second")
    assert edited.edited and edited.content == "second"
    with pytest.raises(HfHubHTTPError):
        api.edit_discussion_comment(repo_id, 2, comment.id, "not mine")
    with pytest.raises(HfHubHTTPError):
        bob.hide_discussion_comment(repo_id, 2, comment.id)
    hidden = api.hide_discussion_comment(repo_id, 2, comment.id)
    assert hidden.hidden and hidden.content == ""


def test_private_repo_discussions_are_invisible(hub, api, bob, name):
    repo_id = f"{hub.user}/{name('private')}"
    api.create_repo(repo_id, private=True)
    api.create_discussion(repo_id, "Internal matter")
    for client in (bob, HfApi(endpoint=hub.endpoint, token=False)):
        with pytest.raises(RepositoryNotFoundError):
            list(client.get_repo_discussions(repo_id))
        with pytest.raises(RepositoryNotFoundError):
            client.get_discussion_details(repo_id, 1)
    with pytest.raises(RepositoryNotFoundError):
        bob.comment_discussion(repo_id, 1, "hello?")
    with pytest.raises(RepositoryNotFoundError):
        bob.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo_id, create_pr=True)


def test_a_readers_pull_request_with_large_files_goes_through_xet(hub, api, bob, name, tmp_path):
    repo_id = f"{hub.user}/{name('weights')}"
    api.create_repo(repo_id)
    folder = tmp_path / "weights"
    folder.mkdir()
    data = os.urandom(3 * 1024 * 1024)
    (folder / "model.safetensors").write_bytes(data)
    info = bob.upload_folder(folder_path=folder, repo_id=repo_id, create_pr=True, commit_message="Add weights")
    assert info.pr_num == 1
    path = hf_hub_download(repo_id, "model.safetensors", revision=info.pr_revision, token=hub.token)
    assert open(path, "rb").read() == data
    assert not api.file_exists(repo_id, "model.safetensors")
    api.merge_pull_request(repo_id, 1)
    [entry] = api.get_paths_info(repo_id, ["model.safetensors"])
    assert entry.lfs is not None and entry.lfs.size == len(data)


def test_a_readers_pull_request_with_large_files_goes_through_lfs(hub, api, name, tmp_path):
    """Without hf_xet, a reader's large files go through the LFS batch API:
    allowed for a new pull request (the client names no ref) and for their own
    `refs/pr/N`, never for a branch."""
    repo_id = f"{hub.user}/{name('lfs-pr')}"
    api.create_repo(repo_id)
    first, second = tmp_path / "model.safetensors", tmp_path / "extra.bin"
    first.write_bytes(os.urandom(2 * 1024 * 1024))
    second.write_bytes(os.urandom(1024 * 1024))
    offset = hub.log_offset()
    out = run_client(
        f"""
        import json
        from huggingface_hub import CommitOperationAdd, HfApi
        from huggingface_hub.errors import HfHubHTTPError
        from huggingface_hub.utils._runtime import is_xet_available
        assert not is_xet_available()
        bob = HfApi(token={hub.other_token!r})
        try:
            bob.upload_file(path_or_fileobj={str(first)!r}, path_in_repo="model.safetensors", repo_id={repo_id!r})
            raise SystemExit("a reader uploaded to main")
        except HfHubHTTPError as e:
            assert e.response.status_code == 403, e
        info = bob.upload_file(path_or_fileobj={str(first)!r}, path_in_repo="model.safetensors",
                               repo_id={repo_id!r}, create_pr=True)
        bob.create_commit({repo_id!r}, operations=[CommitOperationAdd("extra.bin", {str(second)!r})],
                          commit_message="More", revision=info.pr_revision)
        print(json.dumps(info.pr_num))
        """,
        env={"HF_HUB_DISABLE_XET": "1"},
    )
    assert json.loads(out.strip().splitlines()[-1]) == 1
    requests = hub.requests_since(offset)
    assert any(p.endswith("/info/lfs/objects/batch") for _, p in requests), requests
    assert not any("/xet-write-token/" in p for _, p in requests), requests
    for path, local in (("model.safetensors", first), ("extra.bin", second)):
        got = hf_hub_download(repo_id, path, revision="refs/pr/1", token=hub.token)
        assert open(got, "rb").read() == local.read_bytes()
    assert not api.file_exists(repo_id, "model.safetensors")
    api.merge_pull_request(repo_id, 1)
    [entry] = api.get_paths_info(repo_id, ["extra.bin"])
    assert entry.lfs is not None and entry.lfs.size == 1024 * 1024
