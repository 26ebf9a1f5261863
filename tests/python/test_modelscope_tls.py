"""The `modelscope` SDK over HTTPS, served by the hub itself
(`hub serve --tls-listen 127.0.0.1:443 --tls-cert --tls-key`, with a
throwaway test CA made by tests/make-test-cert and handed to the clients
in REQUESTS_CA_BUNDLE / GIT_SSL_CAINFO).

- modelscope 1.37 (its own venv, .venv-ms137, from
  tests/requirements-ms137.txt; https only, MODELSCOPE_DOMAIN): download,
  model_file_download, login, create + upload (small files go through the
  blob PUT too), create_dataset + upload + dataset_snapshot_download,
  push_model (git with `oauth2:TOKEN`, LFS included).
- modelscope 1.40 where it hard-codes https: `MsDataset.load` of an
  HF-uploaded dataset (in .venv-msdatasets: MsDataset needs datasets 4,
  the main venv has 5) and the git `Repository` helper.

Port 443 because 1.37 sends its token cookie only on the default port
(modelscope-api.md A.1): the hub binds it when it can (CI runs as root);
when it cannot, these tests fail under CI=true and are skipped otherwise.
The clients use MODELSCOPE_DOMAIN=127.0.0.1: Python's cookie jar never
sends a cookie whose domain is a dotless name such as `localhost`.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from hub_process import CI, PASSWORD, REPO_ROOT, die_with_parent, hub_binary, psql, with_database
from helpers import random_file, sha256_file

# The venvs tests/run makes for clients that cannot share the main one.
MS137_PYTHON = REPO_ROOT / ".venv-ms137" / "bin" / "python"
MSDATASETS_PYTHON = REPO_ROOT / ".venv-msdatasets" / "bin" / "python"


@dataclass
class TlsHub:
    """A second hub, serving plain HTTP (for huggingface_hub) and HTTPS."""

    endpoint: str  # http://localhost:PORT
    tls_host: str  # what MODELSCOPE_DOMAIN names: 127.0.0.1 on port 443
    on_443: bool
    ca: Path
    data_dir: Path
    env: dict
    process: subprocess.Popen
    log_path: Path
    token: str = ""
    read_token: str = ""
    user: str = "alice"

    def cli(self, *args: str) -> str:
        out = subprocess.run(
            [str(hub_binary()), *args, "--data-dir", str(self.data_dir)],
            env={**{k: v for k, v in os.environ.items() if k != "DATABASE_URL"}, **self.env},
            capture_output=True, text=True, timeout=120,
        )
        if out.returncode != 0:
            raise RuntimeError(f"hub {' '.join(args)} failed:\n{out.stderr}")
        return out.stdout.strip()


def _spawn(tmp: Path, env: dict, ca_dir: Path, tls_listen: str) -> tuple[subprocess.Popen, Path, str | None]:
    data_dir = tmp / "data"
    data_dir.mkdir(exist_ok=True)
    log_path = tmp / f"hub-{uuid.uuid4().hex[:6]}.log"
    hub_env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    hub_env.update(env)
    hub_env["RUST_LOG"] = "info,sqlx=warn"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [str(hub_binary()), "serve", "--listen", "127.0.0.1:0",
             "--tls-listen", tls_listen,
             "--tls-cert", str(ca_dir / "server.pem"), "--tls-key", str(ca_dir / "server.key"),
             "--data-dir", str(data_dir)],
            env=hub_env, stdout=subprocess.DEVNULL, stderr=log,
            start_new_session=True, preexec_fn=die_with_parent,
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace")
        if re.search(r"listening on https://\S+", text):
            return process, log_path, None
        if process.poll() is not None:
            return process, log_path, text
        time.sleep(0.05)
    process.kill()
    return process, log_path, log_path.read_text(errors="replace")


@pytest.fixture(scope="module")
def tls_hub():
    tmp = Path(tempfile.mkdtemp(prefix="kyt-tls-"))
    tmp.chmod(0o755)
    ca_dir = tmp / "ca"
    subprocess.run([str(REPO_ROOT / "tests" / "make-test-cert"), str(ca_dir)], check=True)
    env: dict[str, str] = {}
    admin_url = os.environ.get("HUB_TEST_DATABASE_URL")
    db_name = None
    if admin_url:
        db_name = f"kyt_tls_{uuid.uuid4().hex}"
        psql(admin_url, f"CREATE DATABASE {db_name} TEMPLATE template0 ENCODING 'UTF8' "
                        "LC_COLLATE 'C' LC_CTYPE 'C'")
        env["DATABASE_URL"] = with_database(admin_url, db_name)
    process, log_path, failure = _spawn(tmp, env, ca_dir, "127.0.0.1:443")
    on_443 = failure is None
    if not on_443:
        # Not root, or 443 taken: serve TLS on any port; the 1.37 tests skip.
        process, log_path, failure = _spawn(tmp, env, ca_dir, "127.0.0.1:0")
    if failure is not None:
        pytest.fail(f"the TLS hub did not start:\n{failure}", pytrace=False)
    text = log_path.read_text(errors="replace")
    port = int(re.search(r"listening on http://\S+:(\d+)", text).group(1))
    tls_port = int(re.search(r"listening on https://\S+:(\d+)", text).group(1))
    hub = TlsHub(
        endpoint=f"http://localhost:{port}",
        tls_host="127.0.0.1" if on_443 else f"localhost:{tls_port}",
        on_443=on_443,
        ca=ca_dir / "ca.pem",
        data_dir=tmp / "data",
        env=env,
        process=process,
        log_path=log_path,
    )
    hub.cli("user", "create", "--username", "alice", "--email", "alice@example.com",
            "--password", PASSWORD)
    hub.token = hub.cli("token", "create", "--username", "alice", "--name", "tls", "--write")
    hub.read_token = hub.cli("token", "create", "--username", "alice", "--name", "tls-read")
    yield hub
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if admin_url and db_name:
        psql(admin_url, f"DROP DATABASE IF EXISTS {db_name} WITH (FORCE)")


@pytest.fixture(scope="module")
def tls_api(tls_hub):
    from huggingface_hub import HfApi

    return HfApi(endpoint=tls_hub.endpoint, token=tls_hub.token)


def need_443(hub: TlsHub) -> None:
    if not hub.on_443:
        pytest.skip("modelscope 1.37 sends its token cookie only on port 443, "
                    "and the hub could not bind it (run as root, as CI does)")


def need_venv(python: Path) -> None:
    if not python.exists():
        pytest.skip(f"{python} is missing (tests/run installs it from tests/requirements-*.txt)")


def need_ms137() -> None:
    need_venv(MS137_PYTHON)


def client_env(hub: TlsHub, home: Path, token: str | None) -> dict:
    """The SDK pointed at the TLS endpoint; HOME (credentials, git config) ours."""
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MODELSCOPE_", "HF_ENDPOINT", "HF_TOKEN"))}
    env.update({
        "HOME": str(home),
        "MODELSCOPE_DOMAIN": hub.tls_host,
        "MODELSCOPE_CACHE": str(home / "ms-cache"),
        "REQUESTS_CA_BUNDLE": str(hub.ca),
        "SSL_CERT_FILE": str(hub.ca),
        "GIT_SSL_CAINFO": str(hub.ca),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_AUTHOR_NAME": "Tester", "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "Tester", "GIT_COMMITTER_EMAIL": "t@example.com",
        "HF_DATASETS_CACHE": str(home / "hf-datasets"),
        "HF_HOME": str(home / "hf-home"),
        "NO_PROXY": "*",
    })
    if token:
        env["MODELSCOPE_API_TOKEN"] = token
    subprocess.run(["git", "lfs", "install", "--skip-repo"], env=env, check=True,
                   capture_output=True)
    return env


def run_sdk(python: Path | str, env: dict, code: str, timeout: int = 300):
    """Runs `code` with `python`; returns the JSON of its last stdout line."""
    proc = subprocess.run(
        [str(python), "-c",
         "import json, warnings\nwarnings.simplefilter('ignore')\n" + textwrap.dedent(code)],
        env=env, capture_output=True, text=True, timeout=timeout,
    )
    if proc.returncode != 0:
        pytest.fail(f"client failed ({proc.returncode}):\n--- stdout\n{proc.stdout}"
                    f"\n--- stderr\n{proc.stderr[-6000:]}", pytrace=False)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def tree(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in root.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)}


def hf_model(api, repo_id: str, tmp: Path, private: bool = False) -> dict:
    from huggingface_hub import CommitOperationAdd

    api.create_repo(repo_id, private=private)
    files = {
        "config.json": b'{"model_type": "tiny"}\n',
        "sub/dir/notes.txt": "说明 notes\n".encode(),
        "model.safetensors": random_file(tmp / "w.safetensors", 1024 * 1024, seed=3).read_bytes(),
    }
    api.create_commit(repo_id, [CommitOperationAdd(p, d) for p, d in files.items()],
                      commit_message="v1")
    return files


# --------------------------------------------------------------------------- 1.37


def test_ms137_downloads_an_hf_uploaded_model(tls_hub, tls_api, tmp_path):
    need_ms137()
    need_443(tls_hub)
    repo_id = f"alice/ms137-{uuid.uuid4().hex[:6]}"
    files = hf_model(tls_api, repo_id, tmp_path)
    tls_api.create_tag(repo_id, tag="v1.0")
    v2 = b'{"model_type": "tiny", "v": 2}\n'
    tls_api.upload_file(path_or_fileobj=v2, path_in_repo="config.json", repo_id=repo_id)
    env = client_env(tls_hub, tmp_path / "home", None)
    out = run_sdk(MS137_PYTHON, env, f"""
        import modelscope
        assert modelscope.__version__.startswith("1.37."), modelscope.__version__
        from modelscope import snapshot_download, model_file_download
        print(json.dumps({{
            "all": snapshot_download({repo_id!r}),
            "sub": snapshot_download({repo_id!r}, allow_patterns=["sub/*"],
                                     cache_dir={str(tmp_path / "c2")!r}),
            "master": model_file_download({repo_id!r}, "config.json", revision="master",
                                          cache_dir={str(tmp_path / "c3")!r}),
            "tag": model_file_download({repo_id!r}, "config.json", revision="v1.0",
                                       cache_dir={str(tmp_path / "c4")!r}),
        }}))
    """)
    assert tree(Path(out["all"])) == {**files, "config.json": v2}
    assert tree(Path(out["sub"])) == {"sub/dir/notes.txt": files["sub/dir/notes.txt"]}
    assert Path(out["master"]).read_bytes() == v2
    assert Path(out["tag"]).read_bytes() == files["config.json"]


def test_ms137_private_model_with_the_env_token_cookie(tls_hub, tls_api, tmp_path):
    need_ms137()
    need_443(tls_hub)
    repo_id = f"alice/ms137p-{uuid.uuid4().hex[:6]}"
    files = hf_model(tls_api, repo_id, tmp_path, private=True)
    code = f"""
        from modelscope import model_file_download
        try:
            print(json.dumps(model_file_download({repo_id!r}, "config.json")))
        except Exception as e:
            print(json.dumps({{"error": type(e).__name__}}))
    """
    refused = run_sdk(MS137_PYTHON, client_env(tls_hub, tmp_path / "anon", None), code)
    assert isinstance(refused, dict) and "error" in refused
    got = run_sdk(MS137_PYTHON, client_env(tls_hub, tmp_path / "tok", tls_hub.read_token), code)
    assert Path(got).read_bytes() == files["config.json"]


def test_ms137_login_with_good_and_bad_token(tls_hub, tmp_path):
    need_ms137()
    need_443(tls_hub)
    code = """
        from modelscope.hub.api import HubApi
        try:
            git_token, cookies = HubApi().login(TOKEN)
            print(json.dumps({"git_token": git_token, "cookie": cookies.get("m_session_id")}))
        except Exception as e:
            print(json.dumps({"error": type(e).__name__}))
    """
    env = client_env(tls_hub, tmp_path / "h", None)
    good = run_sdk(MS137_PYTHON, env, code.replace("TOKEN", repr(tls_hub.token)))
    assert good == {"git_token": tls_hub.token, "cookie": tls_hub.token}
    bad = run_sdk(MS137_PYTHON, env, code.replace("TOKEN", repr("ky_not_a_token")))
    assert "error" in bad


def test_ms137_upload_then_huggingface_hub_downloads_the_same_bytes(tls_hub, tls_api, tmp_path):
    need_ms137()
    need_443(tls_hub)
    repo_id = f"alice/ms137u-{uuid.uuid4().hex[:6]}"
    folder = tmp_path / "folder"
    (folder / "nested").mkdir(parents=True)
    (folder / "README.md").write_bytes("# 上传 1.37\n".encode())
    (folder / "configuration.json").write_bytes(b'{"framework": "pytorch"}\n')
    big = random_file(folder / "nested" / "weights.bin", 3 * 1024 * 1024, seed=21)
    single = tmp_path / "notes.txt"
    single.write_bytes(b"uploaded alone by 1.37\n")
    offset = tls_hub.log_path.stat().st_size
    env = client_env(tls_hub, tmp_path / "home", tls_hub.token)
    run_sdk(MS137_PYTHON, env, f"""
        from modelscope.hub.api import HubApi
        api = HubApi()
        api.create_model({repo_id!r}, visibility=5)
        api.create_repo({repo_id!r}, exist_ok=True)
        api.upload_file(path_or_fileobj={str(single)!r}, path_in_repo="notes.txt",
                        repo_id={repo_id!r})
        api.upload_folder(repo_id={repo_id!r}, folder_path={str(folder)!r})
        print(json.dumps("ok"))
    """)
    # 1.37 PUTs every blob (the small ones too) to the href of the batch answer.
    log = tls_hub.log_path.read_bytes()[offset:].decode(errors="replace")
    puts = re.findall(r"method=PUT uri=(\S+)", log)
    assert any(sha256_file(big) in u for u in puts), puts
    assert any(sha256_file(single) in u for u in puts), puts
    expected = {
        "README.md": (folder / "README.md").read_bytes(),
        "configuration.json": (folder / "configuration.json").read_bytes(),
        "nested/weights.bin": big.read_bytes(),
        "notes.txt": single.read_bytes(),
    }
    for path, data in expected.items():
        local = tls_api.hf_hub_download(repo_id, path, cache_dir=tmp_path / "hf")
        assert Path(local).read_bytes() == data, path
    info = tls_api.get_paths_info(repo_id, ["nested/weights.bin"])[0]
    assert info.lfs is not None and info.lfs.sha256 == sha256_file(big)


def test_ms137_push_model_over_git_with_oauth2_token(tls_hub, tls_api, tmp_path):
    need_ms137()
    need_443(tls_hub)
    repo_id = f"alice/ms137git-{uuid.uuid4().hex[:6]}"
    # 1.37's push_model clones `--branch master`: the repo needs a real
    # master branch (the hub's git does not alias it; see the README).
    tls_api.create_repo(repo_id)
    tls_api.create_branch(repo_id, branch="master")
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "configuration.json").write_bytes(b'{"framework": "pytorch", "task": "x"}\n')
    (model_dir / "README.md").write_bytes(b"# pushed with git\n")
    weights = random_file(model_dir / "pytorch_model.bin", 2 * 1024 * 1024, seed=5)
    env = client_env(tls_hub, tmp_path / "home", None)
    offset = tls_hub.log_path.stat().st_size
    run_sdk(MS137_PYTHON, env, f"""
        from modelscope.hub.api import HubApi
        api = HubApi()
        api.login({tls_hub.token!r})
        # revision="main": push to the default branch rather than to master.
        api.push_model({repo_id!r}, {str(model_dir)!r}, revision="main")
        print(json.dumps("ok"))
    """)
    # It went through git: clone, LFS upload, push.
    log = tls_hub.log_path.read_bytes()[offset:].decode(errors="replace")
    assert f"uri=/{repo_id}.git/git-receive-pack" in log
    assert re.search(rf"method=PUT uri=/{re.escape(repo_id)}\.git/info/lfs/objects/", log)
    # The modelscope client reads it back through the API ...
    snap = run_sdk(MS137_PYTHON, env, f"""
        from modelscope import snapshot_download
        print(json.dumps(snapshot_download({repo_id!r}, revision="main")))
    """)
    got = tree(Path(snap))
    assert got["pytorch_model.bin"] == weights.read_bytes()
    assert got["README.md"] == b"# pushed with git\n"
    # ... and huggingface_hub sees an LFS file with the same bytes on main.
    local = tls_api.hf_hub_download(repo_id, "pytorch_model.bin", cache_dir=tmp_path / "hf")
    assert Path(local).read_bytes() == weights.read_bytes()
    info = tls_api.get_paths_info(repo_id, ["pytorch_model.bin"])[0]
    assert info.lfs is not None


def test_ms137_create_dataset_upload_and_download(tls_hub, tls_api, tmp_path):
    need_ms137()
    need_443(tls_hub)
    ds_name = f"ms137ds-{uuid.uuid4().hex[:6]}"
    repo_id = f"alice/{ds_name}"
    data = tmp_path / "train.jsonl"
    data.write_bytes('{"text": "你好"}\n{"text": "world"}\n'.encode())
    env = client_env(tls_hub, tmp_path / "home", tls_hub.token)
    snap = run_sdk(MS137_PYTHON, env, f"""
        from modelscope.hub.api import HubApi
        from modelscope import dataset_snapshot_download
        api = HubApi()
        api.create_dataset({ds_name!r}, "alice", visibility=5)
        api.upload_file(path_or_fileobj={str(data)!r}, path_in_repo="data/train.jsonl",
                        repo_id={repo_id!r}, repo_type="dataset")
        print(json.dumps(dataset_snapshot_download({repo_id!r})))
    """)
    assert tree(Path(snap)) == {"data/train.jsonl": data.read_bytes()}
    local = tls_api.hf_hub_download(repo_id, "data/train.jsonl", repo_type="dataset",
                                    cache_dir=tmp_path / "hf")
    assert Path(local).read_bytes() == data.read_bytes()


# --------------------------------------------------------------------------- 1.40


def test_ms140_msdataset_load_over_tls(tls_hub, tls_api, tmp_path):
    """MsDataset builds its URLs from MODELSCOPE_DOMAIN with https hard-coded."""
    from huggingface_hub import CommitOperationAdd

    repo_id = f"alice/msds-{uuid.uuid4().hex[:6]}"
    tls_api.create_repo(repo_id, repo_type="dataset")
    csv = "id,text\n1,你好\n2,world\n3,开源\n".encode()
    tls_api.create_commit(repo_id, [
        CommitOperationAdd("README.md", b"# tiny\n"),
        CommitOperationAdd("data/train.csv", csv),
    ], repo_type="dataset", commit_message="data")
    need_venv(MSDATASETS_PYTHON)
    env = client_env(tls_hub, tmp_path / "home", None)
    out = run_sdk(MSDATASETS_PYTHON, env, f"""
        import modelscope
        assert modelscope.__version__.startswith("1.40."), modelscope.__version__
        from modelscope.msdatasets import MsDataset
        ds = MsDataset.load({repo_id!r}, split="train")
        rows = [dict(r) for r in ds]
        print(json.dumps(rows, ensure_ascii=False))
    """)
    assert [(r["id"], r["text"]) for r in out] == [(1, "你好"), (2, "world"), (3, "开源")]


def test_ms140_git_repository_helper_over_tls(tls_hub, tls_api, tmp_path):
    """1.40's git `Repository` (https + oauth2:TOKEN from login) clones and pushes."""
    repo_id = f"alice/ms140git-{uuid.uuid4().hex[:6]}"
    files = hf_model(tls_api, repo_id, tmp_path)
    env = client_env(tls_hub, tmp_path / "home", None)
    work = tmp_path / "clone"
    run_sdk(sys.executable, env, f"""
        from pathlib import Path
        from modelscope.hub.api import HubApi
        from modelscope.hub.repository import Repository
        HubApi().login({tls_hub.token!r})
        repo = Repository({str(work)!r}, clone_from={repo_id!r}, revision="main")
        Path({str(work)!r}, "added.txt").write_text("added through 1.40 git\\n")
        repo.push("add a file", local_branch="main", remote_branch="main")
        print(json.dumps("ok"))
    """)
    assert (work / "model.safetensors").read_bytes() == files["model.safetensors"]
    local = tls_api.hf_hub_download(repo_id, "added.txt", cache_dir=tmp_path / "hf")
    assert Path(local).read_bytes() == b"added through 1.40 git\n"
