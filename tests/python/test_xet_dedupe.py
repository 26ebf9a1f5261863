"""Xet chunk dedupe, proven on the wire: the same 100 MB uploaded again under
a new path, with a persistent HF_XET_CACHE, sends almost nothing.

A new path means preupload has no oid to match, so the client really runs
an upload: what it skips, it skips because hf_xet found the chunks in its
local shard cache and the hub kept the xorbs they live in. Each upload runs
in its own interpreter (as two separate `hf upload` runs would), through a
relay that counts every byte sent to the hub, CAS traffic included (the hub
builds casUrl from the Host the client used, which is the relay's).

Across users, the client learns what the hub holds from the global dedupe
query (`/v1/chunks/`): another user's upload of published content sends
almost nothing, of private content everything."""

from huggingface_hub import HfApi

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


SAME_PROCESS = """
import sys
from huggingface_hub import HfApi
path, first, second = sys.argv[1:]
api = HfApi()
api.create_repo(first)
api.upload_file(path_or_fileobj=path, path_in_repo="w.bin", repo_id=first)
api.delete_repo(first)
api.create_repo(second)
print(api.upload_file(path_or_fileobj=path, path_in_repo="w.bin", repo_id=second).oid)
"""


def test_xorbs_stay_usable_to_their_uploader_after_the_first_repo_is_deleted(api, hub, name, tmp_path):
    # hf_xet remembers for the rest of the process which xorbs it uploaded
    # and never sends them again: the second repo gets only a shard naming
    # xorbs uploaded for a repo that no longer exists.
    first, second = f"{hub.user}/{name('gone')}", f"{hub.user}/{name('next')}"
    data = random_file(tmp_path / "w.bin", 4 * 1024 * 1024, seed=7)
    env = {"HF_XET_CACHE": str(tmp_path / "xet-cache")}
    offset = hub.log_offset()
    code = f"import sys; sys.argv = ['x', {str(data)!r}, {first!r}, {second!r}]\n" + SAME_PROCESS
    run_client(code, env=env, timeout=300)
    requests = hub.requests_since(offset)
    deleted = requests.index(("DELETE", "/api/repos/delete"))
    before, after = requests[:deleted], requests[deleted:]
    assert any("/v1/xorbs/" in p for _, p in before), requests
    assert not any("/v1/xorbs/" in p for _, p in after), requests
    assert any("/v1/shards" in p for _, p in after), requests
    got = api.hf_hub_download(second, "w.bin", cache_dir=str(tmp_path / "dl"))
    assert sha256_file(got) == sha256_file(data)


def test_other_users_dedupe_against_public_content_and_never_against_private(api, hub, name, tmp_path):
    # Global dedupe: bob's client, with an empty cache, asks the hub about
    # the first chunk of each file it uploads. For content alice published,
    # the answer lets it skip every xorb; for content only in alice's
    # private repo there is no answer, and bob uploads all of it.
    size = 16 * 1024 * 1024
    public, private = f"{hub.user}/{name('pub')}", f"{hub.user}/{name('priv')}"
    api.create_repo(public)
    api.create_repo(private, private=True)
    shared = random_file(tmp_path / "shared.bin", size, seed=31)
    secret = random_file(tmp_path / "secret.bin", size, seed=32)
    alice = {"HF_XET_CACHE": str(tmp_path / "alice-cache")}
    upload(shared, "w.bin", public, alice)
    upload(secret, "w.bin", private, alice)

    bob_repo = f"{hub.other_user}/{name('bob')}"
    bob_api = HfApi(endpoint=hub.endpoint, token=hub.other_token)
    bob_api.create_repo(bob_repo)
    sent = {}
    for label, path in (("shared", shared), ("secret", secret)):
        with Relay(hub.port) as relay:
            env = {
                "HF_ENDPOINT": relay.endpoint,
                "HF_TOKEN": hub.other_token,
                "HF_XET_CACHE": str(tmp_path / f"bob-cache-{label}"),
            }
            offset = hub.log_offset()
            upload(path, f"{label}.bin", bob_repo, env)
            sent[label] = (relay.upstream, hub.requests_since(offset))
    print(f"\nbob's upload of alice's public file: {sent['shared'][0]} bytes; "
          f"of her private one: {sent['secret'][0]} bytes")

    bytes_sent, requests = sent["shared"]
    assert any("/v1/chunks/" in p for _, p in requests), requests
    assert not any("/v1/xorbs/" in p for _, p in requests), requests
    assert bytes_sent < 1024 * 1024, bytes_sent
    bytes_sent, requests = sent["secret"]
    assert any("/v1/chunks/" in p for _, p in requests), requests
    assert any("/v1/xorbs/" in p for _, p in requests), requests
    assert bytes_sent >= size, bytes_sent

    for label, path in (("shared", shared), ("secret", secret)):
        got = bob_api.hf_hub_download(bob_repo, f"{label}.bin", cache_dir=str(tmp_path / f"dl-{label}"))
        assert sha256_file(got) == sha256_file(path), label
