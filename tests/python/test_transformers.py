"""transformers against the hub: AutoConfig / AutoTokenizer.from_pretrained of
a model the test uploads, and push_to_hub of a config and a tokenizer.
No torch: configs and tokenizers need none."""

import json
import uuid

import pytest

VOCAB = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "hello": 4, "world": 5, "kaiyuan": 6, "hub": 7}
TEXT = "hello kaiyuan hub world unknown"
IDS = [4, 6, 7, 5, 1]


def tiny_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(vocab=VOCAB, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]")


def tiny_config(layers=1):
    from transformers import BertConfig

    return BertConfig(vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=layers, num_attention_heads=2,
                      intermediate_size=37, max_position_embeddings=64)


@pytest.fixture(scope="module")
def bert_tiny(api, hub, tmp_path_factory):
    folder = tmp_path_factory.mktemp("bert-tiny")
    tiny_tokenizer().save_pretrained(folder)
    tiny_config().save_pretrained(folder)
    repo_id = f"{hub.user}/bert-tiny-{uuid.uuid4().hex[:8]}"
    api.create_repo(repo_id)
    commit = api.upload_folder(repo_id=repo_id, folder_path=folder).oid
    return repo_id, commit


def test_auto_config(bert_tiny, tmp_path):
    from transformers import AutoConfig, BertConfig

    repo_id, commit = bert_tiny
    config = AutoConfig.from_pretrained(repo_id, cache_dir=str(tmp_path))
    assert isinstance(config, BertConfig)
    assert (config.hidden_size, config.num_hidden_layers, config.intermediate_size) == (32, 1, 37)
    assert config.vocab_size == len(VOCAB)
    # Downloaded through /resolve/{sha}: the snapshot is the commit.
    assert (tmp_path / f"models--{repo_id.replace('/', '--')}" / "snapshots" / commit / "config.json").exists()
    pinned = AutoConfig.from_pretrained(repo_id, revision=commit, cache_dir=str(tmp_path / "pinned"))
    assert pinned.to_dict() == config.to_dict()


def test_auto_tokenizer(bert_tiny, tmp_path):
    from transformers import AutoTokenizer

    repo_id, _ = bert_tiny
    tokenizer = AutoTokenizer.from_pretrained(repo_id, cache_dir=str(tmp_path))
    assert tokenizer(TEXT)["input_ids"] == IDS
    assert tokenizer.decode([4, 5]) == "hello world"
    assert tokenizer.pad_token == "[PAD]" and tokenizer.unk_token_id == 1
    assert tokenizer.get_vocab() == VOCAB


def test_config_and_tokenizer_push_to_hub(api, hub, name, tmp_path):
    from transformers import AutoConfig, AutoTokenizer

    repo_id = f"{hub.user}/{name('pushed')}"
    tiny_config().push_to_hub(repo_id, commit_message="Upload config")
    tiny_tokenizer().push_to_hub(repo_id, commit_message="Upload tokenizer")

    files = set(api.list_repo_files(repo_id))
    assert {"config.json", "tokenizer.json", "tokenizer_config.json"} <= files
    titles = [c.title for c in api.list_repo_commits(repo_id)]
    assert "Upload config" in titles and "Upload tokenizer" in titles
    config_bytes = open(api.hf_hub_download(repo_id, "config.json", cache_dir=str(tmp_path / "raw")), "rb").read()
    assert json.loads(config_bytes)["model_type"] == "bert"

    assert AutoConfig.from_pretrained(repo_id, cache_dir=str(tmp_path)).hidden_size == 32
    assert AutoTokenizer.from_pretrained(repo_id, cache_dir=str(tmp_path))(TEXT)["input_ids"] == IDS

    # push_to_hub to a branch creates it first; main stays as it was.
    tiny_config(layers=2).push_to_hub(repo_id, revision="experiment", commit_message="on a branch")
    assert api.list_repo_commits(repo_id, revision="experiment")[0].title == "on a branch"
    assert AutoConfig.from_pretrained(repo_id, revision="experiment",
                                      cache_dir=str(tmp_path)).num_hidden_layers == 2
    assert AutoConfig.from_pretrained(repo_id, cache_dir=str(tmp_path / "main")).num_hidden_layers == 1
