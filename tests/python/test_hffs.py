"""HfFileSystem: ls, info, glob, open, range reads (through the tree,
paths-info and resolve endpoints)."""

import hashlib

import pytest
from huggingface_hub import HfFileSystem

from helpers import BIG_SIZE


@pytest.fixture
def fs(hub):
    return HfFileSystem(endpoint=hub.endpoint, token=hub.token, skip_instance_cache=True)


def test_ls_root_and_folders(fs, populated):
    root = populated.repo_id
    entries = {e["name"]: e for e in fs.ls(root, detail=True)}
    assert set(entries) == {f"{root}/{p}" for p in [".gitattributes", "config.json", "weights.safetensors",
                                                     "big.bin", "sub"]}
    assert entries[f"{root}/sub"]["type"] == "directory"
    assert entries[f"{root}/big.bin"]["type"] == "file"
    assert entries[f"{root}/big.bin"]["size"] == BIG_SIZE
    assert entries[f"{root}/big.bin"]["lfs"]["size"] == BIG_SIZE
    assert entries[f"{root}/config.json"]["size"] == len(populated.files["config.json"])
    assert entries[f"{root}/config.json"]["lfs"] is None

    sub = fs.ls(f"{root}/sub", detail=False)
    assert sorted(sub) == [f"{root}/sub/dir", f"{root}/sub/top.txt"]
    deep = fs.ls(f"{root}/sub/dir", detail=True)
    assert [(e["name"], e["size"], e["type"]) for e in deep] == [(f"{root}/sub/dir/file.txt", 10, "file")]
    # ls of a file path lists that file (the client probes with EntryNotFound).
    assert [e["name"] for e in fs.ls(f"{root}/sub/top.txt", detail=True)] == [f"{root}/sub/top.txt"]


def test_find_glob_exists_info(fs, populated):
    root = populated.repo_id
    assert sorted(fs.glob(f"{root}/**/*.txt")) == [f"{root}/sub/dir/file.txt", f"{root}/sub/top.txt"]
    found = fs.find(root)
    assert sorted(p[len(root) + 1:] for p in found) == sorted(list(populated.files) + [".gitattributes"])
    assert fs.exists(f"{root}/sub/dir/file.txt")
    assert not fs.exists(f"{root}/sub/nope.txt")
    assert fs.isdir(f"{root}/sub/dir")
    assert fs.isfile(f"{root}/big.bin")
    info = HfFileSystem(endpoint=fs.endpoint, token=fs.token, skip_instance_cache=True).info(
        f"{root}/weights.safetensors")
    assert info["size"] == len(populated.files["weights.safetensors"])
    assert info["type"] == "file"
    assert info["lfs"]["sha256"] == hashlib.sha256(populated.files["weights.safetensors"]).hexdigest()
    with pytest.raises(FileNotFoundError):
        fs.info(f"{root}/sub/nope.txt")


def test_open_and_read_whole_files(fs, populated):
    root = populated.repo_id
    with fs.open(f"{root}/config.json", "rb") as f:
        assert f.read() == populated.files["config.json"]
    assert fs.cat_file(f"{root}/big.bin") == populated.files["big.bin"]
    assert fs.read_text(f"{root}/sub/dir/file.txt") == "deep file\n"


def test_range_reads(fs, populated, hub):
    root = populated.repo_id
    data = populated.files["big.bin"]
    offset = hub.log_offset()
    with fs.open(f"{root}/big.bin", "rb", block_size=64 * 1024) as f:
        f.seek(1_000_000)
        assert f.read(1000) == data[1_000_000:1_001_000]
        f.seek(BIG_SIZE - 10)
        assert f.read() == data[-10:]
        f.seek(12345)
        assert f.read(5) == data[12345:12350]
    assert fs.cat_file(f"{root}/big.bin", start=100, end=200) == data[100:200]
    assert fs.cat_file(f"{root}/big.bin", start=-50) == data[-50:]
    # Range requests, answered with 206: the whole 4 MiB was never sent.
    log = hub.log_since(offset)
    assert "status=206" in log
    # Streaming reads too.
    with fs.open(f"{root}/big.bin", "rb", block_size=0) as f:
        assert f.read(100) == data[:100]
        assert f.read() == data[100:]


def test_revisions_in_paths(fs, populated):
    root = populated.repo_id
    assert fs.cat_file(f"{root}@dev/config.json") == populated.dev_config
    assert fs.cat_file(f"{root}@v1/config.json") == populated.v1_config
    assert fs.cat_file(f"{root}@{populated.first}/config.json") == populated.v1_config
    assert fs.cat_file(f"hf://{root}/config.json") == populated.files["config.json"]


def test_write_through_hffs(fs, hub, api, name):
    repo_id = f"{hub.user}/{name('fswrite')}"
    api.create_repo(repo_id)
    with fs.open(f"{repo_id}/written/by-fs.txt", "wb") as f:
        f.write(b"written through HfFileSystem\n")
    assert api.file_exists(repo_id, "written/by-fs.txt")
    fresh = HfFileSystem(endpoint=hub.endpoint, token=hub.token, skip_instance_cache=True)
    assert fresh.cat_file(f"{repo_id}/written/by-fs.txt") == b"written through HfFileSystem\n"
    fresh.rm(f"{repo_id}/written/by-fs.txt")
    assert not api.file_exists(repo_id, "written/by-fs.txt")
