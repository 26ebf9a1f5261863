"""A GGUF-only repo (a tiny random Qwen2 quantised as Q4_K_M and Q8_0, the
tokenizer and chat template only in the GGUF metadata, written by the worker
crate's tiny_checkpoint example, `HUB_TEST_TINY_GGUF_DIR`) uploaded with
huggingface_hub and chatted with through the real `openai` client, the
quantisation chosen by tag as Hugging Face and Ollama name it."""

from __future__ import annotations

import pytest

from test_openai import client, model_dir, until_servable, upload, worker  # noqa: F401


def test_a_gguf_repo_chats_by_quantisation_tag(hub, api, name, worker):  # noqa: F811
    import openai as openai_module

    folder = model_dir("HUB_TEST_TINY_GGUF_DIR")
    repo_id = f"{hub.user}/{name('gguf')}"
    upload(api, hub, repo_id, folder)
    until_servable(hub, repo_id, worker)
    openai = client(hub)
    messages = [{"role": "user", "content": "你好 hello world"}]

    def answer(model: str) -> str:
        whole = openai.chat.completions.create(
            model=model, messages=messages, max_tokens=16, temperature=0
        )
        assert whole.choices[0].finish_reason in ("stop", "length")
        assert whole.usage.completion_tokens > 0
        return whole.choices[0].message.content

    default = answer(repo_id)
    assert answer(f"{repo_id}:q4_k_m") == default, "the default is Q4_K_M"
    assert answer(f"{repo_id}:Q8_0") is not None

    listed = {m.id for m in openai.models.list()}
    assert {repo_id, f"{repo_id}:Q4_K_M", f"{repo_id}:Q8_0"} <= listed

    with pytest.raises(openai_module.UnprocessableEntityError) as refused:
        answer(f"{repo_id}:Q5_K_M")
    assert "Q4_K_M, Q8_0" in str(refused.value)
