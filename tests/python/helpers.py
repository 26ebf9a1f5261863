"""Helpers shared by the test modules (the fixtures are in conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# The big file of the shared `populated` repo (conftest.py).
BIG_SIZE = 4 * 1024 * 1024

def run_client(code: str, env: dict[str, str] | None = None, timeout: int = 300) -> str:
    """Runs `code` in a fresh Python (clients that read their settings at
    import, e.g. HF_HUB_DISABLE_XET); returns its stdout, fails on error."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        pytest.fail(
            f"client subprocess failed ({proc.returncode}):\n--- stdout\n{proc.stdout}"
            f"\n--- stderr\n{proc.stderr[-6000:]}",
            pytrace=False,
        )
    return proc.stdout


def sha256_file(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def git_blob_sha1(data: bytes) -> str:
    import hashlib

    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def write_safetensors(path: Path, seed: int = 0, rows: int = 64) -> dict:
    import numpy as np
    from safetensors.numpy import save_file

    rng = np.random.default_rng(seed)
    tensors = {
        "embed.weight": rng.standard_normal((rows, 16)).astype(np.float32),
        "head.bias": np.arange(16, dtype=np.int64),
    }
    save_file(tensors, str(path), metadata={"format": "np"})
    return tensors


def write_parquet(path: Path, n: int = 100) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"id": list(range(n)), "text": [f"row {i}" for i in range(n)]})
    pq.write_table(table, str(path))


class Relay:
    """A TCP relay in front of the hub that counts the bytes each way.

    Clients pointed at `relay.endpoint` (http://localhost:RELAY_PORT) send
    their Host header unchanged, so every absolute URL the hub hands back
    (Xet CAS, LFS hrefs, Link pages) leads through the relay too: the counts
    are what crossed the wire. With `cut_after=N`, the first connection whose
    answers reach N bytes is cut there (an interrupted download)."""

    def __init__(self, target_port: int, cut_after: int | None = None):
        import socket
        import threading

        self._socket_mod = socket
        self.target_port = target_port
        self.cut_after = cut_after
        self.cut_done = False
        self.upstream = 0  # client -> hub
        self.downstream = 0  # hub -> client
        self.connections = 0
        self._lock = threading.Lock()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self.endpoint = f"http://localhost:{self.port}"
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def reset(self) -> None:
        with self._lock:
            self.upstream = self.downstream = self.connections = 0

    def close(self) -> None:
        self._closed = True
        try:
            self._listener.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _accept(self) -> None:
        import threading

        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = self._socket_mod.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self.connections += 1
            state = {"down": 0}
            threading.Thread(target=self._pump, args=(client, server, True, state), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False, state), daemon=True).start()

    def _pump(self, src, dst, up: bool, state: dict) -> None:
        socket = self._socket_mod
        try:
            while True:
                data = src.recv(1 << 16)
                if not data:
                    break
                cut = False
                if not up and self.cut_after is not None:
                    with self._lock:
                        if not self.cut_done and state["down"] + len(data) >= self.cut_after:
                            data = data[: max(self.cut_after - state["down"], 0)]
                            self.cut_done = cut = True
                dst.sendall(data)
                with self._lock:
                    if up:
                        self.upstream += len(data)
                    else:
                        self.downstream += len(data)
                        state["down"] += len(data)
                if cut:
                    break
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                try:
                    s.close()
                except OSError:
                    pass


def random_file(path: Path, size: int, seed: int = 0) -> Path:
    """`size` bytes that no compressor shrinks, reproducible from `seed`."""
    import numpy as np

    rng = np.random.default_rng(seed)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 8 << 20)
            f.write(rng.integers(0, 256, n, dtype=np.uint8).tobytes())
            left -= n
    return path


def is_lfs_entry(entry) -> bool:
    return getattr(entry, "lfs", None) is not None


def commit_sha(value: str) -> bool:
    import re

    return re.fullmatch(r"[0-9a-f]{40}", value or "") is not None


def check_files(api, repo_id: str, files: dict, lfs: set, cache_dir: Path, repo_type: str = "model",
                revision: str | None = None) -> None:
    """The repo holds exactly `files` ({path: local Path}) besides .gitattributes,
    the `lfs` ones as LFS objects with the right sha256, every byte as uploaded."""
    from huggingface_hub import hf_hub_download

    tree = {
        e.path: e
        for e in api.list_repo_tree(repo_id, recursive=True, repo_type=repo_type, revision=revision)
        if type(e).__name__ == "RepoFile"
    }
    assert set(tree) - {".gitattributes"} == set(files), sorted(tree)
    for path, local in files.items():
        data = Path(local).read_bytes()
        entry = tree[path]
        assert entry.size == len(data), path
        if path in lfs:
            assert entry.lfs is not None, f"{path} should be stored in LFS"
            assert entry.lfs.sha256 == sha256_file(local), path
            assert entry.lfs.size == len(data), path
        else:
            assert entry.lfs is None, f"{path} should be a plain git blob"
            assert entry.blob_id == git_blob_sha1(data), path
        got = hf_hub_download(repo_id, path, repo_type=repo_type, revision=revision,
                              cache_dir=str(cache_dir), endpoint=api.endpoint, token=api.token)
        assert Path(got).read_bytes() == data, path
