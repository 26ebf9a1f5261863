"""Starting and stopping the real `hub` for a Python test session: the
process, its database, its first users and tokens. Used by this suite's
conftest.py and by the run of huggingface_hub's own tests (tests/hf_suite).

How it starts the hub is described in conftest.py's docstring.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CI = os.environ.get("CI", "").lower() == "true"
PASSWORD = "password-123-secret"


def hub_binary() -> Path:
    if os.environ.get("HUB_TEST_BINARY"):
        return Path(os.environ["HUB_TEST_BINARY"])
    target = os.environ.get("CARGO_TARGET_DIR")
    target_dir = Path(target) if target else REPO_ROOT / "target"
    if not target_dir.is_absolute():
        target_dir = REPO_ROOT / target_dir
    return target_dir / "debug" / "hub"


def with_database(url: str, db: str) -> str:
    """`url` with its database name replaced (as tests/src/lib.rs does)."""
    base, sep, query = url.partition("?")
    scheme_end = base.find("://")
    scheme_end = 0 if scheme_end < 0 else scheme_end + 3
    slash = base.find("/", scheme_end)
    host_part = base if slash < 0 else base[:slash]
    return f"{host_part}/{db}{sep}{query}"


def psql(url: str, sql: str) -> None:
    if shutil.which("psql") is None:
        raise RuntimeError("psql is missing (Debian: apt-get install postgresql-client)")
    subprocess.run(
        ["psql", url, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )


@dataclass
class Hub:
    """A running `hub serve` and what the tests need to reach it."""

    endpoint: str  # http://localhost:PORT: what the clients use
    direct_url: str  # http://127.0.0.1:PORT: what the hub logged
    port: int
    data_dir: Path
    log_path: Path
    tmp: Path
    env: dict[str, str]  # DATABASE_URL for the CLI, when not the private cluster
    process: subprocess.Popen
    user: str = "alice"
    token: str = ""  # alice, write
    read_token: str = ""  # alice, read
    other_user: str = "bob"
    other_token: str = ""  # bob, write
    db_name: str | None = None
    admin_url: str | None = None
    extra: dict = field(default_factory=dict)

    def cli(self, *args: str) -> str:
        out = subprocess.run(
            [str(hub_binary()), *args, "--data-dir", str(self.data_dir)],
            env={**{k: v for k, v in os.environ.items() if k != "DATABASE_URL"}, **self.env},
            capture_output=True,
            text=True,
            timeout=120,
        )
        if out.returncode != 0:
            raise RuntimeError(f"hub {' '.join(args)} failed:\n{out.stderr}")
        return out.stdout.strip()

    def create_user(self, name: str) -> None:
        self.cli(
            "user", "create", "--username", name, "--email", f"{name}@example.com",
            "--password", PASSWORD,
        )

    def create_token(self, user: str, write: bool, name: str = "pytest") -> str:
        args = ["token", "create", "--username", user, "--name", name]
        if write:
            args.append("--write")
        return self.cli(*args)

    def log_offset(self) -> int:
        return self.log_path.stat().st_size

    def log_since(self, offset: int) -> str:
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")

    def requests_since(self, offset: int) -> list[tuple[str, str]]:
        """(method, path) of every request the hub logged since `offset`.

        Relies on the request span of the hub's log (`method=GET uri=/...`)."""
        seen = []
        for line in self.log_since(offset).splitlines():
            m = re.search(r"method=(\w+) uri=(\S+?)[ }:]", line)
            if m and (m.group(1), m.group(2)) not in seen[-1:]:
                seen.append((m.group(1), m.group(2)))
        return seen



def clean_client_environment(tmp: Path) -> None:
    """No HF setting of the machine leaks in; every cache is ours."""
    for key in list(os.environ):
        if key.startswith(("HF_", "HUGGINGFACE_", "TRANSFORMERS_", "HF_DATASETS_")):
            del os.environ[key]
    os.environ.update(
        {
            "HF_HOME": str(tmp / "hf-home"),
            "HF_HUB_CACHE": str(tmp / "hf-home" / "hub"),
            "HF_XET_CACHE": str(tmp / "hf-home" / "xet"),
            "HF_DATASETS_CACHE": str(tmp / "hf-home" / "datasets"),
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "HF_UPDATE_DOWNLOAD_COUNTS": "0",
            "DISABLE_SAFETENSORS_CONVERSION": "1",
            "TOKENIZERS_PARALLELISM": "false",
            # Never reach huggingface.co, even if a client ignores HF_ENDPOINT.
            "NO_PROXY": "*",
        }
    )


def die_with_parent() -> None:
    """In the child: SIGTERM when the test process dies, however it dies (Linux)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def start_hub() -> Hub:
    binary = hub_binary()
    if not binary.exists():
        raise RuntimeError(
            f"{binary} is missing: run `cargo build --workspace` first (tests/run does)"
        )
    tmp = Path(tempfile.mkdtemp(prefix="kyt-py-"))
    # The private cluster runs as the `postgres` user when we are root: it must
    # be able to traverse down to the data dir.
    tmp.chmod(0o755)
    clean_client_environment(tmp)
    data_dir = tmp / "data"
    data_dir.mkdir()
    data_dir.chmod(0o755)
    log_path = tmp / "hub.log"

    env: dict[str, str] = {}
    db_name = admin_url = None
    admin_url = os.environ.get("HUB_TEST_DATABASE_URL")
    if admin_url:
        db_name = f"kyt_py_{uuid.uuid4().hex}"
        psql(
            admin_url,
            f"CREATE DATABASE {db_name} TEMPLATE template0 ENCODING 'UTF8' "
            "LC_COLLATE 'C' LC_CTYPE 'C'",
        )
        env["DATABASE_URL"] = with_database(admin_url, db_name)

    hub_env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    hub_env.update(env)
    hub_env["RUST_LOG"] = "info,sqlx=warn"
    log = open(log_path, "ab")
    process = subprocess.Popen(
        [str(binary), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir)],
        env=hub_env,
        stdout=subprocess.DEVNULL,
        stderr=log,
        start_new_session=True,
        preexec_fn=die_with_parent,
    )
    log.close()
    deadline = time.monotonic() + 120
    direct_url = None
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace")
        m = re.search(r"listening on (http://\S+)", text)
        if m:
            direct_url = m.group(1)
            break
        if process.poll() is not None:
            break
        time.sleep(0.05)
    if direct_url is None:
        process.kill()
        raise RuntimeError(f"the hub did not start; its log:\n{log_path.read_text(errors='replace')}")
    port = int(direct_url.rsplit(":", 1)[1])
    hub = Hub(
        endpoint=f"http://localhost:{port}",
        direct_url=direct_url,
        port=port,
        data_dir=data_dir,
        log_path=log_path,
        tmp=tmp,
        env=env,
        process=process,
        db_name=db_name,
        admin_url=admin_url,
    )
    hub.create_user(hub.user)
    hub.create_user(hub.other_user)
    hub.token = hub.create_token(hub.user, write=True, name="laptop")
    hub.read_token = hub.create_token(hub.user, write=False, name="reader")
    hub.other_token = hub.create_token(hub.other_user, write=True)
    os.environ["HF_ENDPOINT"] = hub.endpoint
    os.environ["HF_TOKEN"] = hub.token
    return hub


def stop_hub(hub: Hub) -> None:
    if hub.process.poll() is None:
        hub.process.send_signal(signal.SIGTERM)
        try:
            hub.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            hub.process.kill()
            hub.process.wait()
    if hub.admin_url and hub.db_name:
        try:
            psql(hub.admin_url, f"DROP DATABASE IF EXISTS {hub.db_name} WITH (FORCE)")
        except Exception as e:  # noqa: BLE001 - teardown must go on
            print(f"warning: could not drop {hub.db_name}: {e}", file=sys.stderr)
