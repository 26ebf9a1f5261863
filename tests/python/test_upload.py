"""upload_file and upload_folder with safetensors and parquet files, through
the default Xet path (hf_xet installed) and through LFS (HF_HUB_DISABLE_XET=1,
in a fresh interpreter since huggingface_hub reads it at import)."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from huggingface_hub.utils._runtime import is_xet_available
from safetensors.numpy import load_file

from helpers import (
    check_files,
    commit_sha,
    git_blob_sha1,
    run_client,
    sha256_file,
    write_parquet,
    write_safetensors,
)

NO_XET = {"HF_HUB_DISABLE_XET": "1"}


def used_xet(requests) -> bool:
    paths = [p for _, p in requests]
    return (
        any("/xet-write-token/" in p for p in paths)
        and any("/v1/shards" in p for p in paths)
    )


def used_lfs(requests) -> bool:
    return any(p.endswith("/info/lfs/objects/batch") for _, p in requests)


def make_folder(root, seed=0):
    root.mkdir()
    (root / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 32}))
    (root / "README.md").write_text("---\nlicense: mit\ntags:\n- kyt-upload\n---\n# A model\n")
    write_safetensors(root / "model.safetensors", seed=seed)
    (root / "data").mkdir()
    write_parquet(root / "data" / "train.parquet")
    (root / "notes").mkdir()
    (root / "notes" / "a.txt").write_text("first note\n")
    files = {
        "config.json": root / "config.json",
        "README.md": root / "README.md",
        "model.safetensors": root / "model.safetensors",
        "data/train.parquet": root / "data" / "train.parquet",
        "notes/a.txt": root / "notes" / "a.txt",
    }
    return files, {"model.safetensors", "data/train.parquet"}


def test_xet_is_the_default_here():
    # Otherwise the "default path" tests below would test LFS twice.
    assert is_xet_available()


def test_upload_file_through_xet(api, hub, name, tmp_path):
    repo_id = f"{hub.user}/{name('xet-file')}"
    api.create_repo(repo_id)
    weights = tmp_path / "model.safetensors"
    tensors = write_safetensors(weights, seed=1)
    table = tmp_path / "table.parquet"
    write_parquet(table, n=500)

    offset = hub.log_offset()
    info = api.upload_file(path_or_fileobj=weights, path_in_repo="model.safetensors", repo_id=repo_id)
    assert commit_sha(info.oid)
    assert info.commit_url == f"{hub.endpoint}/{repo_id}/commit/{info.oid}"
    info2 = api.upload_file(path_or_fileobj=table, path_in_repo="tables/t.parquet", repo_id=repo_id)
    assert info2.oid != info.oid
    requests = hub.requests_since(offset)
    assert used_xet(requests), requests
    assert not used_lfs(requests), requests

    check_files(api, repo_id, {"model.safetensors": weights, "tables/t.parquet": table},
                {"model.safetensors", "tables/t.parquet"}, tmp_path / "cache")
    meta = api.model_info(repo_id, files_metadata=True)
    sib = {s.rfilename: s for s in meta.siblings}
    assert sib["model.safetensors"].lfs.sha256 == sha256_file(weights)
    assert sib["model.safetensors"].size == weights.stat().st_size
    loaded = load_file(api.hf_hub_download(repo_id, "model.safetensors", cache_dir=str(tmp_path / "c2")))
    for k, v in tensors.items():
        np.testing.assert_array_equal(loaded[k], v)
    path = api.hf_hub_download(repo_id, "tables/t.parquet", cache_dir=str(tmp_path / "c2"))
    assert pq.read_table(path).column("id").to_pylist() == list(range(500))


def test_upload_folder_through_xet(api, hub, name, tmp_path):
    repo_id = f"{hub.user}/{name('xet-folder')}"
    api.create_repo(repo_id)
    files, lfs = make_folder(tmp_path / "folder", seed=2)
    offset = hub.log_offset()
    info = api.upload_folder(repo_id=repo_id, folder_path=tmp_path / "folder", commit_message="weights and data")
    assert commit_sha(info.oid)
    requests = hub.requests_since(offset)
    assert used_xet(requests), requests
    assert not used_lfs(requests), requests
    check_files(api, repo_id, files, lfs, tmp_path / "cache")
    model = api.model_info(repo_id)
    assert model.sha == info.oid
    assert model.card_data["license"] == "mit"
    assert "kyt-upload" in model.tags
    commits = api.list_repo_commits(repo_id)
    assert commits[0].title == "weights and data"


def test_upload_file_through_lfs(api, hub, name, tmp_path):
    repo_id = f"{hub.user}/{name('lfs-file')}"
    api.create_repo(repo_id)
    weights = tmp_path / "model.safetensors"
    write_safetensors(weights, seed=3)
    table = tmp_path / "table.parquet"
    write_parquet(table, n=300)
    offset = hub.log_offset()
    out = run_client(
        f"""
        import json
        from huggingface_hub import HfApi, constants
        from huggingface_hub.utils._runtime import is_xet_available
        assert constants.HF_HUB_DISABLE_XET and not is_xet_available()
        api = HfApi()
        a = api.upload_file(path_or_fileobj={str(weights)!r}, path_in_repo="model.safetensors", repo_id={repo_id!r})
        b = api.upload_file(path_or_fileobj={str(table)!r}, path_in_repo="t.parquet", repo_id={repo_id!r})
        print(json.dumps([a.oid, a.commit_url, b.oid]))
        """,
        env=NO_XET,
    )
    oid, url, oid2 = json.loads(out.strip().splitlines()[-1])
    assert commit_sha(oid) and commit_sha(oid2)
    assert url == f"{hub.endpoint}/{repo_id}/commit/{oid}"
    requests = hub.requests_since(offset)
    assert used_lfs(requests), requests
    assert not any("/xet-write-token/" in p for _, p in requests), requests
    check_files(api, repo_id, {"model.safetensors": weights, "t.parquet": table},
                {"model.safetensors", "t.parquet"}, tmp_path / "cache")
    assert api.model_info(repo_id).sha == oid2


def test_upload_folder_through_lfs(api, hub, name, tmp_path):
    repo_id = f"{hub.user}/{name('lfs-folder')}"
    api.create_repo(repo_id, repo_type="dataset")
    files, lfs = make_folder(tmp_path / "folder", seed=4)
    offset = hub.log_offset()
    out = run_client(
        f"""
        from huggingface_hub import HfApi
        info = HfApi().upload_folder(repo_id={repo_id!r}, repo_type="dataset",
                                     folder_path={str(tmp_path / "folder")!r})
        print(info.oid)
        """,
        env=NO_XET,
    )
    oid = out.strip().splitlines()[-1]
    requests = hub.requests_since(offset)
    assert used_lfs(requests), requests
    assert not any("/xet-write-token/" in p for _, p in requests), requests
    check_files(api, repo_id, files, lfs, tmp_path / "cache", repo_type="dataset")
    assert api.dataset_info(repo_id).sha == oid


def test_file_object_uploads_use_lfs_even_with_xet(api, hub, name, tmp_path):
    # The client sends file objects through the LFS batch API whatever hf_xet says.
    repo_id = f"{hub.user}/{name('fileobj')}"
    api.create_repo(repo_id)
    weights = tmp_path / "w.safetensors"
    write_safetensors(weights, seed=5)
    offset = hub.log_offset()
    with open(weights, "rb") as f:
        api.upload_file(path_or_fileobj=f, path_in_repo="w.safetensors", repo_id=repo_id)
    assert used_lfs(hub.requests_since(offset))
    check_files(api, repo_id, {"w.safetensors": weights}, {"w.safetensors"}, tmp_path / "cache")


def test_reupload_of_an_unchanged_file_makes_no_commit(api, hub, name, tmp_path):
    repo_id = f"{hub.user}/{name('noop')}"
    api.create_repo(repo_id)
    weights = tmp_path / "w.safetensors"
    write_safetensors(weights, seed=6)
    (tmp_path / "small.txt").write_text("hello\n")
    api.upload_file(path_or_fileobj=weights, path_in_repo="w.safetensors", repo_id=repo_id)
    api.upload_file(path_or_fileobj=tmp_path / "small.txt", path_in_repo="small.txt", repo_id=repo_id)
    before = api.list_repo_commits(repo_id)
    # preupload answers each path's current oid; the client skips what matches.
    api.upload_file(path_or_fileobj=weights, path_in_repo="w.safetensors", repo_id=repo_id)
    api.upload_file(path_or_fileobj=tmp_path / "small.txt", path_in_repo="small.txt", repo_id=repo_id)
    after = api.list_repo_commits(repo_id)
    assert [c.commit_id for c in after] == [c.commit_id for c in before]


def test_upload_to_a_stale_parent_commit_is_refused(api, hub, name):
    from huggingface_hub.errors import HfHubHTTPError

    repo_id = f"{hub.user}/{name('parent')}"
    api.create_repo(repo_id)
    first = api.upload_file(path_or_fileobj=b"1", path_in_repo="a.txt", repo_id=repo_id).oid
    api.upload_file(path_or_fileobj=b"2", path_in_repo="a.txt", repo_id=repo_id)
    with pytest.raises(HfHubHTTPError) as e:
        api.upload_file(path_or_fileobj=b"3", path_in_repo="b.txt", repo_id=repo_id, parent_commit=first)
    assert e.value.response.status_code == 412
    assert not api.file_exists(repo_id, "b.txt")


def test_copy_and_delete_operations_in_one_commit(api, hub, name, tmp_path):
    # CommitOperationCopy of an LFS file sends an lfsFile line without `size`.
    from huggingface_hub import CommitOperationAdd, CommitOperationCopy, CommitOperationDelete

    repo_id = f"{hub.user}/{name('copy')}"
    api.create_repo(repo_id)
    weights = tmp_path / "w.safetensors"
    write_safetensors(weights, seed=10)
    api.create_commit(repo_id, [
        CommitOperationAdd("w.safetensors", weights),
        CommitOperationAdd("small.txt", b"small\n"),
        CommitOperationAdd("old/a.txt", b"a\n"),
    ], commit_message="start")
    api.create_commit(repo_id, [
        CommitOperationCopy(src_path_in_repo="w.safetensors", path_in_repo="copies/w.safetensors"),
        CommitOperationCopy(src_path_in_repo="small.txt", path_in_repo="copies/small.txt"),
        CommitOperationDelete(path_in_repo="old/", is_folder=True),
    ], commit_message="copy and delete")
    (tmp_path / "small.txt").write_bytes(b"small\n")
    check_files(api, repo_id, {"w.safetensors": weights, "copies/w.safetensors": weights,
                               "small.txt": tmp_path / "small.txt", "copies/small.txt": tmp_path / "small.txt"},
                {"w.safetensors", "copies/w.safetensors"}, tmp_path / "cache")


def test_upload_folder_into_a_subfolder_of_a_branch(api, hub, name, tmp_path):
    repo_id = f"{hub.user}/{name('subfolder')}"
    api.create_repo(repo_id)
    api.create_branch(repo_id, branch="side")
    files, lfs = make_folder(tmp_path / "folder", seed=11)
    api.upload_folder(repo_id=repo_id, folder_path=tmp_path / "folder", path_in_repo="nested/here",
                      revision="side", ignore_patterns=["*.md"])
    expected = {f"nested/here/{p}": f for p, f in files.items() if not p.endswith(".md")}
    check_files(api, repo_id, expected, {f"nested/here/{p}" for p in lfs}, tmp_path / "cache", revision="side")
    assert api.list_repo_files(repo_id) == [".gitattributes"]


def test_upload_folder_of_many_files(api, hub, name, tmp_path):
    # More files than one preupload call takes (256): several batches, maybe
    # several commits ("... (part N)"), every file once.
    repo_id = f"{hub.user}/{name('many')}"
    api.create_repo(repo_id)
    folder = tmp_path / "many"
    expected = {}
    for i in range(300):
        path = f"shard-{i // 100}/file-{i:03d}.txt"
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(f"file {i}\n")
        expected[path] = f"file {i}\n".encode()
    api.upload_folder(repo_id=repo_id, folder_path=folder, commit_message="many files")
    files = {e.path: e for e in api.list_repo_tree(repo_id, recursive=True) if type(e).__name__ == "RepoFile"}
    assert set(files) == set(expected) | {".gitattributes"}
    for path, data in expected.items():
        assert files[path].blob_id == git_blob_sha1(data), path
    titles = [c.title for c in api.list_repo_commits(repo_id)[:-1]]
    assert titles and all(t.startswith("many files") for t in titles), titles


def test_urls_follow_the_host_the_client_used(hub, name):
    # The same hub reached as 127.0.0.1: every URL it hands back names 127.0.0.1.
    from huggingface_hub import HfApi

    direct = HfApi(endpoint=hub.direct_url, token=hub.token)
    repo_id = f"{hub.user}/{name('host')}"
    url = direct.create_repo(repo_id)
    assert str(url) == f"{hub.direct_url}/{repo_id}"
    info = direct.upload_file(path_or_fileobj=b"x\n", path_in_repo="x.txt", repo_id=repo_id)
    assert info.commit_url.startswith(f"{hub.direct_url}/{repo_id}/commit/")


def test_paths_the_commit_api_refuses_are_422(api, hub, name):
    # As on Hugging Face (huggingface_hub's test_create_file_with_relative_path):
    # the client's upload sees 422 whether preupload or the commit refuses.
    from huggingface_hub import CommitOperationAdd
    from huggingface_hub.errors import HfHubHTTPError

    repo_id = f"{hub.user}/{name('refused')}"
    api.create_repo(repo_id)
    before = api.model_info(repo_id).sha
    # (The client itself refuses `..` and `.git` segments; `../x` and `.git/x`
    # reach the hub from other clients: tests/tests/commits.rs.)
    for path in ["..\\ddd", "folder/..\\..\\file", "GIT~1/config", "tab\tname.txt"]:
        with pytest.raises(HfHubHTTPError) as e:
            api.upload_file(path_or_fileobj=b"content", path_in_repo=path, repo_id=repo_id)
        assert e.value.response.status_code == 422, path
        # A delete of such a path goes straight to the commit: 422 there too.
        with pytest.raises(HfHubHTTPError) as e:
            api.delete_file(path, repo_id)
        assert e.value.response.status_code == 422, path
    assert api.model_info(repo_id).sha == before
    # An ordinary path still commits.
    api.create_commit(repo_id, [CommitOperationAdd("ok/x.txt", b"x")], commit_message="fine")
