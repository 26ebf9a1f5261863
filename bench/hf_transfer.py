#!/usr/bin/env python3
"""Hugging Face client transfer benchmark (issue 4).

Measures, against a fresh `hub serve` on loopback, with the unmodified
clients from the test venv (.venv, made by tests/run):

1. upload of a 512 MiB file with `HfApi.upload_file` through the default Xet
   path (hf_xet), against `sha256sum` of the same file;   target ratio >= 0.5
2. the same through LFS (`HF_HUB_DISABLE_XET=1`), against `sha256sum`;  (reported)
3. `hf_hub_download` of the file, against `curl` of the same resolve URL; target >= 0.9
   (with, for reference, the client's own HTTP stack alone: an httpx2 stream of
   the same URL into a file, as hf_hub_download reads it, in 10 MiB chunks)

Usage:  .venv/bin/python bench/hf_transfer.py
        (BENCH_HF_SIZE_MIB=512, BENCH_HF_REPS=3, BENCH_KEEP=1 keeps the temp dir and hub.log)

The hub is target/release/hub when built (else target/debug/hub; or
HUB_TEST_BINARY); the database is HUB_TEST_DATABASE_URL's server, or the hub's
private cluster. Each upload is of content the hub has never seen (fresh
random head, fresh HF_XET_CACHE), so neither LFS nor Xet can skip it. Every
timing is the median of BENCH_HF_REPS runs, client and reference interleaved,
page cache warm. Client timings are taken inside the client process, around
the one call (no interpreter start-up). Prints a markdown table on stdout.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))

SIZE = int(os.environ.get("BENCH_HF_SIZE_MIB", "512")) * 1024 * 1024
REPS = int(os.environ.get("BENCH_HF_REPS", "3"))


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def new_head(path: Path) -> None:
    """Fresh random bytes over the head: content the hub has never stored."""
    with open(path, "r+b") as f:
        f.write(os.urandom(4096))


CLIENT = r"""
import json, os, sys, time
from huggingface_hub import HfApi, hf_hub_download
op, arg1, arg2, repo = sys.argv[1:5]
t = time.perf_counter()
if op == "upload":
    HfApi().upload_file(path_or_fileobj=arg1, path_in_repo=arg2, repo_id=repo)
elif op == "httpx":
    # The client's own HTTP stack alone, as hf_hub_download drives it: the ceiling of any server.
    import httpx2
    with httpx2.stream("GET", arg1, headers={"authorization": "Bearer " + os.environ["HF_TOKEN"]}) as r, \
            open(arg2, "wb") as f:
        for chunk in r.iter_bytes(chunk_size=10 * 1024 * 1024):
            f.write(chunk)
else:
    hf_hub_download(repo, arg1, cache_dir=arg2)
print(json.dumps({"seconds": time.perf_counter() - t}))
"""


def client(op: str, a: str, b: str, repo: str, env: dict) -> float:
    out = subprocess.run(
        [sys.executable, "-c", CLIENT, op, a, b, repo],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=3600,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{op} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])["seconds"]


def main() -> int:
    release = ROOT / "target" / "release" / "hub"
    if "HUB_TEST_BINARY" not in os.environ and release.exists():
        os.environ["HUB_TEST_BINARY"] = str(release)
    import conftest  # the test suite's hub launcher (fresh database, users, tokens)
    from helpers import random_file

    hub = conftest._start_hub()
    try:
        from huggingface_hub import HfApi

        api = HfApi(endpoint=hub.endpoint, token=hub.token)
        work = hub.tmp / "bench"
        work.mkdir()
        big = random_file(work / "big.bin", SIZE, seed=int(time.time()))
        log(f"hub {os.environ.get('HUB_TEST_BINARY', conftest.hub_binary())} on {hub.endpoint}; "
            f"file {SIZE >> 20} MiB")
        mib = SIZE / (1 << 20)
        results: dict[str, list[float]] = {k: [] for k in ("sha", "xet", "lfs", "dl", "curl", "httpx")}

        for rep in range(REPS):
            for path_kind, env in (("xet", {}), ("lfs", {"HF_HUB_DISABLE_XET": "1"})):
                new_head(big)
                results["sha"].append(timed(["sha256sum", str(big)]))
                repo = f"{hub.user}/bench-{path_kind}-{rep}"
                api.create_repo(repo, exist_ok=True)
                env = {**env, "HF_XET_CACHE": str(work / f"xet-{path_kind}-{rep}")}
                results[path_kind].append(client("upload", str(big), "big.bin", repo, env))
                log(f"rep {rep}: {path_kind} upload {mib / results[path_kind][-1]:.0f} MiB/s, "
                    f"sha256sum {mib / results['sha'][-1]:.0f} MiB/s")

        repo = f"{hub.user}/bench-lfs-{REPS - 1}"
        url = f"{hub.endpoint}/{repo}/resolve/main/big.bin"
        auth = ["-H", f"authorization: Bearer {hub.token}"]
        subprocess.run(["curl", "-fsS", "-o", os.devnull, *auth, url], check=True)  # warm
        for rep in range(REPS):
            results["curl"].append(timed(["curl", "-fsS", "-o", str(work / "curl.out"), *auth, url]))
            (work / "curl.out").unlink()
            cache = work / f"dl-cache-{rep}"
            results["dl"].append(client("download", "big.bin", str(cache), repo, {}))
            import shutil
            shutil.rmtree(cache)
            results["httpx"].append(client("httpx", url, str(work / "httpx.out"), repo, {}))
            (work / "httpx.out").unlink()
            log(f"rep {rep}: hf_hub_download {mib / results['dl'][-1]:.0f} MiB/s, "
                f"curl {mib / results['curl'][-1]:.0f} MiB/s, "
                f"httpx2 stream {mib / results['httpx'][-1]:.0f} MiB/s")

        med = {k: statistics.median(v) for k, v in results.items()}
        speed = {k: mib / v for k, v in med.items()}
        rows = [
            ("Xet upload (upload_file, hf_xet)", "sha256sum", speed["xet"], speed["sha"], 0.5),
            ("LFS upload (HF_HUB_DISABLE_XET=1)", "sha256sum", speed["lfs"], speed["sha"], None),
            ("hf_hub_download", "curl of the resolve URL", speed["dl"], speed["curl"], 0.9),
            ("httpx2 stream to a file (the client's HTTP stack alone)", "curl of the resolve URL",
             speed["httpx"], speed["curl"], None),
        ]
        print(f"| figure ({SIZE >> 20} MiB, median of {REPS}) | MiB/s | reference | MiB/s | ratio | target |")
        print("|---|---|---|---|---|---|")
        ok = True
        for label, ref, mine, theirs, target in rows:
            ratio = mine / theirs
            verdict = "—" if target is None else f"≥ {target} {'ok' if ratio >= target else 'MISSED'}"
            ok &= target is None or ratio >= target
            print(f"| {label} | {mine:.0f} | {ref} | {theirs:.0f} | {ratio:.3f} | {verdict} |")
        return 0 if ok else 1
    finally:
        conftest._stop_hub(hub)
        if os.environ.get("BENCH_KEEP") == "1":
            log(f"kept {hub.tmp} (hub.log there)")
        else:
            import shutil

            shutil.rmtree(hub.tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
