"""The Python suite: the unmodified Hugging Face clients (huggingface_hub, hf_xet,
transformers, datasets) against the real `hub` binary.

One hub for the whole session (per-test repos keep tests apart), started here
before any test module is imported: huggingface_hub, transformers and datasets
read HF_ENDPOINT and their cache paths once, at import.

- The binary: `$HUB_TEST_BINARY`, else `$CARGO_TARGET_DIR/debug/hub`, else
  `target/debug/hub` under the repo root (`tests/run` builds it first).
- The database: a fresh one on the server of `HUB_TEST_DATABASE_URL` (created
  and dropped with `psql`), or, when that is unset, the hub's own private
  cluster in its data dir (what `hub serve` does with DATABASE_URL unset).
- The clients talk to `http://localhost:PORT` while the hub listens on
  127.0.0.1: every absolute URL the hub hands out must be built from the
  request's own host, or the HF client refuses it.
- Under CI=true nothing may be skipped: a skip is reported as a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from hub_process import CI, Hub, start_hub, stop_hub

_HUB: Hub | None = None
_HUB_ERROR: str | None = None


def pytest_configure(config):
    global _HUB, _HUB_ERROR
    if _HUB is not None or _HUB_ERROR is not None:
        return
    try:
        _HUB = start_hub()
    except Exception as e:  # reported by every test through the `hub` fixture
        _HUB_ERROR = f"{type(e).__name__}: {e}"
        # Never let a client reach out to huggingface.co instead.
        os.environ["HF_ENDPOINT"] = "http://localhost:9"


def pytest_unconfigure(config):
    if _HUB is not None:
        stop_hub(_HUB)
        if os.environ.get("HUB_TEST_KEEP") != "1":
            shutil.rmtree(_HUB.tmp, ignore_errors=True)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if _HUB_ERROR:
        terminalreporter.write_line(f"the hub did not start: {_HUB_ERROR}", red=True)
    elif _HUB is not None and exitstatus != 0:
        tail = _HUB.log_path.read_text(errors="replace").splitlines()[-40:]
        terminalreporter.section("hub log (last 40 lines)")
        for line in tail:
            terminalreporter.write_line(line)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if CI and report.skipped:
        # Under CI a skipped scenario is an untested one: count it as failed.
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which counts as a failure: {reason}"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def hub() -> Hub:
    if _HUB_ERROR:
        pytest.fail(f"the hub did not start: {_HUB_ERROR}", pytrace=False)
    assert _HUB is not None
    assert _HUB.process.poll() is None, "the hub has exited; see its log"
    return _HUB


@pytest.fixture(scope="session")
def api(hub):
    from huggingface_hub import HfApi

    return HfApi(endpoint=hub.endpoint, token=hub.token)


@pytest.fixture
def name(request):
    """A fresh repo name per call: name('model') -> 'model-<test>-<random>'."""
    test = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name)[:40].strip("-")

    def make(prefix: str = "r") -> str:
        return f"{prefix}-{test}-{uuid.uuid4().hex[:6]}"

    return make


@pytest.fixture
def workdir(tmp_path) -> Path:
    return tmp_path


@dataclass
class PopulatedRepo:
    """A model repo with history, a branch and a tag, shared read-only."""

    repo_id: str
    first: str  # commit of the first upload (tag v1, branch dev start)
    dev: str  # head of branch dev
    main: str  # head of main
    files: dict  # path -> bytes at main
    v1_config: bytes
    dev_config: bytes


@pytest.fixture(scope="session")
def populated(hub, api, tmp_path_factory) -> PopulatedRepo:
    """`alice/populated-*`:
    main: .gitattributes, config.json, weights.safetensors (LFS), big.bin
    (4 MiB, LFS), sub/dir/file.txt, sub/top.txt; dev: main's first commit plus
    its own config.json; tag v1 on the first commit."""
    from helpers import BIG_SIZE, random_file, write_safetensors

    root = tmp_path_factory.mktemp("populated") / "files"
    (root / "sub" / "dir").mkdir(parents=True)
    v1_config = b'{"version": 1}\n'
    (root / "config.json").write_bytes(v1_config)
    write_safetensors(root / "weights.safetensors", seed=7)
    random_file(root / "big.bin", BIG_SIZE, seed=8)
    (root / "sub" / "dir" / "file.txt").write_bytes(b"deep file\n")
    (root / "sub" / "top.txt").write_bytes(b"top of sub\n")

    repo_id = f"{hub.user}/populated-{uuid.uuid4().hex[:8]}"
    api.create_repo(repo_id)
    first = api.upload_folder(repo_id=repo_id, folder_path=root, commit_message="first upload").oid
    api.create_tag(repo_id, tag="v1", revision=first, tag_message="the first one")
    api.create_branch(repo_id, branch="dev", revision=first)
    dev_config = b'{"version": "dev"}\n'
    dev = api.upload_file(path_or_fileobj=dev_config, path_in_repo="config.json", repo_id=repo_id,
                          revision="dev", commit_message="dev config").oid
    main_config = b'{"version": 2}\n'
    main = api.upload_file(path_or_fileobj=main_config, path_in_repo="config.json", repo_id=repo_id,
                           commit_message="second config").oid
    files = {
        "config.json": main_config,
        "weights.safetensors": (root / "weights.safetensors").read_bytes(),
        "big.bin": (root / "big.bin").read_bytes(),
        "sub/dir/file.txt": b"deep file\n",
        "sub/top.txt": b"top of sub\n",
    }
    return PopulatedRepo(repo_id, first, dev, main, files, v1_config, dev_config)
