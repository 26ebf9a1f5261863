"""The unmodified `modelscope` SDK (1.40) downloading a model that
huggingface_hub uploaded: snapshot_download (whole and with allow_patterns)
and model_file_download by branch and by tag give byte-identical files;
a private repo is refused without a token and served with one. Login with
a good and a bad token; create_model, upload_file and upload_folder (an
LFS-sized file included) whose files huggingface_hub downloads unchanged;
dataset_snapshot_download (whole and with allow_patterns) of an HF-uploaded
dataset (CSV + parquet), a private dataset only with a token; push_model,
create_model_tag and delete_files; create_dataset with an upload; the
release-mode choice of a tag by its creation time. The SDK is
pointed at the hub with MODELSCOPE_ENDPOINT/MODELSCOPE_DOMAIN, as
modelscope-api.md (A.1) documents."""

import json
import textwrap
from pathlib import Path

from huggingface_hub import CommitOperationAdd

from helpers import random_file, run_client, sha256_file


def ms_env(hub, cache: Path, token: str | None = None) -> dict:
    env = {
        "MODELSCOPE_ENDPOINT": hub.endpoint,
        "MODELSCOPE_DOMAIN": hub.endpoint,
        "MODELSCOPE_CACHE": str(cache),
        "MODELSCOPE_API_TOKEN": token or "",
    }
    return env


def run_ms(hub, cache: Path, code: str, token: str | None = None) -> dict:
    out = run_client(
        "import json, warnings\nwarnings.simplefilter('ignore')\n" + textwrap.dedent(code),
        env=ms_env(hub, cache, token),
    )
    return json.loads(out.strip().splitlines()[-1])


def make_model(api, repo_id: str, tmp_path: Path, private: bool = False) -> dict:
    api.create_repo(repo_id, private=private)
    weights = random_file(tmp_path / "model.safetensors", 2 * 1024 * 1024, seed=7)
    files = {
        "config.json": b'{"model_type": "tiny", "v": 1}\n',
        "sub/dir/notes.txt": "说明 notes\n".encode(),
        "model.safetensors": weights.read_bytes(),
    }
    api.create_commit(
        repo_id,
        [CommitOperationAdd(p, data) for p, data in files.items()],
        commit_message="v1",
    )
    return files


def test_snapshot_and_file_download_of_an_hf_uploaded_model(hub, api, name, tmp_path):
    repo_id = f"{hub.user}/{name('ms')}"
    files = make_model(api, repo_id, tmp_path)
    api.create_tag(repo_id, tag="v1.0")
    v2 = b'{"model_type": "tiny", "v": 2}\n'
    api.upload_file(path_or_fileobj=v2, path_in_repo="config.json", repo_id=repo_id)

    snap = run_ms(hub, tmp_path / "c1", f"""
        from modelscope import snapshot_download
        print(json.dumps(snapshot_download({repo_id!r})))
    """)
    root = Path(snap)
    got = {p.relative_to(root).as_posix(): p.read_bytes()
           for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")}
    assert got == {**files, "config.json": v2}

    only = Path(run_ms(hub, tmp_path / "c2", f"""
        from modelscope import snapshot_download
        print(json.dumps(snapshot_download({repo_id!r}, allow_patterns=["sub/*"])))
    """))
    got = {p.relative_to(only).as_posix() for p in only.rglob("*")
           if p.is_file() and not p.name.startswith(".")}
    assert got == {"sub/dir/notes.txt"}
    assert (only / "sub/dir/notes.txt").read_bytes() == files["sub/dir/notes.txt"]

    paths = run_ms(hub, tmp_path / "c3", f"""
        from modelscope import model_file_download
        out = {{
            "main": model_file_download({repo_id!r}, "config.json", revision="main"),
            "master": model_file_download({repo_id!r}, "model.safetensors", revision="master"),
        }}
        out["tag"] = model_file_download({repo_id!r}, "config.json", revision="v1.0")
        print(json.dumps(out))
    """)
    assert Path(paths["main"]).read_bytes() == v2
    assert Path(paths["master"]).read_bytes() == files["model.safetensors"]
    assert Path(paths["tag"]).read_bytes() == files["config.json"]


def test_private_model_needs_a_token(hub, api, name, tmp_path):
    repo_id = f"{hub.user}/{name('msp')}"
    files = make_model(api, repo_id, tmp_path, private=True)
    code = f"""
        from modelscope import model_file_download
        try:
            print(json.dumps(model_file_download({repo_id!r}, "config.json", revision="main")))
        except Exception as e:
            print(json.dumps({{"error": type(e).__name__}}))
    """
    refused = run_ms(hub, tmp_path / "anon", code)
    assert isinstance(refused, dict) and "error" in refused
    path = run_ms(hub, tmp_path / "tok", code, token=hub.read_token)
    assert Path(path).read_bytes() == files["config.json"]


def test_login_with_good_and_bad_token(hub, tmp_path):
    code = """
        from modelscope.hub.api import HubApi
        out = {}
        try:
            git_token, cookies = HubApi().login(TOKEN)
            out["git_token"] = git_token
            out["cookie"] = cookies.get("m_session_id") if cookies is not None else None
        except Exception as e:
            out["error"] = type(e).__name__
        print(json.dumps(out))
    """
    good = run_ms(hub, tmp_path / "good", code.replace("TOKEN", repr(hub.token)))
    assert good == {"git_token": hub.token, "cookie": hub.token}
    bad = run_ms(hub, tmp_path / "bad", code.replace("TOKEN", repr("ky_not_a_token")))
    assert bad == {"error": "AuthenticationError"}


def test_create_upload_and_download_with_huggingface_hub(hub, api, name, tmp_path):
    repo_id = f"{hub.user}/{name('msu')}"
    folder = tmp_path / "folder"
    (folder / "nested").mkdir(parents=True)
    (folder / "README.md").write_bytes("# 上传\n".encode())
    (folder / "configuration.json").write_bytes(b'{"framework": "pytorch"}\n')
    big = random_file(folder / "nested" / "weights.bin", 11 * 1024 * 1024, seed=11)
    single = tmp_path / "notes.txt"
    single.write_bytes(b"uploaded alone\n")
    offset = hub.log_offset()
    out = run_ms(hub, tmp_path / "c", f"""
        from modelscope.hub.api import HubApi
        api = HubApi()
        api.create_model({repo_id!r}, visibility=5)
        try:
            api.create_model({repo_id!r}, visibility=5)
            again = "created twice"
        except Exception as e:
            again = type(e).__name__
        api.create_repo({repo_id!r}, exist_ok=True)
        api.upload_file(path_or_fileobj={str(single)!r}, path_in_repo="notes.txt",
                        repo_id={repo_id!r})
        api.upload_folder(repo_id={repo_id!r}, folder_path={str(folder)!r})
        print(json.dumps({{"again": again}}))
    """, token=hub.token)
    assert out["again"] == "AlreadyExistsError"
    # The SDK's own sequence: batch, PUT of the big blob, commit.
    seen = [(m, u.split("?")[0]) for m, u in hub.requests_since(offset)]
    assert ("POST", f"/api/v1/repos/models/{repo_id}/info/lfs/objects/batch") in seen
    assert any(m == "PUT" and u.endswith("/objects/" + sha256_file(big)) for m, u in seen)
    assert ("POST", f"/api/v1/repos/models/{repo_id}/commit/master") in seen
    expected = {
        "README.md": (folder / "README.md").read_bytes(),
        "configuration.json": (folder / "configuration.json").read_bytes(),
        "nested/weights.bin": big.read_bytes(),
        "notes.txt": single.read_bytes(),
    }
    for path, data in expected.items():
        local = api.hf_hub_download(repo_id, path, cache_dir=tmp_path / "hf")
        assert Path(local).read_bytes() == data, path
    info = api.get_paths_info(repo_id, ["nested/weights.bin"])[0]
    assert info.lfs is not None and info.lfs.size == len(expected["nested/weights.bin"])


def make_dataset(api, repo_id: str, tmp_path: Path, private: bool = False) -> dict:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    api.create_repo(repo_id, repo_type="dataset", private=private)
    table = pa.table({"id": list(range(1000)), "text": [f"行 {i}" for i in range(1000)]})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    files = {
        "README.md": b"# tiny dataset\n",
        "data/train.csv": "id,text\n1,你好\n2,world\n".encode(),
        "data/train.parquet": buf.getvalue(),
    }
    api.create_commit(
        repo_id,
        [CommitOperationAdd(p, data) for p, data in files.items()],
        commit_message="data",
        repo_type="dataset",
    )
    return files


def test_dataset_snapshot_download_of_an_hf_uploaded_dataset(hub, api, name, tmp_path):
    repo_id = f"{hub.user}/{name('msd')}"
    files = make_dataset(api, repo_id, tmp_path)

    snap = Path(run_ms(hub, tmp_path / "d1", f"""
        from modelscope import dataset_snapshot_download
        print(json.dumps(dataset_snapshot_download({repo_id!r})))
    """))
    got = {p.relative_to(snap).as_posix(): p.read_bytes()
           for p in snap.rglob("*") if p.is_file() and not p.name.startswith(".")}
    assert got == files

    only = Path(run_ms(hub, tmp_path / "d2", f"""
        from modelscope import dataset_snapshot_download
        print(json.dumps(dataset_snapshot_download({repo_id!r}, allow_patterns=["*.parquet"])))
    """))
    got = {p.relative_to(only).as_posix(): p.read_bytes()
           for p in only.rglob("*") if p.is_file() and not p.name.startswith(".")}
    assert got == {"data/train.parquet": files["data/train.parquet"]}


def test_private_dataset_needs_a_token(hub, api, name, tmp_path):
    repo_id = f"{hub.user}/{name('msdp')}"
    files = make_dataset(api, repo_id, tmp_path, private=True)
    code = f"""
        from modelscope import dataset_snapshot_download
        try:
            print(json.dumps(dataset_snapshot_download({repo_id!r}, allow_patterns=["*.csv"])))
        except Exception as e:
            print(json.dumps({{"error": type(e).__name__}}))
    """
    refused = run_ms(hub, tmp_path / "anon", code)
    assert isinstance(refused, dict) and "error" in refused
    snap = Path(run_ms(hub, tmp_path / "tok", code, token=hub.read_token))
    assert (snap / "data/train.csv").read_bytes() == files["data/train.csv"]


def test_push_model_tag_and_delete_files(hub, api, name, tmp_path):
    """1.40's push_model (create + upload_folder), create_model_tag (the tag
    then lists with its integer CreatedAt and serves downloads) and
    delete_files (a commit of delete actions)."""
    repo_id = f"{hub.user}/{name('mspush')}"
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "configuration.json").write_bytes(b'{"framework": "pytorch"}\n')
    (model_dir / "README.md").write_bytes(b"# pushed\n")
    weights = random_file(model_dir / "pytorch_model.bin", 300 * 1024, seed=13)
    out = run_ms(hub, tmp_path / "c", f"""
        from modelscope.hub.api import HubApi
        from modelscope import model_file_download
        api = HubApi()
        api.push_model({repo_id!r}, {str(model_dir)!r})
        api.create_model_tag({repo_id!r}, "v1.0")
        api.delete_files({repo_id!r}, file_paths=["README.md"])
        tagged = model_file_download({repo_id!r}, "README.md", revision="v1.0")
        try:
            model_file_download({repo_id!r}, "README.md", revision="master")
            gone = False
        except Exception:
            gone = True
        print(json.dumps({{"tagged": tagged, "gone": gone}}))
    """, token=hub.token)
    assert Path(out["tagged"]).read_bytes() == b"# pushed\n"
    assert out["gone"] is True
    refs = api.list_repo_refs(repo_id)
    assert "v1.0" in {t.name for t in refs.tags}
    files = set(api.list_repo_files(repo_id))
    assert "README.md" not in files and "pytorch_model.bin" in files
    local = api.hf_hub_download(repo_id, "pytorch_model.bin", revision="v1.0",
                                cache_dir=tmp_path / "hf")
    assert Path(local).read_bytes() == weights.read_bytes()


def test_create_dataset_upload_and_download(hub, api, name, tmp_path):
    """1.40's create_dataset (a multipart form), upload_folder into the
    dataset, dataset_snapshot_download of it, and huggingface_hub reading
    the same bytes."""
    ds_name = name("msnewds")
    repo_id = f"{hub.user}/{ds_name}"
    folder = tmp_path / "ds"
    (folder / "data").mkdir(parents=True)
    (folder / "README.md").write_bytes("# 新数据集\n".encode())
    (folder / "data" / "train.jsonl").write_bytes(b'{"x": 1}\n{"x": 2}\n')
    big = random_file(folder / "data" / "blob.parquet", 150 * 1024, seed=17)
    out = run_ms(hub, tmp_path / "c", f"""
        from modelscope.hub.api import HubApi
        from modelscope import dataset_snapshot_download
        api = HubApi()
        url = api.create_dataset({ds_name!r}, {hub.user!r}, visibility=5)
        try:
            api.create_dataset({ds_name!r}, {hub.user!r}, visibility=5)
            again = "created twice"
        except Exception as e:
            again = type(e).__name__
        api.upload_folder(repo_id={repo_id!r}, folder_path={str(folder)!r}, repo_type="dataset")
        print(json.dumps({{"url": url, "again": again,
                          "snap": dataset_snapshot_download({repo_id!r})}}))
    """, token=hub.token)
    assert out["url"].endswith(f"/datasets/{repo_id}")
    assert out["again"] == "AlreadyExistsError"
    snap = Path(out["snap"])
    expected = {
        "README.md": (folder / "README.md").read_bytes(),
        "data/train.jsonl": (folder / "data" / "train.jsonl").read_bytes(),
        "data/blob.parquet": big.read_bytes(),
    }
    got = {p.relative_to(snap).as_posix(): p.read_bytes()
           for p in snap.rglob("*") if p.is_file() and not p.name.startswith(".")}
    assert got == expected
    info = api.dataset_info(repo_id)
    assert info.private is False
    local = api.hf_hub_download(repo_id, "data/blob.parquet", repo_type="dataset",
                                cache_dir=tmp_path / "hf")
    assert Path(local).read_bytes() == big.read_bytes()


def test_release_mode_picks_the_newest_tag_before_the_sdk_release(hub, api, name, tmp_path):
    """1.40's model_file_download without a revision takes the newest tag
    whose CreatedAt is before the SDK's release date (modelscope-api.md
    A.4): so /revisions must report each tag's real creation time. v1.0 is
    backdated in the database to before the release; v2.0, made now (after
    it), must not be chosen, nor master."""
    import pytest

    from hub_process import psql, with_database

    if not (hub.admin_url and hub.db_name):
        pytest.skip("needs HUB_TEST_DATABASE_URL to backdate a tag")
    repo_id = f"{hub.user}/{name('msrel')}"
    api.create_repo(repo_id)
    api.upload_file(path_or_fileobj=b'{"v": 1}\n', path_in_repo="config.json", repo_id=repo_id)
    api.create_tag(repo_id, tag="v1.0")
    api.upload_file(path_or_fileobj=b'{"v": 2}\n', path_in_repo="config.json", repo_id=repo_id)
    api.create_tag(repo_id, tag="v2.0")
    api.upload_file(path_or_fileobj=b'{"v": 3}\n', path_in_repo="config.json", repo_id=repo_id)
    ns, repo_name = repo_id.split("/")
    psql(with_database(hub.admin_url, hub.db_name),
         "UPDATE repo_refs SET created_at = '2026-01-01T00:00:00Z' "
         f"WHERE kind = 'tag' AND name = 'v1.0' AND repo_id = (SELECT r.id FROM repos r "
         f"JOIN namespaces n ON n.id = r.namespace_id WHERE n.name = '{ns}' AND r.name = '{repo_name}')")
    path = run_ms(hub, tmp_path / "c", f"""
        import modelscope
        from modelscope import model_file_download
        assert modelscope.__version__ == "1.40.2", modelscope.__version__
        print(json.dumps(model_file_download({repo_id!r}, "config.json")))
    """)
    assert Path(path).read_bytes() == b'{"v": 1}\n'
