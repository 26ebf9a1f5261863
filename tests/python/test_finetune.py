"""Fine-tuning with the unmodified `openai` client (PyPI): files, jobs,
events, checkpoints, cancel, and the errors it raises; a real trainer
(`inference-worker --trainer`, the real PyTorch + transformers + PEFT in
the venv the worker builds, prepared by tests/run under the target dir and
named in `HUB_TEST_TRAINER_ENVS`) fine-tunes the tiny random Qwen2
(`HUB_TEST_TINY_QWEN2_DIR`). The adapter it publishes is served by the
demo tier, and transformers + PEFT, loading the same repo, generate the
very tokens the worker generates from the merged weights."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from hub_process import hub_binary

ROOT = Path(__file__).resolve().parents[2]
PEFT_GENERATE = ROOT / "inference-worker" / "trainer" / "tests" / "peft_generate.py"


def env_dir(var: str) -> Path:
    value = os.environ.get(var)
    if not value:
        pytest.skip(f"{var} is unset (tests/run prepares it)")
    return Path(value)


@pytest.fixture(scope="module")
def account(hub):
    """A user of its own with ¥100 and a price of ¥0.01 per thousand CPU
    tokens (other modules' wallets stay as they are)."""
    user = "ftuser"
    hub.create_user(user)
    token = hub.create_token(user, write=True)
    hub.cli("billing", "grant", "--user", user, "--amount", "100", "--reason", "pytest")
    hub.cli("billing", "rate", "--class", "cpu", "--per-second", "0", "--per-1k-tokens", "0.01")
    return user, token


@pytest.fixture(scope="module")
def trainer(hub, tmp_path_factory):
    envs = env_dir("HUB_TEST_TRAINER_ENVS")
    binary = hub_binary().with_name("inference-worker")
    token = hub.cli("worker-token", "create", "--name", "pytest-trainer")
    work = tmp_path_factory.mktemp("trainer")
    log = open(work / "trainer.log", "ab")
    process = subprocess.Popen(
        [
            str(binary), "--hub", hub.endpoint, "--token", token,
            "--cache-dir", str(work / "cache"), "--trainer", "--trainer-envs", str(envs),
            # The same worker serves what it trained.
            "--tasks", "text-generation",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
        start_new_session=True,
    )
    log.close()
    yield work / "trainer.log"
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def trainer_python(envs: Path) -> str:
    binary = hub_binary().with_name("inference-worker")
    out = subprocess.run(
        [str(binary), "trainer-env", "--envs", str(envs)],
        capture_output=True, text=True, timeout=900, check=True,
    )
    return out.stdout.strip().splitlines()[-1]


def client(hub, token):
    from openai import OpenAI

    return OpenAI(base_url=f"{hub.endpoint}/v1", api_key=token, max_retries=0)


def chats(n: int = 50) -> bytes:
    lines = []
    for i in range(n):
        lines.append(json.dumps({"messages": [
            {"role": "user", "content": f"question {i}: what is {i} plus one?"},
            {"role": "assistant", "content": f"The answer is {i + 1}. 好的。"},
        ]}, ensure_ascii=False))
    return ("\n".join(lines) + "\n").encode()


def upload_base(hub, api, name) -> str:
    """The tiny Qwen2 as a public model of the session's user, uploaded as
    every module here uploads it: hf_xet's local cache would let a second
    account's upload name the first one's xorbs, which the hub refuses
    from anyone who did not upload them."""
    folder = env_dir("HUB_TEST_TINY_QWEN2_DIR")
    repo_id = f"{hub.user}/{name('base')}"
    api.create_repo(repo_id, repo_type="model")
    api.upload_folder(repo_id=repo_id, folder_path=str(folder), repo_type="model")
    return repo_id


def hyper(epochs: int) -> dict:
    return {"type": "supervised", "supervised": {"hyperparameters": {
        "n_epochs": epochs, "batch_size": 2, "learning_rate_multiplier": 50,
    }}}


def wait_for(job_id, openai, log: Path, until, limit=400):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        job = openai.fine_tuning.jobs.retrieve(job_id)
        if until(job):
            return job
        time.sleep(0.5)
    pytest.fail(f"job {job_id} is {job.status} after {limit} s; trainer log:\n{log.read_text()[-6000:]}")


def balance(hub, token) -> dict:
    got = requests.get(
        f"{hub.endpoint}/api/billing/balance",
        headers={"authorization": f"Bearer {token}"}, timeout=10,
    )
    assert got.status_code == 200, got.text
    return got.json()


def test_the_openai_client_fine_tunes_and_peft_generates_what_the_worker_does(
    hub, api, account, trainer, name, tmp_path
):
    user, token = account
    base = upload_base(hub, api, name)
    openai = client(hub, token)

    uploaded = openai.files.create(file=("chats.jsonl", chats()), purpose="fine-tune")
    assert uploaded.id.startswith("file-")
    assert uploaded.purpose == "fine-tune"
    assert uploaded.bytes == len(chats())
    assert uploaded.filename == "chats.jsonl"
    assert openai.files.retrieve(uploaded.id).id == uploaded.id
    assert uploaded.id in [f.id for f in openai.files.list()]
    assert openai.files.content(uploaded.id).read() == chats()

    job = openai.fine_tuning.jobs.create(
        model=base, training_file=uploaded.id, suffix="pytest", seed=3, method=hyper(3)
    )
    assert job.id.startswith("ftjob-")
    assert job.status == "queued"
    assert job.model == base
    assert job.method.type == "supervised"
    assert job.method.supervised.hyperparameters.n_epochs == 3
    assert job.id in [j.id for j in openai.fine_tuning.jobs.list(limit=10)]

    done = wait_for(job.id, openai, trainer, lambda j: j.status in ("succeeded", "failed", "cancelled"))
    assert done.status == "succeeded", (done.error, trainer.read_text()[-6000:])
    assert done.fine_tuned_model == f"{user}/{base.split('/')[1]}-pytest"
    assert done.trained_tokens > 0
    assert done.finished_at is not None

    events = list(openai.fine_tuning.jobs.list_events(job.id, limit=1000))
    metrics = [e for e in events if e.type == "metrics"]
    assert metrics, [e.message for e in events]
    losses = [e.data["train_loss"] for e in reversed(metrics) if e.data.get("train_loss") is not None]
    assert losses[-1] < losses[0] * 0.7, losses
    assert all(e.object == "fine_tuning.job.event" for e in events)
    checkpoints = list(openai.fine_tuning.jobs.checkpoints.list(job.id))
    assert checkpoints and checkpoints[0].step_number > 0
    assert checkpoints[0].fine_tuning_job_id == job.id

    # Charged exactly the tokens trained; nothing left held.
    wallet = balance(hub, token)
    charge = -(-done.trained_tokens * 10_000 // 1000)
    assert wallet["held"]["micro_yuan"] == 0, wallet
    assert wallet["available"]["micro_yuan"] == 100_000_000 - charge, (wallet, done.trained_tokens)

    # The adapter, as the demo tier serves it (merged into the base) and as
    # transformers + PEFT run it: the same greedy tokens.
    from huggingface_hub import snapshot_download
    from tokenizers import Tokenizer

    adapter_dir = snapshot_download(
        done.fine_tuned_model, endpoint=hub.endpoint, token=token, cache_dir=str(tmp_path / "hf")
    )
    config = json.loads(Path(adapter_dir, "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA"
    assert config["base_model_name_or_path"] == base
    prompt = "question 7: what is 7 plus one?"
    served = requests.post(
        f"{hub.endpoint}/api/inference/{done.fine_tuned_model}",
        headers={"authorization": f"Bearer {token}"},
        json={"inputs": prompt, "parameters": {"max_new_tokens": 12, "details": True, "do_sample": False}},
        timeout=120,
    )
    assert served.status_code == 200, served.text
    ids = [t["id"] for t in served.json()[0]["details"]["tokens"]]
    assert ids
    base_dir = env_dir("HUB_TEST_TINY_QWEN2_DIR")
    prompt_ids = Tokenizer.from_file(str(base_dir / "tokenizer.json")).encode(prompt).ids
    python = trainer_python(env_dir("HUB_TEST_TRAINER_ENVS"))
    out = subprocess.run(
        [python, str(PEFT_GENERATE), str(base_dir), adapter_dir, json.dumps(prompt_ids), str(len(ids))],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == ids

    # The chat API serves it too.
    chat = openai.chat.completions.create(
        model=done.fine_tuned_model, messages=[{"role": "user", "content": prompt}],
        max_tokens=8, temperature=0,
    )
    assert chat.choices[0].message.role == "assistant"


def test_cancel_and_refusals_through_the_client(hub, api, account, trainer, name):
    import openai as openai_module

    _, token = account
    base = upload_base(hub, api, name)
    openai = client(hub, token)
    uploaded = openai.files.create(file=("chats.jsonl", chats()), purpose="fine-tune")

    job = openai.fine_tuning.jobs.create(model=base, training_file=uploaded.id, method=hyper(40))
    wait_for(job.id, openai, trainer, lambda j: j.status == "running" and (j.trained_tokens or 0) > 0)
    cancelled = openai.fine_tuning.jobs.cancel(job.id)
    assert cancelled.status == "cancelled"
    assert cancelled.fine_tuned_model is None
    time.sleep(2)
    assert openai.fine_tuning.jobs.retrieve(job.id).status == "cancelled"

    # A malformed file: 400, each error with its line.
    bad = chats().decode().splitlines()
    bad[1] = "{oops"
    bad[3] = json.dumps({"messages": [{"role": "user", "content": "hi"}]})
    bad_file = openai.files.create(file=("bad.jsonl", "\n".join(bad).encode()), purpose="fine-tune")
    with pytest.raises(openai_module.BadRequestError) as refused:
        openai.fine_tuning.jobs.create(model=base, training_file=bad_file.id)
    assert "line 2" in str(refused.value) and "line 4" in str(refused.value)

    # A wrong purpose, an unknown file, someone else's job.
    with pytest.raises(openai_module.BadRequestError):
        openai.files.create(file=("x.jsonl", b"{}\n"), purpose="assistants")
    with pytest.raises(openai_module.NotFoundError):
        openai.fine_tuning.jobs.create(model=base, training_file="file-aaaaaaaaaaaaaaaaaaaaaaaa")
    with pytest.raises(openai_module.NotFoundError):
        client(hub, hub.token).fine_tuning.jobs.retrieve(job.id)

    # Too dear for the wallet: 402, nothing queued.
    before = [j.id for j in openai.fine_tuning.jobs.list(limit=100)]
    hub.cli("billing", "rate", "--class", "cpu", "--per-second", "0", "--per-1k-tokens", "100000")
    try:
        with pytest.raises(openai_module.APIStatusError) as poor:
            openai.fine_tuning.jobs.create(model=base, training_file=uploaded.id, method=hyper(3))
        assert poor.value.status_code == 402
    finally:
        hub.cli("billing", "rate", "--class", "cpu", "--per-second", "0", "--per-1k-tokens", "0.01")
    assert [j.id for j in openai.fine_tuning.jobs.list(limit=100)] == before
