"""datasets against the hub: load_dataset of CSV, JSONL and parquet repos
(streaming too) and Dataset.push_to_hub."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

ROWS = [{"text": "hello", "label": 0}, {"text": "world", "label": 1}, {"text": "kaiyuan", "label": 1}]
TEST_ROWS = [{"text": "foo", "label": 0}]


def rows_of(split):
    return [{"text": r["text"], "label": r["label"]} for r in split]


def make_repo(api, repo_id, files: dict):
    api.create_repo(repo_id, repo_type="dataset")
    from huggingface_hub import CommitOperationAdd

    api.create_commit(repo_id, [CommitOperationAdd(path, data) for path, data in files.items()],
                      commit_message="data", repo_type="dataset")


def csv_bytes(rows):
    return ("text,label\n" + "".join(f"{r['text']},{r['label']}\n" for r in rows)).encode()


def jsonl_bytes(rows):
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def parquet_bytes(rows, tmp_path):
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.Table.from_pylist(rows), str(path))
    return path.read_bytes()


@pytest.fixture
def formats(tmp_path):
    return {
        "csv": {"data/train.csv": csv_bytes(ROWS), "data/test.csv": csv_bytes(TEST_ROWS)},
        "jsonl": {"data/train.jsonl": jsonl_bytes(ROWS), "data/test.jsonl": jsonl_bytes(TEST_ROWS)},
        "parquet": {"data/train-00000-of-00001.parquet": parquet_bytes(ROWS, tmp_path),
                    "data/test-00000-of-00001.parquet": parquet_bytes(TEST_ROWS, tmp_path)},
    }


@pytest.mark.parametrize("kind", ["csv", "jsonl", "parquet"])
def test_load_dataset(api, hub, name, tmp_path, formats, kind):
    from datasets import load_dataset

    repo_id = f"{hub.user}/{name(kind)}"
    files = dict(formats[kind])
    files["README.md"] = b"---\nlicense: mit\n---\n# rows\n"
    make_repo(api, repo_id, files)
    ds = load_dataset(repo_id, cache_dir=str(tmp_path / "cache"))
    assert set(ds) == {"train", "test"}
    assert rows_of(ds["train"]) == ROWS
    assert rows_of(ds["test"]) == TEST_ROWS
    assert ds["train"].num_rows == 3


@pytest.mark.parametrize("kind", ["csv", "jsonl", "parquet"])
def test_load_dataset_streaming(api, hub, name, tmp_path, formats, kind):
    from datasets import load_dataset

    repo_id = f"{hub.user}/{name(kind)}"
    make_repo(api, repo_id, formats[kind])
    ds = load_dataset(repo_id, streaming=True, split="train", cache_dir=str(tmp_path / "cache"))
    assert rows_of(ds) == ROWS
    assert rows_of(ds.take(2)) == ROWS[:2]


def test_load_dataset_private_needs_the_token(api, hub, name, tmp_path, formats):
    from datasets import load_dataset
    from datasets.exceptions import DatasetNotFoundError

    repo_id = f"{hub.user}/{name('private-ds')}"
    api.create_repo(repo_id, repo_type="dataset", private=True)
    api.upload_file(path_or_fileobj=formats["csv"]["data/train.csv"], path_in_repo="data/train.csv",
                    repo_id=repo_id, repo_type="dataset")
    assert rows_of(load_dataset(repo_id, split="train", cache_dir=str(tmp_path / "a"))) == ROWS
    with pytest.raises(DatasetNotFoundError):
        load_dataset(repo_id, split="train", token=hub.other_token, cache_dir=str(tmp_path / "b"))


def test_dataset_push_to_hub_and_back(api, hub, name, tmp_path):
    from datasets import Dataset, load_dataset

    repo_id = f"{hub.user}/{name('pushed-ds')}"
    ds = Dataset.from_list([{"a": i, "b": f"row {i}"} for i in range(1000)])
    ds.push_to_hub(repo_id, commit_message="Upload dataset")
    files = api.list_repo_files(repo_id, repo_type="dataset")
    shards = [f for f in files if f.endswith(".parquet")]
    assert shards and all(f.startswith("data/train-") for f in shards)
    assert "README.md" in files
    tree = {e.path: e for e in api.list_repo_tree(repo_id, repo_type="dataset", recursive=True)}
    # Parquet shards are LFS objects (push_to_hub preuploads them, then deletes its temp copy).
    assert all(tree[s].lfs is not None for s in shards)
    info = api.dataset_info(repo_id)
    assert info.card_data["dataset_info"]["splits"][0]["num_examples"] == 1000

    back = load_dataset(repo_id, split="train", cache_dir=str(tmp_path / "cache"))
    assert back.num_rows == 1000
    assert back[999] == {"a": 999, "b": "row 999"}
    assert sorted(back["a"]) == list(range(1000))

    # A second push (another split) is a commit on top of the first, with parentCommit.
    Dataset.from_list([{"a": -1, "b": "test"}]).push_to_hub(repo_id, split="test")
    both = load_dataset(repo_id, cache_dir=str(tmp_path / "cache2"))
    assert both["test"][0] == {"a": -1, "b": "test"} and both["train"].num_rows == 1000


def test_dataset_push_to_hub_through_lfs(api, hub, name, tmp_path):
    # Without Xet, the parquet shard is preuploaded through the LFS batch API
    # and its temp file deleted before the commit: it must have been "lfs".
    from datasets import load_dataset

    from helpers import run_client

    repo_id = f"{hub.user}/{name('pushed-lfs')}"
    offset = hub.log_offset()
    run_client(
        f"""
        from datasets import Dataset
        Dataset.from_dict({{"x": list(range(50)), "y": ["v"] * 50}}).push_to_hub({repo_id!r})
        """,
        env={"HF_HUB_DISABLE_XET": "1"},
    )
    paths = [p for _, p in hub.requests_since(offset)]
    assert any(p.endswith("/info/lfs/objects/batch") for p in paths)
    assert not any("/xet-write-token/" in p for p in paths)
    back = load_dataset(repo_id, split="train", cache_dir=str(tmp_path / "cache"))
    assert back["x"] == list(range(50))
