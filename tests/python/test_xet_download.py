"""Xet downloads: files uploaded through hf_xet are advertised with their Xet
hash, and huggingface_hub downloads them with hf_xet (read token,
reconstruction, signed xorb ranges), byte-identical to plain HTTP
(HF_HUB_DISABLE_XET=1) and to the original.

Each download runs in its own interpreter (the clients read HF_HUB_DISABLE_XET
and the hf_xet cache settings at import), through a byte-counting relay where
the bytes on the wire matter."""

import hashlib
import json
import os
import subprocess

import pytest
import requests

from helpers import Relay, random_file, run_client, sha256_file

DOWNLOAD = """
import sys, json
from huggingface_hub import hf_hub_download
repo_id, filename, revision, cache = sys.argv[1:5]
print(json.dumps(hf_hub_download(repo_id, filename, revision=revision or None, cache_dir=cache)))
"""

SNAPSHOT = """
import sys, json
from huggingface_hub import snapshot_download
repo_id, cache = sys.argv[1:3]
print(json.dumps(snapshot_download(repo_id, cache_dir=cache)))
"""


def run(code: str, args: list, env: dict, timeout: int = 300) -> str:
    prelude = f"import sys; sys.argv = ['x'] + {[str(a) for a in args]!r}\n"
    out = run_client(prelude + code, env=env, timeout=timeout)
    return json.loads(out.strip().splitlines()[-1])


def used_xet(requests_seen) -> bool:
    paths = [p for _, p in requests_seen]
    return any("/reconstructions/" in p for p in paths) and any("/xorb-ranges/" in p for p in paths)


def download(hub, repo_id, filename, cache, revision="", env=None, endpoint=None):
    env = {"HF_ENDPOINT": endpoint or hub.endpoint, "HF_TOKEN": hub.token, **(env or {})}
    return run(DOWNLOAD, [repo_id, filename, revision, cache], env)


@pytest.fixture
def xet_file(api, hub, name, tmp_path):
    """A repo with one 12 MB file uploaded through hf_xet, and the file."""
    repo_id = f"{hub.user}/{name('xetdl')}"
    api.create_repo(repo_id)
    original = random_file(tmp_path / "w.bin", 12 * 1024 * 1024, seed=31)
    api.upload_file(path_or_fileobj=str(original), path_in_repo="w.bin", repo_id=repo_id)
    return repo_id, original


def test_a_xet_file_downloads_through_xet_and_over_http_identically(hub, api, xet_file, tmp_path):
    repo_id, original = xet_file
    digest = sha256_file(original)
    # The hub advertises it: resolve headers, tree and paths-info entries.
    head = requests.head(f"{hub.endpoint}/{repo_id}/resolve/main/w.bin",
                         headers={"Authorization": f"Bearer {hub.token}"})
    xet_hash = head.headers["X-Xet-Hash"]
    assert len(xet_hash) == 64
    assert 'rel="xet-auth"' in head.headers["Link"]
    assert f"/api/models/{repo_id}/xet-read-token/" in head.headers["Link"]
    entry = next(e for e in api.list_repo_tree(repo_id) if e.path == "w.bin")
    assert entry.xet_hash == xet_hash
    [info] = api.get_paths_info(repo_id, ["w.bin"])
    assert info.xet_hash == xet_hash

    offset = hub.log_offset()
    through_xet = download(hub, repo_id, "w.bin", tmp_path / "xet")
    assert used_xet(hub.requests_since(offset)), hub.requests_since(offset)
    offset = hub.log_offset()
    over_http = download(hub, repo_id, "w.bin", tmp_path / "http", env={"HF_HUB_DISABLE_XET": "1"})
    seen = hub.requests_since(offset)
    assert not any("/cas/" in p for _, p in seen), seen
    assert ("GET", f"/{repo_id}/resolve/main/w.bin") in seen, seen
    assert sha256_file(through_xet) == sha256_file(over_http) == digest


def test_snapshot_download_goes_through_xet(hub, api, name, tmp_path):
    repo_id = f"{hub.user}/{name('xetsnap')}"
    api.create_repo(repo_id)
    folder = tmp_path / "up"
    (folder / "sub").mkdir(parents=True)
    random_file(folder / "a.bin", 3 * 1024 * 1024, seed=41)
    random_file(folder / "sub" / "b.bin", 5 * 1024 * 1024 + 17, seed=42)
    (folder / "config.json").write_text('{"x": 1}\n')
    api.upload_folder(folder_path=str(folder), repo_id=repo_id)
    offset = hub.log_offset()
    got = run(SNAPSHOT, [repo_id, tmp_path / "cache"], {"HF_ENDPOINT": hub.endpoint, "HF_TOKEN": hub.token})
    seen = hub.requests_since(offset)
    assert used_xet(seen), seen
    # The tree listing named the Xet files: no HEAD for them.
    assert not any(m == "HEAD" and p.endswith("a.bin") for m, p in seen), seen
    for path in ["a.bin", "sub/b.bin", "config.json"]:
        assert sha256_file(f"{got}/{path}") == sha256_file(folder / path), path


def test_a_download_cut_off_midway_is_resumed_by_hf_xet(hub, xet_file, tmp_path):
    repo_id, original = xet_file
    with Relay(hub.port, cut_after=4 * 1024 * 1024) as relay:
        got = download(hub, repo_id, "w.bin", tmp_path / "cut", endpoint=relay.endpoint)
        assert relay.cut_done
    assert sha256_file(got) == sha256_file(original)


def test_hf_file_system_range_reads_of_a_xet_file(hub, xet_file):
    from huggingface_hub import HfFileSystem

    repo_id, original = xet_file
    data = original.read_bytes()
    fs = HfFileSystem(endpoint=hub.endpoint, token=hub.token, skip_instance_cache=True)
    assert fs.info(f"{repo_id}/w.bin")["size"] == len(data)
    with fs.open(f"{repo_id}/w.bin", "rb", block_size=64 * 1024) as f:
        f.seek(5_000_000)
        assert f.read(100_000) == data[5_000_000:5_100_000]
        f.seek(len(data) - 10)
        assert f.read() == data[-10:]
    assert fs.cat_file(f"{repo_id}/w.bin", start=123, end=70_000) == data[123:70_000]
    assert fs.cat_file(f"{repo_id}/w.bin") == data


def test_private_xet_files_are_read_by_their_readers_only(hub, api, name, tmp_path):
    repo_id = f"{hub.user}/{name('xetpriv')}"
    api.create_repo(repo_id, private=True)
    original = random_file(tmp_path / "p.bin", 2 * 1024 * 1024, seed=51)
    api.upload_file(path_or_fileobj=str(original), path_in_repo="p.bin", repo_id=repo_id)
    offset = hub.log_offset()
    got = download(hub, repo_id, "p.bin", tmp_path / "mine")
    assert used_xet(hub.requests_since(offset))
    assert sha256_file(got) == sha256_file(original)

    token_url = f"{hub.endpoint}/api/models/{repo_id}/xet-read-token/main"
    mine = requests.get(token_url, headers={"Authorization": f"Bearer {hub.token}"})
    assert mine.status_code == 200
    assert set(mine.json()) == {"accessToken", "exp", "casUrl"}
    outsider = requests.get(token_url, headers={"Authorization": f"Bearer {hub.other_token}"})
    assert outsider.status_code == 404
    assert "X-Xet-Access-Token" not in outsider.headers
    anonymous = requests.get(token_url)
    assert anonymous.status_code == 401
    assert "X-Xet-Access-Token" not in anonymous.headers

    # The outsider's read token for a public repo of theirs reconstructs nothing here.
    other_repo = f"{hub.other_user}/{name('xetpub')}"
    from huggingface_hub import HfApi

    HfApi(endpoint=hub.endpoint, token=hub.other_token).create_repo(other_repo)
    theirs = requests.get(f"{hub.endpoint}/api/models/{other_repo}/xet-read-token/main",
                          headers={"Authorization": f"Bearer {hub.other_token}"}).json()
    xet_hash = requests.head(f"{hub.endpoint}/{repo_id}/resolve/main/p.bin",
                             headers={"Authorization": f"Bearer {hub.token}"}).headers["X-Xet-Hash"]
    refused = requests.get(f"{theirs['casUrl']}/v1/reconstructions/{xet_hash}",
                           headers={"Authorization": f"Bearer {theirs['accessToken']}"})
    assert refused.status_code == 404
    assert xet_hash not in json.dumps(dict(refused.headers))


UPLOAD_REVISIONS = """
import sys
from huggingface_hub import HfApi
repo_id, first, second = sys.argv[1:4]
api = HfApi()
a = api.upload_file(path_or_fileobj=first, path_in_repo="model.bin", repo_id=repo_id).oid
b = api.upload_file(path_or_fileobj=second, path_in_repo="model.bin", repo_id=repo_id).oid
print('["%s", "%s"]' % (a, b))
"""

def fetched_ranges(hub, repo_id, revision, filename):
    """{xorb: [(first, last)]} of the stored bytes the reconstruction of
    `filename` at `revision` has a client fetch, asked as hf_xet asks."""
    headers = {"Authorization": f"Bearer {hub.token}"}
    xet_hash = requests.head(f"{hub.endpoint}/{repo_id}/resolve/{revision}/{filename}",
                             headers=headers).headers["X-Xet-Hash"]
    token = requests.get(f"{hub.endpoint}/api/models/{repo_id}/xet-read-token/{revision}", headers=headers).json()
    answer = requests.get(f"{token['casUrl']}/v2/reconstructions/{xet_hash}",
                          headers={"Authorization": f"Bearer {token['accessToken']}"}).json()
    return {xorb: [(r["bytes"]["start"], r["bytes"]["end"]) for f in fetches for r in f["ranges"]]
            for xorb, fetches in answer["xorbs"].items()}


def test_a_second_revision_shares_all_but_what_changed(hub, api, name, tmp_path):
    """A 32 MiB file, then a revision with 16 KiB changed in the middle: the
    second revision's reconstruction fetches the first one's chunks for all
    but a small fraction of its bytes, so a client with a chunk cache
    downloads only those. (hf_xet 1.8.0 itself keeps no chunk cache between
    downloads: its download sessions are made without one, whatever
    HF_XET_CHUNK_CACHE_SIZE_BYTES says, so it fetches every byte again; the
    bytes on the wire are measured and printed.)"""
    size = 32 * 1024 * 1024
    repo_id = f"{hub.user}/{name('xetrev')}"
    auth = {"Authorization": f"Bearer {hub.token}"}
    namespace_before = requests.get(f"{hub.endpoint}/api/billing/storage", headers=auth).json()
    api.create_repo(repo_id)
    first = random_file(tmp_path / "v1.bin", size, seed=61)
    data = bytearray(first.read_bytes())
    middle = size // 2
    data[middle:middle + 16 * 1024] = hashlib.sha256(b"changed").digest() * 512
    second = tmp_path / "v2.bin"
    second.write_bytes(bytes(data))
    upload_env = {"HF_ENDPOINT": hub.endpoint, "HF_TOKEN": hub.token, "HF_XET_CACHE": str(tmp_path / "up")}
    v1, v2 = run(UPLOAD_REVISIONS, [repo_id, first, second], upload_env, timeout=600)

    old = fetched_ranges(hub, repo_id, v1, "model.bin")
    new = fetched_ranges(hub, repo_id, v2, "model.bin")
    held = lambda xorb, a, b: any(s <= a and b <= e for s, e in old.get(xorb, []))
    fresh = sum(b - a + 1 for xorb, ranges in new.items() for a, b in ranges if not held(xorb, a, b))
    print(f"\nsecond revision: {fresh} of {size} bytes not in the first one's fetches")
    assert 0 < fresh < size * 0.05

    # Storage accounting: both revisions' files count in full as logical
    # bytes (huggingface_hub's used_storage); the store holds little more
    # than one copy. The repo page says both.
    info = api.model_info(repo_id, expand=["usedStorage"])
    assert info.used_storage == 2 * size
    body = requests.get(f"{hub.endpoint}/api/models/{repo_id}", params={"expand": "storage"},
                        headers={"Authorization": f"Bearer {hub.token}"}).json()
    storage = body["storage"]
    print(f"storage: {storage}")
    assert storage["files"] == 2 and storage["logicalBytes"] == 2 * size
    assert size * 0.9 < storage["storedBytes"] < size * 1.1, storage
    page = requests.get(f"{hub.endpoint}/{repo_id}", headers=auth).text
    assert 'id="repo-storage"' in page
    # The user's whole namespace grew by as much (tests run one at a time).
    namespace = requests.get(f"{hub.endpoint}/api/billing/storage", headers=auth).json()
    assert namespace["logicalBytes"] - namespace_before["logicalBytes"] == 2 * size
    grown = namespace["storedBytes"] - namespace_before["storedBytes"]
    assert size * 0.9 < grown < size * 1.1, (namespace_before, namespace)

    with Relay(hub.port) as relay:
        env = {"HF_XET_CACHE": str(tmp_path / "xet-cache")}
        got1 = download(hub, repo_id, "model.bin", tmp_path / "c1", revision=v1, env=env, endpoint=relay.endpoint)
        first_bytes = relay.downstream
        relay.reset()
        got2 = download(hub, repo_id, "model.bin", tmp_path / "c2", revision=v2, env=env, endpoint=relay.endpoint)
        second_bytes = relay.downstream
    assert sha256_file(got1) == sha256_file(first)
    assert sha256_file(got2) == sha256_file(second)
    print(f"hf_xet 1.8.0 on the wire: first revision {first_bytes} bytes, second {second_bytes} bytes")


def test_a_file_uploaded_through_lfs_gets_the_xet_hash_hf_xet_computes(hub, api, name, tmp_path):
    """Uploaded over Git LFS (huggingface_hub without hf_xet), a file is cut
    into xorbs by the hub with hf_xet's own chunker: its advertised Xet hash
    is the one hf_xet computes locally for the same bytes, and it downloads
    through Xet like any Xet upload."""
    import time

    repo_id = f"{hub.user}/{name('lfs2xet')}"
    api.create_repo(repo_id)
    original = random_file(tmp_path / "w.bin", 6 * 1024 * 1024 + 123, seed=77)
    run_client(
        f"""
        from huggingface_hub import HfApi
        HfApi().upload_file(path_or_fileobj={str(original)!r}, path_in_repo="w.bin", repo_id={repo_id!r})
        """,
        env={"HF_ENDPOINT": hub.endpoint, "HF_TOKEN": hub.token, "HF_HUB_DISABLE_XET": "1"},
    )
    expected = json.loads(run_client(
        f"""
        import json, hf_xet
        [info] = hf_xet.hash_files([{str(original)!r}])
        print(json.dumps(info.hash))
        """
    ).strip().splitlines()[-1])
    # The hub chunks it in the background (it polls its queue every second).
    url = f"{hub.endpoint}/{repo_id}/resolve/main/w.bin"
    for _ in range(120):
        head = requests.head(url, headers={"Authorization": f"Bearer {hub.token}"})
        if "X-Xet-Hash" in head.headers:
            break
        time.sleep(0.25)
    assert head.headers.get("X-Xet-Hash") == expected, head.headers

    offset = hub.log_offset()
    through_xet = download(hub, repo_id, "w.bin", tmp_path / "xet")
    assert used_xet(hub.requests_since(offset))
    assert sha256_file(through_xet) == sha256_file(original)
    over_http = download(hub, repo_id, "w.bin", tmp_path / "http", env={"HF_HUB_DISABLE_XET": "1"})
    assert sha256_file(over_http) == sha256_file(original)


def test_git_lfs_clones_a_file_uploaded_through_xet(hub, xet_file, tmp_path):
    """A file that came in through hf_xet (stored only as xorbs) is an
    ordinary LFS file to `git clone` with git-lfs: the pointer in git, the
    bytes through the LFS batch API."""
    repo_id, original = xet_file
    url = hub.endpoint.replace("http://", f"http://user:{hub.token}@", 1) + f"/{repo_id}.git"
    work = tmp_path / "clone"
    lfs = [
        "-c", "filter.lfs.process=git-lfs filter-process",
        "-c", "filter.lfs.smudge=git-lfs smudge -- %f",
        "-c", "filter.lfs.clean=git-lfs clean -- %f",
        "-c", "filter.lfs.required=true",
    ]
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1"}
    proc = subprocess.run(["git", *lfs, "clone", url, str(work)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    pointer = subprocess.run(["git", "show", "HEAD:w.bin"], cwd=work, env=env,
                             capture_output=True, text=True, timeout=60).stdout
    assert pointer.startswith("version https://git-lfs.github.com/spec/v1\n"), pointer
    assert f"oid sha256:{sha256_file(original)}" in pointer, pointer
    assert sha256_file(work / "w.bin") == sha256_file(original)
