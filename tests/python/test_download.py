"""hf_hub_download and snapshot_download: by branch, tag and sha, with
allow_patterns, into the cache and a local dir, and resumed after the
connection drops mid-file."""

import hashlib
from pathlib import Path

from huggingface_hub import hf_hub_download, snapshot_download

from helpers import BIG_SIZE, Relay, random_file, sha256_file


def cache_files(folder: Path) -> dict:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and ".cache" not in p.parts
    }


def test_hf_hub_download_into_the_cache(populated, hub, tmp_path):
    cache = tmp_path / "cache"
    path = Path(hf_hub_download(populated.repo_id, "config.json", cache_dir=str(cache)))
    assert path.read_bytes() == populated.files["config.json"]
    # The snapshot folder is named by X-Repo-Commit, refs/main records it.
    repo_folder = cache / f"models--{populated.repo_id.replace('/', '--')}"
    assert path == repo_folder / "snapshots" / populated.main / "config.json"
    assert (repo_folder / "refs" / "main").read_text() == populated.main
    # Regular files are named by their git blob sha1, LFS files by their sha256.
    data = populated.files["config.json"]
    blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    assert path.resolve() == (repo_folder / "blobs" / blob).resolve()

    big = Path(hf_hub_download(populated.repo_id, "big.bin", cache_dir=str(cache)))
    sha = hashlib.sha256(populated.files["big.bin"]).hexdigest()
    assert big.resolve() == (repo_folder / "blobs" / sha).resolve()
    assert big.stat().st_size == BIG_SIZE
    assert big.read_bytes() == populated.files["big.bin"]

    deep = hf_hub_download(populated.repo_id, "sub/dir/file.txt", cache_dir=str(cache))
    assert Path(deep).read_bytes() == b"deep file\n"


def test_hf_hub_download_by_branch_tag_and_sha(populated, tmp_path):
    cache = str(tmp_path / "cache")
    dev = hf_hub_download(populated.repo_id, "config.json", revision="dev", cache_dir=cache)
    assert Path(dev).read_bytes() == populated.dev_config
    assert f"/snapshots/{populated.dev}/" in dev
    tag = hf_hub_download(populated.repo_id, "config.json", revision="v1", cache_dir=cache)
    assert Path(tag).read_bytes() == populated.v1_config
    assert f"/snapshots/{populated.first}/" in tag
    sha = hf_hub_download(populated.repo_id, "config.json", revision=populated.first, cache_dir=cache)
    assert Path(sha).read_bytes() == populated.v1_config
    # refs/heads/... and refs/tags/... name the same commits.
    full = hf_hub_download(populated.repo_id, "config.json", revision="refs/heads/dev",
                           cache_dir=str(tmp_path / "c2"))
    assert Path(full).read_bytes() == populated.dev_config


def test_hf_hub_download_to_local_dir(populated, tmp_path):
    local = tmp_path / "local"
    path = hf_hub_download(populated.repo_id, "sub/dir/file.txt", local_dir=str(local))
    assert Path(path) == local / "sub" / "dir" / "file.txt"
    assert Path(path).read_bytes() == b"deep file\n"
    big = hf_hub_download(populated.repo_id, "big.bin", local_dir=str(local))
    assert Path(big).read_bytes() == populated.files["big.bin"]


def test_snapshot_download_whole_repo(populated, tmp_path):
    folder = Path(snapshot_download(populated.repo_id, cache_dir=str(tmp_path / "cache")))
    assert folder.name == populated.main
    files = cache_files(folder)
    assert set(files) == set(populated.files) | {".gitattributes"}
    for path, data in populated.files.items():
        assert files[path] == data, path


def test_snapshot_download_allow_and_ignore_patterns(populated, tmp_path):
    folder = Path(snapshot_download(populated.repo_id, allow_patterns=["*.json", "sub/dir/*"],
                                    cache_dir=str(tmp_path / "c1")))
    assert cache_files(folder) == {
        "config.json": populated.files["config.json"],
        "sub/dir/file.txt": b"deep file\n",
    }
    folder = Path(snapshot_download(populated.repo_id, ignore_patterns=["*.bin", "*.safetensors"],
                                    cache_dir=str(tmp_path / "c2")))
    assert set(cache_files(folder)) == {".gitattributes", "config.json", "sub/dir/file.txt", "sub/top.txt"}


def test_snapshot_download_by_branch_tag_and_sha(populated, tmp_path):
    for revision, commit, config in [
        ("dev", populated.dev, populated.dev_config),
        ("v1", populated.first, populated.v1_config),
        (populated.first, populated.first, populated.v1_config),
    ]:
        folder = Path(snapshot_download(populated.repo_id, revision=revision, allow_patterns="*.json",
                                        cache_dir=str(tmp_path / "cache")))
        assert folder.name == commit, revision
        assert (folder / "config.json").read_bytes() == config, revision


def test_snapshot_download_to_local_dir(populated, tmp_path):
    local = tmp_path / "local"
    snapshot_download(populated.repo_id, local_dir=str(local), revision="v1")
    files = cache_files(local)
    assert files["config.json"] == populated.v1_config
    assert files["big.bin"] == populated.files["big.bin"]
    assert set(files) == set(populated.files) | {".gitattributes"}


def test_download_resumes_after_an_interrupted_connection(api, hub, name, tmp_path, monkeypatch):
    # huggingface_hub 2.4.0 resumes within one call, from the last 10 MiB
    # chunk it wrote, with `Range: bytes=N-` after the connection drops. The
    # relay cuts the first connection 15 MiB into a 24 MiB file: resuming moves
    # 15 + 14 MiB, starting over would move 15 + 24. This is the plain HTTP
    # path, so Xet is off (the file, uploaded through Xet, is advertised with
    # its Xet hash; test_xet_download.py cuts an hf_xet download).
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    size, cut, chunk = 24 << 20, 15 << 20, 10 << 20
    repo_id = f"{hub.user}/{name('resume')}"
    api.create_repo(repo_id)
    local = random_file(tmp_path / "resume.bin", size, seed=9)
    api.upload_file(path_or_fileobj=local, path_in_repo="resume.bin", repo_id=repo_id)
    offset = hub.log_offset()
    with Relay(hub.port, cut_after=cut) as relay:
        path = hf_hub_download(repo_id, "resume.bin", cache_dir=str(tmp_path / "cache"), endpoint=relay.endpoint)
        assert relay.cut_done
        downstream = relay.downstream
    assert sha256_file(path) == sha256_file(local)
    assert downstream < cut + size - chunk + (1 << 20), downstream
    gets = [line for line in hub.log_since(offset).splitlines() if "method=GET" in line and "resume.bin" in line]
    assert [("status=200" in g, "status=206" in g) for g in gets] == [(True, False), (False, True)], gets


def test_file_metadata_from_head(populated, hub):
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    url = hf_hub_url(populated.repo_id, "big.bin")
    assert url == f"{hub.endpoint}/{populated.repo_id}/resolve/main/big.bin"
    meta = get_hf_file_metadata(url)
    assert meta.commit_hash == populated.main
    assert meta.etag == hashlib.sha256(populated.files["big.bin"]).hexdigest()
    assert meta.size == BIG_SIZE
    assert meta.location == url  # served directly, never redirected
    # Uploaded through Xet: advertised with its Xet hash and the read-token route.
    assert len(meta.xet_file_data.file_hash) == 64
    assert meta.xet_file_data.refresh_route == (
        f"{hub.endpoint}/api/models/{populated.repo_id}/xet-read-token/{populated.main}")
    data = populated.files["config.json"]
    meta = get_hf_file_metadata(hf_hub_url(populated.repo_id, "config.json", revision="v1"))
    assert meta.xet_file_data is None  # a regular file
    assert meta.commit_hash == populated.first
    assert meta.etag == hashlib.sha1(b"blob %d\0" % len(populated.v1_config) + populated.v1_config).hexdigest()
    assert meta.size == len(populated.v1_config)
    assert data != populated.v1_config


def test_resolve_is_never_compressed(populated, hub):
    import requests

    r = requests.get(f"{hub.endpoint}/{populated.repo_id}/resolve/main/config.json",
                     headers={"Accept-Encoding": "gzip, deflate"}, timeout=30)
    assert r.status_code == 200
    assert "Content-Encoding" not in r.headers
    assert r.headers["Content-Length"] == str(len(populated.files["config.json"]))
    assert r.headers["X-Repo-Commit"] == populated.main


def test_odd_paths_and_slashed_branches(api, hub, name, tmp_path):
    # Spaces, unicode and '#', '%' in paths; a branch with a '/' (sent as %2F).
    repo_id = f"{hub.user}/{name('odd')}"
    api.create_repo(repo_id)
    paths = {
        "dir with space/file name.txt": b"spaces\n",
        "中文/模型说明.md": "中文内容\n".encode(),
        "weird/a#b%20c+d.txt": b"weird\n",
    }
    from huggingface_hub import CommitOperationAdd

    api.create_commit(repo_id, [CommitOperationAdd(p, d) for p, d in paths.items()], commit_message="odd paths")
    api.create_branch(repo_id, branch="feature/x")
    api.upload_file(path_or_fileobj=b"on feature/x\n", path_in_repo="dir with space/file name.txt",
                    repo_id=repo_id, revision="feature/x")
    cache = str(tmp_path / "cache")
    for path, data in paths.items():
        assert Path(hf_hub_download(repo_id, path, cache_dir=cache)).read_bytes() == data, path
    assert sorted(api.list_repo_files(repo_id)) == sorted([".gitattributes", *paths])
    assert [e.path for e in api.list_repo_tree(repo_id, path_in_repo="中文")] == ["中文/模型说明.md"]
    assert [e.path for e in api.list_repo_tree(repo_id, path_in_repo="dir with space")] == [
        "dir with space/file name.txt"]
    on_branch = hf_hub_download(repo_id, "dir with space/file name.txt", revision="feature/x", cache_dir=cache)
    assert Path(on_branch).read_bytes() == b"on feature/x\n"
    assert {b.name for b in api.list_repo_refs(repo_id).branches} == {"main", "feature/x"}
    folder = snapshot_download(repo_id, revision="feature/x", cache_dir=str(tmp_path / "snap"))
    assert (Path(folder) / "中文" / "模型说明.md").read_bytes() == "中文内容\n".encode()


def test_space_and_dataset_downloads(api, hub, name, tmp_path):
    space = f"{hub.user}/{name('space')}"
    api.create_repo(space, repo_type="space", space_sdk="static")
    api.upload_file(path_or_fileobj=b"<h1>hi</h1>\n", path_in_repo="index.html", repo_id=space, repo_type="space")
    got = hf_hub_download(space, "index.html", repo_type="space", cache_dir=str(tmp_path))
    assert Path(got).read_bytes() == b"<h1>hi</h1>\n"
    assert api.space_info(space).sha == api.list_repo_commits(space, repo_type="space")[0].commit_id
    dataset = f"{hub.user}/{name('ds')}"
    api.create_repo(dataset, repo_type="dataset")
    api.upload_file(path_or_fileobj=b"a,b\n1,2\n", path_in_repo="data/x.csv", repo_id=dataset, repo_type="dataset")
    folder = Path(snapshot_download(dataset, repo_type="dataset", cache_dir=str(tmp_path)))
    assert (folder / "data" / "x.csv").read_bytes() == b"a,b\n1,2\n"
    assert "datasets--" in str(folder)
