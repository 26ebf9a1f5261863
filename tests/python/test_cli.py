"""The `hf` command line of huggingface_hub against the hub."""

import os
import subprocess
import sys
from pathlib import Path

HF = str(Path(sys.executable).parent / "hf")


def hf(*args, env=None):
    out = subprocess.run([HF, *args], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "NO_COLOR": "1", **(env or {})})
    assert out.returncode == 0, f"hf {' '.join(args)}:\n{out.stdout}\n{out.stderr}"
    return out.stdout


def test_hf_auth_whoami(hub):
    assert hub.user in hf("auth", "whoami")


def test_hf_upload_and_download(api, hub, name, tmp_path):
    repo_id = f"{hub.user}/{name('cli')}"
    folder = tmp_path / "up"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("cli a\n")
    (folder / "sub" / "b.bin").write_bytes(os.urandom(100_000))
    hf("upload", repo_id, str(folder), ".", "--commit-message", "from the cli")
    assert api.list_repo_commits(repo_id)[0].title == "from the cli"
    assert sorted(api.list_repo_files(repo_id)) == [".gitattributes", "a.txt", "sub/b.bin"]
    out = tmp_path / "down"
    hf("download", repo_id, "--local-dir", str(out))
    assert (out / "a.txt").read_text() == "cli a\n"
    assert (out / "sub" / "b.bin").read_bytes() == (folder / "sub" / "b.bin").read_bytes()
