"""Xet chunk dedupe, proven on the wire: the same 100 MB uploaded again under
a new path, with a persistent HF_XET_CACHE, sends almost nothing.

A new path means preupload has no oid to match, so the client really runs
an upload: what it skips, it skips because hf_xet found the chunks in its
local shard cache and the hub kept the xorbs they live in. Each upload runs
in its own interpreter (as two separate `hf upload` runs would), through a
relay that counts every byte sent to the hub, CAS traffic included (the hub
builds casUrl from the Host the client used, which is the relay's)."""

from helpers import Relay, random_file, run_client, sha256_file

SIZE = 100 * 1024 * 1024

UPLOAD = """
import sys
from huggingface_hub import HfApi
print(HfApi().upload_file(path_or_fileobj=sys.argv[1], path_in_repo=sys.argv[2], repo_id=sys.argv[3]).oid)
"""


def upload(path, path_in_repo, repo_id, env):
    code = f"import sys; sys.argv = ['x', {str(path)!r}, {path_in_repo!r}, {repo_id!r}]\n" + UPLOAD
    return run_client(code, env=env, timeout=600).strip().splitlines()[-1]


def test_xet_reupload_under_a_new_path_sends_almost_nothing(api, hub, name, tmp_path):
    repo_id = f"{hub.user}/{name('dedupe')}"
    api.create_repo(repo_id)
    big = random_file(tmp_path / "big.bin", SIZE, seed=100)
    digest = sha256_file(big)
    with Relay(hub.port) as relay:
        env = {"HF_ENDPOINT": relay.endpoint, "HF_XET_CACHE": str(tmp_path / "xet-cache")}

        offset = hub.log_offset()
        upload(big, "first/big.bin", repo_id, env)
        first_bytes = relay.upstream
        first_requests = hub.requests_since(offset)

        relay.reset()
        offset = hub.log_offset()
        upload(big, "second/copy.bin", repo_id, env)
        second_bytes = relay.upstream
        second_requests = hub.requests_since(offset)

    # The first upload sent the content once (random bytes do not compress).
    assert first_bytes >= SIZE, first_bytes
    assert first_bytes < SIZE * 1.2, first_bytes
    assert any("/v1/xorbs/" in p for _, p in first_requests), first_requests
    # The second: no xorb, one small shard, the commit.
    assert not any("/v1/xorbs/" in p for _, p in second_requests), second_requests
    assert any("/v1/shards" in p for _, p in second_requests), second_requests
    assert second_bytes < 1024 * 1024, f"re-upload sent {second_bytes} bytes"
    print(f"\nfirst upload: {first_bytes} bytes to the hub; re-upload: {second_bytes} bytes")

    # Both paths name the same LFS object, complete and correct.
    tree = {e.path: e for e in api.list_repo_tree(repo_id, recursive=True) if type(e).__name__ == "RepoFile"}
    for path in ("first/big.bin", "second/copy.bin"):
        assert tree[path].lfs.sha256 == digest, path
        assert tree[path].size == SIZE, path
    got = api.hf_hub_download(repo_id, "second/copy.bin", cache_dir=str(tmp_path / "dl"))
    assert sha256_file(got) == digest
