"""Mirror mode with the real clients: a second hub, A, is the upstream of
the session's hub, B (the one HF_ENDPOINT points at). Repos pushed to A
with huggingface_hub are read through B, which never held them, by
hf_hub_download, snapshot_download (at a branch, a tag and a full sha, with
A's exact commits), AutoConfig/AutoTokenizer, load_dataset and the
ModelScope SDK; a ranged read and a resumed download of files B has not
cached; a new commit on A reaches B by `hub mirror sync` and after the
freshness time; with A stopped, B serves what it cached and answers an
uncached repo with a 503 naming the upstream.

B's state stays as the other modules expect it: A's repos live under a
namespace B does not have, the policy is restored after each change, and
the upstream is removed when the module ends (an upstream that is down
would turn B's "not found" answers for unknown namespaces into 503s).
The last test stops A, so it stays last."""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from huggingface_hub import HfApi, hf_hub_download, snapshot_download

from helpers import Relay, random_file, run_client, sha256_file
from hub_process import Hub, start_hub, stop_hub
from test_datasets import ROWS, csv_bytes, rows_of
from test_modelscope import ms_env
from test_transformers import IDS, TEXT, VOCAB, tiny_config, tiny_tokenizer

MIB = 1 << 20


@dataclass
class Upstream:
    hub: Hub  # A
    name: str  # what B calls it
    namespace: str  # A's user, a namespace B does not have
    api: HfApi  # A, as that user

    def repo(self, prefix: str) -> str:
        return f"{self.namespace}/{prefix}-{uuid.uuid4().hex[:6]}"


def start_upstream_hub() -> Hub:
    """A second hub; start_hub() points this process's clients at the hub it
    starts, so the session's settings are put back (the clients imported
    theirs at start-up, and subprocess clients read them from here)."""
    saved = dict(os.environ)
    try:
        return start_hub()
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="module")
def upstream(hub):
    a = start_upstream_hub()
    try:
        namespace = f"upstream-{uuid.uuid4().hex[:8]}"
        a.create_user(namespace)
        token = a.create_token(namespace, write=True)
        name = f"a-{uuid.uuid4().hex[:6]}"
        hub.cli("mirror", "upstream", "add", name, "--kind", "hf", "--endpoint", a.direct_url)
        try:
            yield Upstream(a, name, namespace, HfApi(endpoint=a.endpoint, token=token))
        finally:
            hub.cli("mirror", "upstream", "remove", name)
    finally:
        stop_hub(a)
        if os.environ.get("HUB_TEST_KEEP") != "1":
            import shutil

            shutil.rmtree(a.tmp, ignore_errors=True)


@contextlib.contextmanager
def mirror_policy(hub: Hub, *args: str):
    """B's mirror policy changed by `hub mirror policy ARGS` for the block,
    then put back as it was."""
    before = json.loads(hub.cli("mirror", "policy"))
    hub.cli("mirror", "policy", *args)
    try:
        yield
    finally:
        hub.cli(
            "mirror", "policy",
            "--offline", "on" if before["offline"] else "off",
            "--anonymous-fetch", "on" if before["anonymous_fetch"] else "off",
            "--freshness", str(before["freshness_seconds"]),
        )


def mirrored(hub: Hub, repo_id: str) -> dict | None:
    """B's record of mirrored repo `repo_id` (`hub mirror list`)."""
    for line in hub.cli("mirror", "list").splitlines():
        row = json.loads(line)
        if row["full_name"] == repo_id:
            return row
    return None


def wait_cached(hub: Hub, repo_id: str, size: int) -> dict:
    """B's record of `repo_id` once it holds `size` bytes of large files:
    readers get the last byte before B has verified and stored the file."""
    deadline = time.monotonic() + 60
    while (row := mirrored(hub, repo_id))["cached_bytes"] != size:
        assert time.monotonic() < deadline, row
        time.sleep(0.2)
    return row


@dataclass
class Model:
    repo_id: str
    first: str  # tag v1, where dev starts
    dev: str
    main: str
    files: dict  # path -> bytes at main


@pytest.fixture(scope="module")
def model(upstream, tmp_path_factory) -> Model:
    """On A: a tiny BERT config and tokenizer, a 6 MiB large file, a branch
    `dev` and a tag `v1` on the first commit, and one commit more on main."""
    folder = tmp_path_factory.mktemp("upstream-model")
    tiny_tokenizer().save_pretrained(folder)
    tiny_config().save_pretrained(folder)
    random_file(folder / "weights.bin", 6 * MIB, seed=21)
    api = upstream.api
    repo_id = upstream.repo("tiny-bert")
    api.create_repo(repo_id)
    first = api.upload_folder(repo_id=repo_id, folder_path=folder, commit_message="tiny bert").oid
    api.create_tag(repo_id, tag="v1", revision=first)
    api.create_branch(repo_id, branch="dev", revision=first)
    dev = api.upload_file(path_or_fileobj=b"on dev\n", path_in_repo="dev.txt", repo_id=repo_id,
                          revision="dev").oid
    main = api.upload_file(path_or_fileobj=b"# tiny bert\n", path_in_repo="README.md",
                           repo_id=repo_id).oid
    files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    files["README.md"] = b"# tiny bert\n"
    return Model(repo_id, first, dev, main, files)


def snapshot_files(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*")
            if p.is_file() and ".cache" not in p.parts}


def test_hf_hub_download_through_the_mirror(hub, upstream, model, tmp_path):
    assert upstream.api.model_info(model.repo_id).sha == model.main
    cache = tmp_path / "cache"
    config = Path(hf_hub_download(model.repo_id, "config.json", cache_dir=str(cache)))
    assert config.read_bytes() == model.files["config.json"]
    # Named by the commit B answered with: A's.
    assert config.parent.name == model.main
    weights = Path(hf_hub_download(model.repo_id, "weights.bin", cache_dir=str(cache)))
    assert weights.read_bytes() == model.files["weights.bin"]

    row = wait_cached(hub, model.repo_id, len(model.files["weights.bin"]))
    assert row["upstream"] == upstream.name and row["cached_files"] == 1, row
    # B's own API says so too.
    info = HfApi(endpoint=hub.endpoint, token=hub.token).model_info(model.repo_id)
    assert info.sha == model.main


def test_snapshot_download_at_a_branch_a_tag_and_a_sha(hub, upstream, model, tmp_path):
    refs = upstream.api.list_repo_refs(model.repo_id)
    upstream_refs = {b.name: b.target_commit for b in refs.branches} | {
        f"tag:{t.name}": t.target_commit for t in refs.tags}
    assert upstream_refs == {"main": model.main, "dev": model.dev, "tag:v1": model.first}
    b_refs = HfApi(endpoint=hub.endpoint, token=hub.token).list_repo_refs(model.repo_id)
    assert {b.name: b.target_commit for b in b_refs.branches} | {
        f"tag:{t.name}": t.target_commit for t in b_refs.tags} == upstream_refs

    for revision, commit in [("dev", model.dev), ("v1", model.first), (model.main, model.main)]:
        path = Path(snapshot_download(model.repo_id, revision=revision, cache_dir=str(tmp_path / "c")))
        assert path.name == commit, revision
        got = snapshot_files(path)
        expected = {p: d for p, d in model.files.items() if p != "README.md"}
        if revision == "dev":
            expected["dev.txt"] = b"on dev\n"
        if revision == model.main:
            expected["README.md"] = model.files["README.md"]
        got.pop(".gitattributes", None)
        assert got == expected, revision


def test_auto_config_and_auto_tokenizer_through_the_mirror(model, tmp_path):
    from transformers import AutoConfig, AutoTokenizer, BertConfig

    config = AutoConfig.from_pretrained(model.repo_id, cache_dir=str(tmp_path))
    assert isinstance(config, BertConfig)
    assert (config.hidden_size, config.vocab_size) == (32, len(VOCAB))
    folder = tmp_path / f"models--{model.repo_id.replace('/', '--')}"
    assert (folder / "snapshots" / model.main / "config.json").exists()
    pinned = AutoConfig.from_pretrained(model.repo_id, revision="v1", cache_dir=str(tmp_path / "v1"))
    assert pinned.to_dict() == config.to_dict()

    tokenizer = AutoTokenizer.from_pretrained(model.repo_id, cache_dir=str(tmp_path))
    assert tokenizer(TEXT)["input_ids"] == IDS
    assert tokenizer.get_vocab() == VOCAB


def test_load_dataset_through_the_mirror(upstream, tmp_path):
    from datasets import load_dataset

    from huggingface_hub import CommitOperationAdd

    repo_id = upstream.repo("rows")
    upstream.api.create_repo(repo_id, repo_type="dataset")
    upstream.api.create_commit(
        repo_id,
        [CommitOperationAdd("data/train.csv", csv_bytes(ROWS)),
         CommitOperationAdd("README.md", b"---\nlicense: mit\n---\n# rows\n")],
        commit_message="rows", repo_type="dataset",
    )
    ds = load_dataset(repo_id, cache_dir=str(tmp_path / "cache"))
    assert set(ds) == {"train"}
    assert rows_of(ds["train"]) == ROWS


def test_modelscope_snapshot_download_through_the_mirror(hub, upstream, tmp_path):
    # A repo B has never been asked for: the ModelScope API is what mirrors it.
    repo_id = upstream.repo("ms")
    upstream.api.create_repo(repo_id)
    weights = random_file(tmp_path / "model.safetensors", 3 * MIB, seed=22)
    folder = tmp_path / "up"
    (folder / "sub").mkdir(parents=True)
    (folder / "configuration.json").write_bytes(b'{"framework": "pytorch"}\n')
    (folder / "sub" / "notes.txt").write_bytes("说明\n".encode())
    (folder / "model.safetensors").write_bytes(weights.read_bytes())
    upstream.api.upload_folder(repo_id=repo_id, folder_path=folder)

    code = f"""
        import json
        from modelscope import snapshot_download
        print(json.dumps(snapshot_download({repo_id!r})))
    """
    out = run_client(code, env=ms_env(hub, tmp_path / "ms-cache", token=hub.token))
    root = Path(json.loads(out.strip().splitlines()[-1]))
    got = {p.relative_to(root).as_posix(): p.read_bytes()
           for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")}
    assert got == snapshot_files(folder)
    assert mirrored(hub, repo_id) is not None


def test_ranged_read_and_resumed_download_of_uncached_files(hub, upstream, tmp_path, monkeypatch):
    # As test_download.py's resume test: huggingface_hub 2.4.0 resumes within
    # one call from its last 10 MiB chunk with `Range: bytes=N-` after the
    # connection drops; the relay cuts B's first answer 15 MiB into 24 MiB.
    # Plain HTTP, so Xet is off.
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    size, cut, chunk = 24 * MIB, 15 * MIB, 10 * MIB
    repo_id = upstream.repo("resume")
    upstream.api.create_repo(repo_id)
    local = random_file(tmp_path / "resume.bin", size, seed=23)
    tail = random_file(tmp_path / "tail.bin", 6 * MIB, seed=24)
    upstream.api.upload_file(path_or_fileobj=local, path_in_repo="resume.bin", repo_id=repo_id)
    upstream.api.upload_file(path_or_fileobj=tail, path_in_repo="tail.bin", repo_id=repo_id)

    # Mirrored (its git history), none of its large files yet.
    HfApi(endpoint=hub.endpoint, token=hub.token).model_info(repo_id)
    row = mirrored(hub, repo_id)
    assert row is not None and row["cached_files"] == 0, row

    # The last kilobyte of a file B has not cached.
    data = tail.read_bytes()
    part = requests.get(f"{hub.endpoint}/{repo_id}/resolve/main/tail.bin",
                        headers={"Authorization": f"Bearer {hub.token}",
                                 "Range": f"bytes={len(data) - 1000}-"}, timeout=120)
    assert part.status_code == 206, part.text
    assert part.content == data[-1000:]
    assert part.headers["content-range"] == f"bytes {len(data) - 1000}-{len(data) - 1}/{len(data)}"

    offset = hub.log_offset()
    with Relay(hub.port, cut_after=cut) as relay:
        path = hf_hub_download(repo_id, "resume.bin", cache_dir=str(tmp_path / "cache"),
                               endpoint=relay.endpoint)
        assert relay.cut_done
        downstream = relay.downstream
    assert sha256_file(path) == sha256_file(local)
    # Resumed, not started over.
    assert downstream < cut + size - chunk + MIB, downstream
    gets = [line for line in hub.log_since(offset).splitlines()
            if "method=GET" in line and "resume.bin" in line and "status=" in line]
    assert [("status=200" in g, "status=206" in g) for g in gets] == [(True, False), (False, True)], gets

    # Both files end up in B's storage, whole and verified.
    assert wait_cached(hub, repo_id, size + len(data))["cached_files"] == 2


def test_a_new_upstream_commit_shows_after_a_sync_and_after_the_freshness_time(hub, upstream, tmp_path):
    repo_id = upstream.repo("moving")
    upstream.api.create_repo(repo_id)
    one = upstream.api.upload_file(path_or_fileobj=b"one\n", path_in_repo="a.txt", repo_id=repo_id).oid
    b_api = HfApi(endpoint=hub.endpoint, token=hub.token)
    assert b_api.model_info(repo_id).sha == one
    assert json.loads(hub.cli("mirror", "policy"))["freshness_seconds"] >= 60

    two = upstream.api.upload_file(path_or_fileobj=b"two\n", path_in_repo="a.txt", repo_id=repo_id).oid
    # Within the freshness time (300 s by default) B answers what it has...
    assert b_api.model_info(repo_id).sha == one
    # ...until it is synced.
    report = json.loads(hub.cli("mirror", "sync", repo_id))
    assert report["files"] == 0, report  # a.txt is no large file
    assert b_api.model_info(repo_id).sha == two
    got = hf_hub_download(repo_id, "a.txt", cache_dir=str(tmp_path / "c2"))
    assert Path(got).read_bytes() == b"two\n" and Path(got).parent.name == two

    freshness = json.loads(hub.cli("mirror", "policy"))["freshness_seconds"]
    with mirror_policy(hub, "--freshness", "1"):
        three = upstream.api.upload_file(path_or_fileobj=b"three\n", path_in_repo="a.txt",
                                         repo_id=repo_id).oid
        time.sleep(1.5)
        assert b_api.model_info(repo_id).sha == three
        got = hf_hub_download(repo_id, "a.txt", cache_dir=str(tmp_path / "c3"))
        assert Path(got).read_bytes() == b"three\n" and Path(got).parent.name == three
    assert json.loads(hub.cli("mirror", "policy"))["freshness_seconds"] == freshness


def test_with_the_upstream_down_the_cache_is_served_and_the_rest_is_a_clear_error(
        hub, upstream, model, tmp_path):
    # Something of the model cached first (whatever ran before).
    hf_hub_download(model.repo_id, "weights.bin", cache_dir=str(tmp_path / "warm"))
    never = upstream.repo("never-asked")
    upstream.api.create_repo(never)

    stop_hub(upstream.hub)  # A is gone for good: this test stays last.

    # Refs older than the freshness time make B try A; it serves its copy.
    with mirror_policy(hub, "--freshness", "1"):
        time.sleep(1.5)
        cache = tmp_path / "cold"
        weights = Path(hf_hub_download(model.repo_id, "weights.bin", cache_dir=str(cache)))
        assert weights.read_bytes() == model.files["weights.bin"]
        assert weights.parent.name == model.main
        tag = Path(hf_hub_download(model.repo_id, "config.json", revision="v1", cache_dir=str(cache)))
        assert tag.read_bytes() == model.files["config.json"] and tag.parent.name == model.first

    # A repo B never fetched: a 503 that names the upstream, at once.
    start = time.monotonic()
    answer = requests.get(f"{hub.endpoint}/api/models/{never}",
                          headers={"Authorization": f"Bearer {hub.token}"}, timeout=60)
    assert answer.status_code == 503, answer.text
    assert upstream.name in answer.text and "upstream" in answer.text, answer.text
    assert time.monotonic() - start < 30
    from huggingface_hub.errors import HfHubHTTPError

    with pytest.raises(HfHubHTTPError) as e:
        HfApi(endpoint=hub.endpoint, token=hub.token).model_info(never)
    assert e.value.response.status_code == 503
    assert upstream.name in str(e.value)
