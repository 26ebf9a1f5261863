#!/usr/bin/env python3
"""The download figures of the Xet issue, in one run on one machine, each
beside its reference (a markdown table on stdout, progress on stderr):

1. `hf_hub_download` of a 1 GiB file with hf_xet vs `curl` of its plain
   resolve URL (target >= 0.9).
2. `snapshot_download` of 8 x 128 MiB files vs 8 parallel `curl`s (>= 0.9).
3. A second revision with 1% of the 1 GiB file changed: the bytes of its
   reconstruction that the first revision's does not already fetch (<= 5%),
   and what hf_xet 1.8.0 actually downloads (it keeps no chunk cache).
4. Stored bytes after both revisions went in once through Xet and once
   through Git LFS (chunked by the hub), against the unique content (<= 1.1).
5. The hub's peak RSS over all of it (< 300 MB).

Run from the repository root after `cargo build --release --bin hub`:

    HUB_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/xet.py > /tmp/xet.md

It needs the test venv (huggingface_hub, hf_xet), curl, psql, and about
10 GB of free disk under $TMPDIR. BENCH_XET_GIB scales the big file.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))
os.environ.setdefault(
    "HUB_TEST_BINARY",
    str(Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "hub"),
)
from hub_process import start_hub, stop_hub  # noqa: E402

MIB = 1 << 20
BIG = int(float(os.environ.get("BENCH_XET_GIB", "1")) * 1024) * MIB
SMALL = BIG // 8
REPS = 4


def log(msg: str) -> None:
    print(f"[xet bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def random_file(path: Path, size: int) -> Path:
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 16 * MIB)
            f.write(os.urandom(n))
            left -= n
    return path


def client(code: str, env: dict[str, str], timeout: int = 1800) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if out.returncode != 0:
        raise RuntimeError(f"client failed:\n{out.stderr[-3000:]}")
    return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""


def timed(fn) -> float:
    start = time.monotonic()
    fn()
    return time.monotonic() - start


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot, from /proc/stat."""
    fields = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) process `pid` has used."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory(pid: int, field: str) -> int:
    """A `VmRSS`/`VmHWM`-style field of /proc/PID/status, in bytes."""
    return next(int(line.split()[1]) * 1024 for line in open(f"/proc/{pid}/status")
                if line.startswith(field + ":"))


class Peaks:
    """The hub's peak RSS phase by phase: VmHWM is read, then reset
    (`5` to /proc/PID/clear_refs), so each phase's own peak shows which one
    sets the figure; the figure itself is the largest of them."""

    def __init__(self, pid: int):
        self.pid, self.phases = pid, []
        self.mark("start-up")

    def mark(self, phase: str) -> None:
        self.phases.append((phase, memory(self.pid, "VmHWM")))
        with open(f"/proc/{self.pid}/clear_refs", "w") as f:
            f.write("5")

    def peak(self) -> int:
        return max(hwm for _, hwm in self.phases)

    def __str__(self) -> str:
        return "hub peak RSS by phase: " + ", ".join(f"{p} {hwm / 1e6:.0f} MB" for p, hwm in self.phases)


class CpuUse:
    """Where the CPU went while `fn` ran: the client processes it started
    (waited-for children), the hub, and the machine as a whole. Dirty pages
    (the last upload's, the last download's) are written out first and not
    timed, so no run pays for the one before it."""

    def __init__(self, hub_pid: int, fn):
        import resource

        os.sync()

        child = lambda: sum(getattr(resource.getrusage(resource.RUSAGE_CHILDREN), f)  # noqa: E731
                            for f in ("ru_utime", "ru_stime"))
        c0, h0, (b0, t0) = child(), process_cpu(hub_pid), machine_jiffies()
        fn()
        self.client = child() - c0
        self.hub = process_cpu(hub_pid) - h0
        b1, t1 = machine_jiffies()
        self.busy = (b1 - b0) / max(t1 - t0, 1)

    def per_gib(self, size: int) -> str:
        gib = size / (1 << 30)
        return (f"client {self.client / gib:.2f} CPU-s/GiB, hub {self.hub / gib:.2f} CPU-s/GiB, "
                f"machine {self.busy:.0%} busy")


def main() -> None:
    hub = start_hub()
    tmp = Path(tempfile.mkdtemp(prefix="kyb-xet-"))
    env = {"HF_ENDPOINT": hub.endpoint, "HF_TOKEN": hub.token, "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    no_xet = {**env, "HF_HUB_DISABLE_XET": "1"}
    rows, details = [], []
    details.append(f"hub RSS after start-up: {memory(hub.process.pid, 'VmRSS') / 1e6:.0f} MB")
    peaks = Peaks(hub.process.pid)
    try:
        upload = (
            "import sys; from huggingface_hub import HfApi; api = HfApi();"
            "repo, path, name = sys.argv[1:4]; api.create_repo(repo, exist_ok=True);"
            "print(api.upload_file(path_or_fileobj=path, path_in_repo=name, repo_id=repo).oid)"
        )

        def up(repo: str, path: Path, name: str, via: dict[str, str]) -> str:
            code = f"import sys; sys.argv = ['x', {repo!r}, {str(path)!r}, {name!r}]\n" + upload
            return client(code, via)

        # -- 1. one big file
        log(f"writing and uploading a {BIG // MIB} MiB file through hf_xet")
        v1 = random_file(tmp / "v1.bin", BIG)
        repo = f"{hub.user}/big"
        t_up = timed(lambda: up(repo, v1, "w.bin", env))
        details.append(f"upload of {BIG // MIB} MiB through hf_xet: {BIG / t_up / 1e6:.0f} MB/s")
        peaks.mark("hf_xet upload")
        url = f"{hub.endpoint}/{repo}/resolve/main/w.bin"
        # curl writes the file too (as the client must), next to the client's cache,
        # and to a new file each time, as the client does (the old one is removed
        # untimed, as the client's cache is).
        curl = ["curl", "-sSf", "-H", f"Authorization: Bearer {hub.token}"]
        sink = tmp / "curl.out"
        xet_times, curl_times, cpu_use = [], [], {}
        # Timed inside the client (the call only, not Python's start-up).
        dl = (
            "import sys, time; from huggingface_hub import hf_hub_download;"
            "t = time.monotonic(); hf_hub_download(sys.argv[1], 'w.bin', cache_dir=sys.argv[2]);"
            "print(time.monotonic() - t)"
        )
        for r in range(REPS):
            cache = tmp / f"cache-{r}"
            code = f"import sys; sys.argv = ['x', {repo!r}, {str(cache)!r}]\n" + dl
            pair = [
                ("hf_xet", lambda: xet_times.append(float(client(code, env)))),
                ("curl", lambda: (sink.unlink(missing_ok=True), curl_times.append(
                    timed(lambda: subprocess.run(curl + ["-o", str(sink), url], check=True))))),
            ]
            for who, fn in pair if r % 2 == 0 else reversed(pair):
                cpu_use[who] = CpuUse(hub.process.pid, fn)
            subprocess.run(["rm", "-rf", str(cache)], check=True)
        x, c = BIG / statistics.median(xet_times), BIG / statistics.median(curl_times)
        rows.append((f"1. hf_hub_download {BIG // MIB} MiB (hf_xet)", f"{x / 1e6:.0f} MB/s",
                     f"{c / 1e6:.0f} MB/s (curl of the plain resolve URL to a file)", x / c, "≥ 0.9", x / c >= 0.9))
        details.append(f"times (s), hf_xet: {xet_times}, curl: {curl_times}")
        for who, use in cpu_use.items():
            details.append(f"figure 1, {who} (last run): {use.per_gib(BIG)}")
        peaks.mark("figure 1 downloads")

        # -- 2. a snapshot of 8 files
        log(f"uploading 8 x {SMALL // MIB} MiB through hf_xet")
        folder = tmp / "folder"
        folder.mkdir()
        for i in range(8):
            random_file(folder / f"part-{i}.bin", SMALL)
        snap_repo = f"{hub.user}/snap"
        client(
            "from huggingface_hub import HfApi; api = HfApi();"
            f"api.create_repo({snap_repo!r}, exist_ok=True);"
            f"api.upload_folder(folder_path={str(folder)!r}, repo_id={snap_repo!r}); print('ok')",
            env,
        )
        peaks.mark("snapshot upload")
        snap = (
            "import sys, time; from huggingface_hub import snapshot_download;"
            "t = time.monotonic(); snapshot_download(sys.argv[1], cache_dir=sys.argv[2]);"
            "print(time.monotonic() - t)"
        )
        snap_times, par_times, cpu_use = [], [], {}
        for r in range(REPS):
            cache = tmp / f"snap-{r}"
            code = f"import sys; sys.argv = ['x', {snap_repo!r}, {str(cache)!r}]\n" + snap

            def parallel() -> None:
                procs = [
                    subprocess.Popen(curl + ["-o", str(tmp / f"curl-{i}.out"),
                                             f"{hub.endpoint}/{snap_repo}/resolve/main/part-{i}.bin"])
                    for i in range(8)
                ]
                assert all(p.wait() == 0 for p in procs)

            pair = [
                ("snapshot_download", lambda: snap_times.append(float(client(code, env)))),
                ("8 curls", lambda: ([(tmp / f"curl-{i}.out").unlink(missing_ok=True) for i in range(8)],
                                     par_times.append(timed(parallel)))),
            ]
            for who, fn in pair if r % 2 == 0 else reversed(pair):
                cpu_use[who] = CpuUse(hub.process.pid, fn)
            subprocess.run(["rm", "-rf", str(cache)], check=True)
        total = 8 * SMALL
        s, p = total / statistics.median(snap_times), total / statistics.median(par_times)
        rows.append((f"2. snapshot_download 8 x {SMALL // MIB} MiB", f"{s / 1e6:.0f} MB/s",
                     f"{p / 1e6:.0f} MB/s (8 parallel curls)", s / p, "≥ 0.9", s / p >= 0.9))
        details.append(f"times (s), snapshot_download: {snap_times}, 8 curls: {par_times}")
        for who, use in cpu_use.items():
            details.append(f"figure 2, {who} (last run): {use.per_gib(8 * SMALL)}")
        peaks.mark("figure 2 downloads")

        # -- 3. a second revision with 1% changed
        log("a second revision with 1% changed, through hf_xet")
        v2 = tmp / "v2.bin"
        subprocess.run(["cp", str(v1), str(v2)], check=True)
        with open(v2, "r+b") as f:
            f.seek(BIG // 2)
            f.write(os.urandom(BIG // 100))
        rev1 = client(
            f"from huggingface_hub import HfApi; print(HfApi().list_repo_commits({repo!r})[0].commit_id)",
            env,
        )
        up(repo, v2, "w.bin", env)
        peaks.mark("second revision upload")
        fresh = new_bytes(hub, repo, rev1, "main", "w.bin")
        rows.append(("3. second revision, 1% changed: new bytes to fetch", f"{fresh / MIB:.1f} MiB",
                     f"{BIG // MIB} MiB (the file)", fresh / BIG, "≤ 0.05", fresh / BIG <= 0.05))

        # -- 4. the same two revisions through Git LFS, chunked by the hub
        log("the same two revisions through Git LFS; waiting for the hub to chunk them")
        lfs_repo = f"{hub.user}/big-lfs"
        up(lfs_repo, v1, "w.bin", no_xet)
        up(lfs_repo, v2, "w.bin", no_xet)
        peaks.mark("LFS uploads")
        deadline = time.monotonic() + 1800
        while json.loads(hub.cli("gc", "--status"))["queued"] and time.monotonic() < deadline:
            time.sleep(1)
        status = json.loads(hub.cli("gc", "--status"))
        peaks.mark("chunking the LFS uploads")
        unique = BIG + BIG // 100 + 8 * SMALL
        ratio = status["xorb_bytes"] / unique
        rows.append(("4. stored bytes, both revisions via Xet and via LFS (+ the snapshot)",
                     f"{status['xorb_bytes'] / MIB:.0f} MiB", f"{unique / MIB:.0f} MiB unique content",
                     ratio, "≤ 1.1", ratio <= 1.1))
        details.append(f"hub gc --status: {status}")

        # -- 5. memory
        hwm = peaks.peak()
        details.append(str(peaks))
        rows.append(("5. hub peak RSS (VmHWM)", f"{hwm / 1e6:.0f} MB", "—", None, "< 300 MB", hwm < 300e6))
    finally:
        stop_hub(hub)
        subprocess.run(["rm", "-rf", str(tmp), str(hub.tmp)], check=False)

    print(f"## Kaiyuan Hub Xet download benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    print("| figure | hub | reference | ratio | target | verdict |")
    print("|---|---|---|---|---|---|")
    for name, hub_side, ref, ratio, target, ok in rows:
        r = "—" if ratio is None else f"{ratio:.3f}"
        print(f"| {name} | {hub_side} | {ref} | {r} | {target} | {'PASS' if ok else 'FAIL'} |")
    print()
    for d in details:
        print(f"    {d}")
    print(f"\n{os.cpu_count()} cores; hub {os.environ['HUB_TEST_BINARY']}")


def new_bytes(hub, repo: str, old_rev: str, new_rev: str, name: str) -> int:
    """Bytes of `new_rev`'s reconstruction of `name` outside every xorb range
    that `old_rev`'s fetches: what a client with a chunk cache downloads."""
    import requests

    def fetches(rev: str) -> dict[str, list[tuple[int, int]]]:
        head = requests.head(f"{hub.endpoint}/{repo}/resolve/{rev}/{name}",
                             headers={"Authorization": f"Bearer {hub.token}"})
        file_hash = head.headers["X-Xet-Hash"]
        token = requests.get(f"{hub.endpoint}/api/models/{repo}/xet-read-token/{rev}",
                             headers={"Authorization": f"Bearer {hub.token}"}).json()
        answer = requests.get(f"{token['casUrl']}/v1/reconstructions/{file_hash}",
                              headers={"Authorization": f"Bearer {token['accessToken']}"}).json()
        out: dict[str, list[tuple[int, int]]] = {}
        for xorb, infos in answer["fetch_info"].items():
            out[xorb] = [(i["url_range"]["start"], i["url_range"]["end"]) for i in infos]
        return out

    old, new = fetches(old_rev), fetches(new_rev)
    held = lambda x, a, b: any(s <= a and b <= e for s, e in old.get(x, []))  # noqa: E731
    return sum(b - a + 1 for x, ranges in new.items() for a, b in ranges if not held(x, a, b))


if __name__ == "__main__":
    main()
