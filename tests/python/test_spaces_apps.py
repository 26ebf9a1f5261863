"""Real apps in real Spaces: a Gradio app pushed to a Space, built by a real
runner (`inference-worker --spaces`, bubblewrap sandbox, pip from PyPI),
called with the unmodified `gradio_client` on the Space's own origin
through the hub's proxy; then put to sleep and woken by a visit."""

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

from hub_process import hub_binary, psql

GRADIO_VERSION = "6.31.0"
GRADIO_APP = '''import gradio as gr

def greet(name):
    return f"你好, {name}!"

gr.Interface(fn=greet, inputs="text", outputs="text").launch()
'''


@pytest.fixture(scope="module")
def runner(hub, tmp_path_factory):
    """A Spaces runner for this module, on the session's hub."""
    binary = hub_binary().with_name("inference-worker")
    if not binary.exists():
        pytest.fail(f"{binary} is missing: cargo build --workspace", pytrace=False)
    token = hub.cli("worker-token", "create", "--name", "pytest-runner")
    # The sandbox's uid must reach the Spaces dir: not under pytest's
    # private (0700) temporary root.
    work = Path(tempfile.mkdtemp(prefix="kaiyuan-runner-", dir="/var/tmp"))
    work.chmod(0o755)
    log = open(work / "runner.log", "ab")
    process = subprocess.Popen(
        [str(binary), "--hub", hub.endpoint, "--token", token, "--spaces",
         "--cache-dir", str(work / "cache"), "--spaces-dir", str(work / "spaces")],
        stdout=subprocess.DEVNULL,
        stderr=log,
        start_new_session=True,
    )
    log.close()
    yield work / "runner.log"
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    shutil.rmtree(work, ignore_errors=True)


@pytest.fixture
def localhost_subdomains(monkeypatch):
    """Resolves `*.localhost` to loopback, as browsers do (glibc does not)."""
    original = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        if isinstance(host, str) and host.endswith(".localhost"):
            host = "127.0.0.1"
        return original(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)


def wait_settled(api, repo_id, runner, limit):
    deadline = time.monotonic() + limit
    while True:
        runtime = api.get_space_runtime(repo_id)
        if runtime.stage not in ("BUILDING", "APP_STARTING"):
            return runtime
        if time.monotonic() > deadline:
            pytest.fail(f"{repo_id} still {runtime.stage}; runner log:\n{runner.read_text()[-4000:]}")
        time.sleep(1)


def test_a_gradio_space_builds_runs_and_answers_gradio_client(api, hub, name, runner,
                                                                localhost_subdomains):
    from gradio_client import Client

    repo_id = f"{hub.user}/{name('gradio')}"
    api.create_repo(repo_id, repo_type="space", space_sdk="gradio")
    card = f"---\ntitle: Greeter\nsdk: gradio\nsdk_version: {GRADIO_VERSION}\napp_file: app.py\n---\n"
    api.upload_file(path_or_fileobj=card.encode(), path_in_repo="README.md", repo_id=repo_id,
                    repo_type="space")
    api.upload_file(path_or_fileobj=GRADIO_APP.encode(), path_in_repo="app.py", repo_id=repo_id,
                    repo_type="space")
    runtime = wait_settled(api, repo_id, runner, limit=600)
    assert runtime.stage == "RUNNING", (runtime.raw, runner.read_text()[-4000:])
    build = list(api.fetch_space_logs(repo_id, build=True))
    assert any("gradio" in line for line in build), build[-20:]

    info = api.space_info(repo_id)
    started = time.monotonic()
    client = Client(info.host + "/", verbose=False)
    assert client.predict("开源", api_name="/greet") == "你好, 开源!"
    print(f"gradio_client connect + predict: {time.monotonic() - started:.2f}s")
    run = list(api.fetch_space_logs(repo_id))
    assert any("7860" in line for line in run), run[-20:]

    # Asleep after a minute without visits; a visit wakes it.
    api.set_space_sleep_time(repo_id, sleep_time=60)
    database = hub.env.get("DATABASE_URL")
    if database is None:
        pytest.skip("the sleep half needs the hub's DATABASE_URL (HUB_TEST_DATABASE_URL)")
    psql(database, "UPDATE space_runtimes SET last_activity_at = now() - interval '5 minutes'")
    deadline = time.monotonic() + 30
    while api.get_space_runtime(repo_id).stage != "SLEEPING":
        assert time.monotonic() < deadline, "the Space did not go to sleep"
        time.sleep(0.5)
    woke = time.monotonic()
    assert requests.get(info.host + "/", timeout=10).status_code == 503  # "waking up"
    runtime = wait_settled(api, repo_id, runner, limit=120)
    assert runtime.stage == "RUNNING", runtime.raw
    assert Client(info.host + "/", verbose=False).predict("醒", api_name="/greet") == "你好, 醒!"
    print(f"wake from sleep to a served prediction: {time.monotonic() - woke:.2f}s")
