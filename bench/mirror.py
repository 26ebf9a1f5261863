#!/usr/bin/env python3
"""The mirror figures of the mirror-mode issue, in one run on one machine (a
markdown table on stdout, progress on stderr): `snapshot_download` of a
model repo of 4 x 256 MiB random files held by an upstream hub A,

- through hub B, which mirrors A (`hub mirror upstream add`),
- through olah (pinned from PyPI, in a venv of its own) in front of A,
- straight from A,

first cold (neither mirror holds the repo: B fetches it from A as the
client reads, olah likewise) and then warm (both hold it), and B's peak RSS
during its cold run. Targets: cold B >= 0.9 x A, warm B >= A, both >= olah.

Run from the repository root after `cargo build --release --bin hub`:

    HUB_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/mirror.py > /tmp/mirror.md

The client is huggingface_hub from the test venv (the Python running this),
with HF_HUB_DISABLE_XET=1 (plain HTTP through all three, which is all olah
passes on) and a fresh cache dir for every download; each download is timed
inside the client (the call only) and checked byte for byte. About 10 GB
of free disk under $TMPDIR. Knobs: BENCH_HUB (the hub binary, default
$CARGO_TARGET_DIR/release/hub), BENCH_MIRROR_MIB (file size, 256),
BENCH_OLAH_VENV (default $CARGO_TARGET_DIR/bench-venvs/olah), BENCH_KEEP=1.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
sys.path.insert(0, str(ROOT / "tests" / "python"))
os.environ["HUB_TEST_BINARY"] = os.environ.get("BENCH_HUB") or os.environ.get(
    "HUB_TEST_BINARY", str(TARGET / "release" / "hub"))
from hub_process import Hub, die_with_parent, start_hub, stop_hub  # noqa: E402

MIB = 1 << 20
FILE = int(os.environ.get("BENCH_MIRROR_MIB", "256")) * MIB
FILES = 4
TOTAL = FILES * FILE
OLAH = "olah==0.5.4"
OLAH_VENV = Path(os.environ.get("BENCH_OLAH_VENV", TARGET / "bench-venvs" / "olah"))


def log(msg: str) -> None:
    print(f"[mirror bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def client(code: str, env: dict[str, str], timeout: int = 1800) -> str:
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env},
                         capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"client failed:\n{out.stderr[-3000:]}")
    return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""


def olah_cli() -> Path:
    """olah's command, installed once in its own venv at the pinned version."""
    cli = OLAH_VENV / "bin" / "olah-cli"
    stamp = OLAH_VENV / ".pinned"
    if not cli.exists() or not stamp.exists() or stamp.read_text() != OLAH:
        log(f"installing {OLAH} into {OLAH_VENV}")
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(OLAH_VENV)], check=True)
        subprocess.run([str(OLAH_VENV / "bin" / "pip"), "install", "--quiet",
                        "--disable-pip-version-check", OLAH], check=True)
        stamp.write_text(OLAH)
    return cli


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_olah(upstream: Hub, tmp: Path) -> tuple[subprocess.Popen, str]:
    """olah in front of `upstream`: its "Hugging Face" (API and LFS) is A."""
    port = free_port()
    a = upstream.direct_url.split("://", 1)[1]
    args = [str(olah_cli()), "--host", "127.0.0.1", "--port", str(port),
            "--hf-scheme", "http", "--hf-netloc", a, "--hf-lfs-netloc", a,
            "--mirror-scheme", "http", "--mirror-netloc", f"127.0.0.1:{port}",
            "--mirror-lfs-netloc", f"127.0.0.1:{port}",
            "--repos-path", str(tmp / "olah-repos"), "--log-path", str(tmp / "olah-logs")]
    log_file = open(tmp / "olah.log", "wb")
    process = subprocess.Popen(args, stdout=log_file, stderr=subprocess.STDOUT, cwd=tmp,
                               start_new_session=True, preexec_fn=die_with_parent)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"olah exited:\n{(tmp / 'olah.log').read_text(errors='replace')[-3000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, endpoint
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("olah did not start listening")


def hwm(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reset_hwm(pid: int) -> bool:
    """Resets the process's peak RSS to its current RSS (Linux, "5" to clear_refs)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def wait_for_chunking(hub: Hub) -> None:
    """The hub turns stored large files into xorbs in the background; that
    work must not fall into the next measurement."""
    deadline = time.monotonic() + 1800
    while json.loads(hub.cli("gc", "--status"))["queued"]:
        if time.monotonic() > deadline:
            raise RuntimeError("the hub did not finish chunking")
        time.sleep(1)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(8 * MIB), b""):
            h.update(block)
    return h.hexdigest()


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="kyb-mirror-"))
    a = b = olah = None
    saved = dict(os.environ)
    try:
        olah_cli()
        a = start_hub()
        b = start_hub()
        os.environ.clear()
        os.environ.update(saved)

        log(f"writing {FILES} x {FILE // MIB} MiB and uploading them to A")
        folder = tmp / "model"
        folder.mkdir()
        digests = {}
        for i in range(FILES):
            path = folder / f"part-{i}.bin"
            with open(path, "wb") as f:
                for _ in range(FILE // (16 * MIB)):
                    f.write(os.urandom(16 * MIB))
                f.write(os.urandom(FILE % (16 * MIB)))
            digests[path.name] = sha256(path)
        (folder / "config.json").write_text('{"model_type": "bench"}\n')
        # Under a namespace B lacks (B's own names win over an upstream's).
        a.create_user("upstream")
        upstream_token = a.create_token("upstream", write=True)
        repo = "upstream/bench-mirror"
        base = {"HF_HUB_DISABLE_XET": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
                "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HOME": str(tmp / "hf-home")}
        commit = client(
            "from huggingface_hub import HfApi;"
            f"api = HfApi(endpoint={a.endpoint!r}, token={upstream_token!r});"
            f"api.create_repo({repo!r});"
            f"print(api.upload_folder(repo_id={repo!r}, folder_path={str(folder)!r}).oid)",
            base,
        )
        wait_for_chunking(a)

        b.cli("mirror", "upstream", "add", "a", "--kind", "hf", "--endpoint", a.direct_url)
        olah, olah_endpoint = start_olah(a, tmp)

        sides = {
            "B": (b.endpoint, b.token),
            "olah": (olah_endpoint, None),
            "A": (a.endpoint, a.token),
        }
        times: dict[tuple[str, str], float] = {}
        cpu: dict[tuple[str, str], str] = {}

        def download(side: str, phase: str) -> None:
            endpoint, token = sides[side]
            cache = tmp / f"cache-{side}-{phase}"
            cpu_before = {h: cpu_seconds(hub.process.pid) for h, hub in (("A", a), ("B", b))}
            out = json.loads(client(
                "import json, time; from huggingface_hub import snapshot_download;"
                "t = time.monotonic();"
                f"p = snapshot_download({repo!r}, cache_dir={str(cache)!r}, endpoint={endpoint!r},"
                f" token={token!r} or False, max_workers=8);"
                "print(json.dumps([time.monotonic() - t, p]))",
                base,
            ))
            seconds, path = out
            cpu[(side, phase)] = ", ".join(
                f"{h} {cpu_seconds(hub.process.pid) - cpu_before[h]:.1f} s"
                for h, hub in (("A", a), ("B", b)))
            snap = Path(path)
            if snap.name != commit:
                raise RuntimeError(f"{side} served commit {snap.name}, A has {commit}")
            for name, digest in digests.items():
                if sha256(snap / name) != digest:
                    raise RuntimeError(f"{side} {phase}: {name} differs from A's")
            times[(side, phase)] = seconds
            log(f"{phase} {side}: {TOTAL / seconds / 1e6:.0f} MB/s ({seconds:.2f} s)")
            shutil.rmtree(cache)

        log("cold: B (fetching from A as it serves), olah (likewise), A")
        hwm_reset = reset_hwm(b.process.pid)
        download("B", "cold")
        b_peak = hwm(b.process.pid)
        wait_for_chunking(b)
        download("olah", "cold")
        download("A", "cold")
        log("warm: B, olah, A")
        for side in ("B", "olah", "A"):
            download(side, "warm")
        b_peak_all = hwm(b.process.pid)
    finally:
        if olah is not None and olah.poll() is None:
            os.killpg(olah.pid, signal.SIGTERM)
            olah.wait(timeout=30)
        for hub in (a, b):
            if hub is not None:
                stop_hub(hub)
        if os.environ.get("BENCH_KEEP") != "1":
            for hub in (a, b):
                if hub is not None:
                    shutil.rmtree(hub.tmp, ignore_errors=True)
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            log(f"kept {tmp}")

    mbs = {k: TOTAL / v / 1e6 for k, v in times.items()}
    print(f"## Kaiyuan Hub mirror benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    print(f"`snapshot_download` of {FILES} x {FILE // MIB} MiB (huggingface_hub, HF_HUB_DISABLE_XET=1, "
          "fresh cache each), MB/s:\n")
    print("| | B (Kaiyuan mirror of A) | olah in front of A | straight from A |")
    print("|---|---|---|---|")
    for phase in ("cold", "warm"):
        print(f"| {phase} | {mbs[('B', phase)]:.0f} | {mbs[('olah', phase)]:.0f} | {mbs[('A', phase)]:.0f} |")
    print()
    print("| figure | value | target | verdict |")
    print("|---|---|---|---|")
    checks = [
        ("cold B / A", mbs[("B", "cold")] / mbs[("A", "cold")], 0.9),
        ("cold B / olah", mbs[("B", "cold")] / mbs[("olah", "cold")], 1.0),
        ("warm B / A", mbs[("B", "warm")] / mbs[("A", "warm")], 1.0),
        ("warm B / olah", mbs[("B", "warm")] / mbs[("olah", "warm")], 1.0),
    ]
    for name, ratio, target in checks:
        print(f"| {name} | {ratio:.3f} | ≥ {target} | {'PASS' if ratio >= target else 'FAIL'} |")
    during = "during its cold run" if hwm_reset else "since it started (clear_refs refused)"
    print(f"| B peak RSS (VmHWM) {during} | {b_peak / 1e6:.0f} MB | — | — |")
    print(f"\n    B peak RSS over the whole run: {b_peak_all / 1e6:.0f} MB")
    print(f"    times (s): {json.dumps({f'{s} {p}': round(t, 3) for (s, p), t in times.items()})}")
    print(f"    hub CPU time during each download: {'; '.join(f'{s} {p}: {c}' for (s, p), c in cpu.items())}")
    print(f"\n{os.cpu_count()} cores; hub {os.environ['HUB_TEST_BINARY']}; {OLAH}")


if __name__ == "__main__":
    main()
