"""The real `openai` client (PyPI) against the hub's OpenAI-compatible `/v1`,
with a real `inference-worker` serving a tiny random Qwen2 (written by the
worker crate's tiny_checkpoint example, `HUB_TEST_TINY_QWEN2_DIR`) and the
real all-MiniLM-L6-v2 (`HUB_TEST_MINILM_DIR`), both uploaded with
huggingface_hub. tests/run prepares both directories."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from hub_process import hub_binary

MINILM_REFERENCE = [0.033242, 0.004406, -0.006277, 0.048379]


def model_dir(var: str) -> Path:
    value = os.environ.get(var)
    if not value:
        pytest.skip(f"{var} is unset (tests/run prepares it)")
    return Path(value)


@pytest.fixture(scope="module")
def worker(hub, tmp_path_factory):
    """An inference-worker for this module, on the session's hub."""
    binary = hub_binary().with_name("inference-worker")
    if not binary.exists():
        pytest.fail(f"{binary} is missing: cargo build --workspace", pytrace=False)
    token = hub.cli("worker-token", "create", "--name", "pytest-worker")
    work = tmp_path_factory.mktemp("worker")
    log = open(work / "worker.log", "ab")
    process = subprocess.Popen(
        [str(binary), "--hub", hub.endpoint, "--token", token, "--cache-dir", str(work / "cache")],
        stdout=subprocess.DEVNULL,
        stderr=log,
        start_new_session=True,
    )
    log.close()
    yield work / "worker.log"
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def upload(api, hub, repo_id: str, folder: Path) -> None:
    api.create_repo(repo_id, repo_type="model")
    api.upload_folder(repo_id=repo_id, folder_path=str(folder), repo_type="model")


def until_servable(hub, repo_id: str, log: Path) -> None:
    import requests

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        info = requests.get(
            f"{hub.endpoint}/api/inference/{repo_id}",
            headers={"authorization": f"Bearer {hub.token}"},
            timeout=10,
        ).json()
        if info.get("available"):
            return
        time.sleep(0.1)
    pytest.fail(f"no worker serves {repo_id}; worker log:\n{log.read_text()[-4000:]}")


def client(hub):
    from openai import OpenAI

    return OpenAI(base_url=f"{hub.endpoint}/v1", api_key=hub.token, max_retries=0)


def test_chat_completions_stream_and_not(hub, api, name, worker):
    folder = model_dir("HUB_TEST_TINY_QWEN2_DIR")
    repo_id = f"{hub.user}/{name('qwen')}"
    upload(api, hub, repo_id, folder)
    until_servable(hub, repo_id, worker)
    openai = client(hub)
    messages = [{"role": "user", "content": "你好 hello world"}]

    whole = openai.chat.completions.create(
        model=repo_id, messages=messages, max_tokens=16, temperature=0
    )
    assert whole.object == "chat.completion"
    assert whole.model == repo_id
    assert whole.choices[0].message.role == "assistant"
    assert whole.choices[0].finish_reason in ("stop", "length")
    assert whole.usage.prompt_tokens > 0
    assert 0 < whole.usage.completion_tokens <= 16
    assert whole.usage.total_tokens == whole.usage.prompt_tokens + whole.usage.completion_tokens

    chunks = list(
        openai.chat.completions.create(
            model=repo_id,
            messages=messages,
            max_tokens=16,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content, "greedy: streamed equals whole"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens

    # The same model at an explicit revision, and the plain completions API.
    sha = api.model_info(repo_id).sha
    pinned = openai.completions.create(
        model=f"{repo_id}@{sha}", prompt="hello", max_tokens=8, temperature=0
    )
    assert pinned.system_fingerprint == sha
    assert pinned.choices[0].finish_reason in ("stop", "length")

    listed = [m.id for m in openai.models.list()]
    assert repo_id in listed


def test_embeddings_match_the_reference(hub, api, name, worker):
    folder = model_dir("HUB_TEST_MINILM_DIR")
    repo_id = f"{hub.user}/{name('minilm')}"
    upload(api, hub, repo_id, folder)
    until_servable(hub, repo_id, worker)
    openai = client(hub)
    # The client asks for base64 by default and decodes it itself.
    result = openai.embeddings.create(model=repo_id, input=["A man is eating food.", "天气很好"])
    assert [d.index for d in result.data] == [0, 1]
    first = result.data[0].embedding
    assert len(first) == 384
    for got, want in zip(first[:4], MINILM_REFERENCE):
        assert abs(got - want) < 1e-4, first[:4]
    floats = openai.embeddings.create(
        model=repo_id, input="A man is eating food.", encoding_format="float"
    )
    for got, want in zip(floats.data[0].embedding, first):
        assert abs(got - want) < 1e-6
    assert result.usage.prompt_tokens > 0


def test_errors_are_openai_errors(hub, api, name, worker):
    import openai as openai_module

    repo_id = f"{hub.user}/{name('private')}"
    api.create_repo(repo_id, repo_type="model", private=True)
    outsider = openai_module.OpenAI(
        base_url=f"{hub.endpoint}/v1", api_key=hub.other_token, max_retries=0
    )
    with pytest.raises(openai_module.NotFoundError):
        outsider.chat.completions.create(
            model=repo_id, messages=[{"role": "user", "content": "hi"}]
        )
    with pytest.raises(openai_module.UnprocessableEntityError) as bad:
        client(hub).chat.completions.create(
            model="no-slash", messages=[{"role": "user", "content": "hi"}]
        )
    assert "namespace/name" in bad.value.message
