"""Trees, paths-info, refs, commit history, branches and tags, deletes."""

import re

import pytest
from huggingface_hub import CommitOperationAdd
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, RevisionNotFoundError

from helpers import BIG_SIZE, commit_sha, git_blob_sha1

HF_DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


def kinds(entries):
    return {e.path: type(e).__name__ for e in entries}


def test_list_repo_tree(api, populated):
    repo = populated.repo_id
    top = list(api.list_repo_tree(repo))
    assert kinds(top) == {
        ".gitattributes": "RepoFile", "config.json": "RepoFile", "weights.safetensors": "RepoFile",
        "big.bin": "RepoFile", "sub": "RepoFolder",
    }
    # Recursive listings include the folders, paths are from the repo root.
    everything = kinds(api.list_repo_tree(repo, recursive=True))
    assert everything == {**kinds(top), "sub/dir": "RepoFolder", "sub/top.txt": "RepoFile",
                          "sub/dir/file.txt": "RepoFile"}
    # A subfolder, by the encoded path the client sends (sub%2Fdir).
    deep = list(api.list_repo_tree(repo, path_in_repo="sub/dir"))
    assert [(e.path, e.size, e.blob_id) for e in deep] == [
        ("sub/dir/file.txt", 10, git_blob_sha1(b"deep file\n"))]
    assert set(kinds(api.list_repo_tree(repo, path_in_repo="sub"))) == {"sub/dir", "sub/top.txt"}
    files = {e.path: e for e in top if type(e).__name__ == "RepoFile"}
    assert files["big.bin"].size == BIG_SIZE and files["big.bin"].lfs.size == BIG_SIZE
    assert files["config.json"].lfs is None
    # The LFS files were uploaded through Xet: they carry their Xet hash.
    for e in files.values():
        assert (getattr(e, "xet_hash", None) is not None) == (e.lfs is not None), e
    # At other revisions.
    at_v1 = {e.path: e for e in api.list_repo_tree(repo, revision="v1")}
    assert at_v1["config.json"].size == len(populated.v1_config)
    at_sha = {e.path: e.size for e in api.list_repo_tree(repo, revision=populated.dev) if e.path != "sub"}
    assert at_sha["config.json"] == len(populated.dev_config)
    # expand: the last commit of each entry.
    expanded = {e.path: e for e in api.list_repo_tree(repo, expand=True)}
    assert expanded["config.json"].last_commit.oid == populated.main
    assert expanded["config.json"].last_commit.title == "second config"
    assert expanded["big.bin"].last_commit.oid == populated.first
    with pytest.raises(EntryNotFoundError):
        list(api.list_repo_tree(repo, path_in_repo="sub/nothing"))


def test_list_repo_files(api, populated):
    assert sorted(api.list_repo_files(populated.repo_id)) == sorted(list(populated.files) + [".gitattributes"])


def test_get_paths_info(api, populated):
    repo = populated.repo_id
    infos = api.get_paths_info(repo, ["config.json", "sub", "big.bin", "no/such/file"])
    got = {i.path: i for i in infos}
    assert set(got) == {"config.json", "sub", "big.bin"}
    assert type(got["sub"]).__name__ == "RepoFolder"
    assert got["config.json"].blob_id == git_blob_sha1(populated.files["config.json"])
    assert got["big.bin"].lfs.size == BIG_SIZE
    old = api.get_paths_info(repo, "config.json", revision="v1", expand=True)
    assert old[0].size == len(populated.v1_config)
    assert old[0].last_commit.oid == populated.first


def test_list_repo_refs(api, populated):
    refs = api.list_repo_refs(populated.repo_id)
    assert {(b.name, b.ref, b.target_commit) for b in refs.branches} == {
        ("main", "refs/heads/main", populated.main), ("dev", "refs/heads/dev", populated.dev)}
    assert [(t.name, t.ref, t.target_commit) for t in refs.tags] == [("v1", "refs/tags/v1", populated.first)]
    assert refs.converts == []
    with_prs = api.list_repo_refs(populated.repo_id, include_pull_requests=True)
    assert with_prs.pull_requests == []


def test_list_repo_commits_across_pages(api, hub, name):
    repo_id = f"{hub.user}/{name('history')}"
    api.create_repo(repo_id)
    made = []
    for i in range(60):
        info = api.create_commit(repo_id, [CommitOperationAdd(f"f{i % 7}.txt", f"{i}\n".encode())],
                                 commit_message=f"commit {i}", commit_description=f"body {i}")
        made.append(info.oid)
    commits = api.list_repo_commits(repo_id)
    assert len(commits) == 61
    assert [c.commit_id for c in commits[:60]] == made[::-1]
    assert commits[0].title == "commit 59"
    assert "body 59" in commits[0].message
    assert commits[-1].title == "initial commit"
    assert all(commit_sha(c.commit_id) for c in commits)
    assert all(c.created_at is not None for c in commits)
    assert commits[0].authors == [hub.user]
    formatted = api.list_repo_commits(repo_id, formatted=True)
    assert [c.commit_id for c in formatted] == [c.commit_id for c in commits]
    # By revision.
    older = api.list_repo_commits(repo_id, revision=made[9])
    assert [c.commit_id for c in older[:10]] == made[9::-1]
    assert len(older) == 11


def test_branches_and_tags(api, hub, name):
    repo_id = f"{hub.user}/{name('refs')}"
    api.create_repo(repo_id)
    first = api.upload_file(path_or_fileobj=b"one\n", path_in_repo="a.txt", repo_id=repo_id).oid
    second = api.upload_file(path_or_fileobj=b"two\n", path_in_repo="a.txt", repo_id=repo_id).oid

    api.create_branch(repo_id, branch="feature", revision=first)
    api.create_branch(repo_id, branch="from-main")
    with pytest.raises(HfHubHTTPError) as e:
        api.create_branch(repo_id, branch="feature")
    assert e.value.response.status_code == 409
    api.create_branch(repo_id, branch="feature", exist_ok=True)
    api.create_tag(repo_id, tag="v0.1", revision=first, tag_message="first release")
    api.create_tag(repo_id, tag="latest")
    with pytest.raises(HfHubHTTPError) as e:
        api.create_tag(repo_id, tag="v0.1")
    assert e.value.response.status_code == 409
    api.create_tag(repo_id, tag="v0.1", exist_ok=True)

    refs = api.list_repo_refs(repo_id)
    assert {b.name: b.target_commit for b in refs.branches} == {"main": second, "feature": first,
                                                                "from-main": second}
    assert {t.name: t.target_commit for t in refs.tags} == {"v0.1": first, "latest": second}

    # Commits to a branch move only that branch.
    on_feature = api.upload_file(path_or_fileobj=b"feature\n", path_in_repo="a.txt", repo_id=repo_id,
                                 revision="feature").oid
    assert api.model_info(repo_id, revision="feature").sha == on_feature
    assert api.model_info(repo_id).sha == second
    assert api.list_repo_commits(repo_id, revision="feature")[1].commit_id == first
    # A tag is not a branch.
    with pytest.raises(HfHubHTTPError):
        api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo_id, revision="v0.1")

    api.delete_branch(repo_id, branch="feature")
    api.delete_tag(repo_id, tag="v0.1")
    refs = api.list_repo_refs(repo_id)
    assert {b.name for b in refs.branches} == {"main", "from-main"}
    assert {t.name for t in refs.tags} == {"latest"}
    assert not api.revision_exists(repo_id, "feature")
    with pytest.raises(HfHubHTTPError) as e:
        api.delete_branch(repo_id, branch="feature")
    assert e.value.response.status_code == 404
    with pytest.raises(HfHubHTTPError) as e:
        api.delete_tag(repo_id, tag="v0.1")
    assert e.value.response.status_code == 404
    with pytest.raises(RevisionNotFoundError):
        api.create_tag(repo_id, tag="bad", revision="no-such-branch")
    # The default branch is protected.
    with pytest.raises(HfHubHTTPError):
        api.delete_branch(repo_id, branch="main")
    assert api.revision_exists(repo_id, "main")


def test_delete_file_and_folder(api, hub, name):
    repo_id = f"{hub.user}/{name('deletes')}"
    api.create_repo(repo_id, repo_type="dataset")
    for path in ["keep.txt", "gone.txt", "dir/a.txt", "dir/b/c.txt", "dirx/d.txt"]:
        api.upload_file(path_or_fileobj=path.encode(), path_in_repo=path, repo_id=repo_id, repo_type="dataset")
    api.delete_file("gone.txt", repo_id, repo_type="dataset")
    assert sorted(api.list_repo_files(repo_id, repo_type="dataset")) == [
        ".gitattributes", "dir/a.txt", "dir/b/c.txt", "dirx/d.txt", "keep.txt"]
    info = api.delete_folder("dir", repo_id, repo_type="dataset", commit_message="drop dir")
    assert commit_sha(info.oid)
    assert sorted(api.list_repo_files(repo_id, repo_type="dataset")) == [".gitattributes", "dirx/d.txt",
                                                                         "keep.txt"]
    assert api.list_repo_commits(repo_id, repo_type="dataset")[0].title == "drop dir"
    with pytest.raises(EntryNotFoundError):
        api.delete_file("gone.txt", repo_id, repo_type="dataset")
    with pytest.raises(EntryNotFoundError):
        list(api.list_repo_tree(repo_id, path_in_repo="dir", repo_type="dataset"))
    # The deleted files live on in history.
    history = api.list_repo_commits(repo_id, repo_type="dataset")
    before_folder = api.list_repo_files(repo_id, repo_type="dataset", revision=history[1].commit_id)
    assert "gone.txt" not in before_folder and "dir/b/c.txt" in before_folder
    before_file = api.list_repo_files(repo_id, repo_type="dataset", revision=history[2].commit_id)
    assert "gone.txt" in before_file


def test_upload_folder_with_delete_patterns(api, hub, name, tmp_path):
    repo_id = f"{hub.user}/{name('sync')}"
    api.create_repo(repo_id)
    for path in ["old/1.log", "old/2.log", "keep.md"]:
        api.upload_file(path_or_fileobj=b"x", path_in_repo=path, repo_id=repo_id)
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "fresh.log").write_text("fresh\n")
    api.upload_folder(repo_id=repo_id, folder_path=tmp_path / "new", delete_patterns="*.log")
    assert sorted(api.list_repo_files(repo_id)) == [".gitattributes", "fresh.log", "keep.md"]


def test_branch_and_tag_may_share_a_name(api, hub, name):
    # huggingface_hub's test_create_branch_existing_tag_does_not_fail and
    # test_create_tag_on_missing_revision.
    repo_id = f"{hub.user}/{name('shared-names')}"
    api.create_repo(repo_id)
    first = api.model_info(repo_id).sha
    api.create_tag(repo_id, tag="tag")
    second = api.upload_file(path_or_fileobj=b"x\n", path_in_repo="x.txt", repo_id=repo_id).oid
    api.create_branch(repo_id, branch="tag")
    api.create_branch(repo_id, branch="old", revision=first)
    api.create_tag(repo_id, tag="old")
    refs = api.list_repo_refs(repo_id)
    assert {b.name: b.target_commit for b in refs.branches} == {"main": second, "tag": second, "old": first}
    assert {t.name: t.target_commit for t in refs.tags} == {"tag": first, "old": second}
    # A bare name means the branch.
    assert api.model_info(repo_id, revision="tag").sha == second
    assert api.model_info(repo_id, revision="old").sha == first
    # The revision is checked before the tag's name.
    with pytest.raises(RevisionNotFoundError):
        api.create_tag(repo_id, tag="invalid tag", revision="foobar")
    with pytest.raises(RevisionNotFoundError):
        api.create_tag(repo_id, tag="old", revision="foobar")


def test_file_delete_naming_a_folder_deletes_it(api, hub, name):
    # huggingface_hub's TestHfApiDeleteFolder: CommitOperationDelete("1") sends
    # `deletedFile` for a folder (no trailing slash), "1/" and delete_folder
    # send `deletedFolder`; Hugging Face deletes the folder for each.
    from huggingface_hub import CommitOperationDelete

    repo_id = f"{hub.user}/{name('delete-folder')}"
    api.create_repo(repo_id)
    layout = [CommitOperationAdd(p, b"data") for p in
              ["1/file_1.md", "1/sub/file_2.md", "2/file_3.md", "3/file_4.md", "10.md"]]
    api.create_commit(repo_id, layout, commit_message="init")
    api.create_commit(repo_id, [CommitOperationDelete(path_in_repo="1")], commit_message="implicit")
    assert sorted(api.list_repo_files(repo_id)) == [".gitattributes", "10.md", "2/file_3.md", "3/file_4.md"]
    api.create_commit(repo_id, [CommitOperationDelete(path_in_repo="2/")], commit_message="slash")
    api.delete_folder(path_in_repo="3", repo_id=repo_id)
    assert sorted(api.list_repo_files(repo_id)) == [".gitattributes", "10.md"]
    with pytest.raises(EntryNotFoundError):
        api.create_commit(repo_id, [CommitOperationDelete(path_in_repo="1")], commit_message="gone")


def test_super_squash_keeps_the_tree_and_other_branches(api, hub, name):
    repo = f"{hub.user}/{name('squash')}"
    api.create_repo(repo)
    for content in (b"one\n", b"two\n"):
        api.upload_file(path_or_fileobj=content, path_in_repo="file.txt", repo_id=repo)
    api.upload_file(path_or_fileobj=b"\0weights", path_in_repo="w.bin", repo_id=repo)
    api.create_branch(repo, branch="keep")
    before = {f.path: f.blob_id for f in api.list_repo_tree(repo)}

    api.super_squash_history(repo, commit_message="Squashed")
    main = api.list_repo_commits(repo)
    assert [c.title for c in main] == ["Squashed"]
    assert {f.path: f.blob_id for f in api.list_repo_tree(repo)} == before
    # The old history is still what other refs point at.
    assert len(api.list_repo_commits(repo, revision="keep")) == 4
    # Only writers squash; a missing branch is RevisionNotFound.
    with pytest.raises(HfHubHTTPError) as refused:
        api.super_squash_history(repo, token=hub.other_token)
    assert refused.value.response.status_code in (403, 404)
    with pytest.raises(RevisionNotFoundError):
        api.super_squash_history(repo, branch="nope")


def test_list_repo_commits_formatted(api, hub, name):
    repo = f"{hub.user}/{name('formatted')}"
    api.create_repo(repo)
    api.upload_file(path_or_fileobj=b"x", path_in_repo="a.txt", repo_id=repo,
                    commit_message="Add <a> & more", commit_description="Some **bold** text")
    plain = api.list_repo_commits(repo)
    assert plain[0].formatted_title is None
    commits = api.list_repo_commits(repo, formatted=True)
    assert commits[0].formatted_title == "Add &lt;a&gt; &amp; more"
    assert "<strong>bold</strong>" in commits[0].formatted_message
    assert all(c.formatted_title is not None for c in commits)
