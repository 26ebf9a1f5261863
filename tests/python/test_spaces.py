"""The Space API through the unmodified huggingface_hub: create a Space with
settings, its runtime, restart (factory), pause, sleep time, hardware,
variables and secrets, duplicate, and the logs stream. (The apps themselves
run in tests/tests/spaces_e2e.rs, with a real runner.)"""

import pytest
from huggingface_hub import SpaceRuntime
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

GRADIO_CARD = "---\ntitle: Demo\nsdk: gradio\nsdk_version: 5.9.1\n---\n# Demo\n"


def space(api, hub, name, **kwargs):
    repo_id = f"{hub.user}/{name('space')}"
    api.create_repo(repo_id, repo_type="space", space_sdk="gradio", **kwargs)
    return repo_id


def test_a_new_space_takes_its_settings(api, hub, name):
    repo_id = space(
        api, hub, name,
        space_hardware="cpu-basic",
        space_sleep_time=3600,
        space_secrets=[{"key": "API_KEY", "value": "s3cr3t", "description": "for the demo"}],
        space_variables=[{"key": "MODE", "value": "demo"}],
    )
    runtime = api.get_space_runtime(repo_id)
    assert isinstance(runtime, SpaceRuntime)
    # A gradio Space made by the API has no app.py yet: it says so.
    assert runtime.stage == "NO_APP_FILE"
    assert "app.py" in runtime.raw["errorMessage"]
    assert (runtime.hardware, runtime.sleep_time) == ("cpu-basic", 3600)
    variables = api.get_space_variables(repo_id)
    assert variables["MODE"].value == "demo"
    info = api.space_info(repo_id)
    assert info.sdk == "gradio"
    assert info.runtime.stage == "NO_APP_FILE"
    assert info.subdomain and info.host.startswith(f"http://{info.subdomain}.localhost:")
    # The secret is nowhere to be read.
    assert "s3cr3t" not in str(info.__dict__) and "s3cr3t" not in str(runtime.raw)


def test_runtime_calls_change_the_stage(api, hub, name):
    repo_id = space(api, hub, name)
    api.upload_file(path_or_fileobj=GRADIO_CARD.encode(), path_in_repo="README.md",
                    repo_id=repo_id, repo_type="space")
    api.upload_file(path_or_fileobj=b"import gradio\n", path_in_repo="app.py",
                    repo_id=repo_id, repo_type="space")
    assert api.get_space_runtime(repo_id).stage == "BUILDING"
    assert api.pause_space(repo_id).stage == "PAUSED"
    assert api.restart_space(repo_id, factory_reboot=True).stage == "BUILDING"
    runtime = api.set_space_sleep_time(repo_id, sleep_time=-1)
    assert runtime.sleep_time == -1
    runtime = api.request_space_hardware(repo_id, "cpu-upgrade", sleep_time=600)
    assert (runtime.requested_hardware, runtime.sleep_time) == ("cpu-upgrade", 600)
    with pytest.raises(HfHubHTTPError) as bad:
        api.set_space_sleep_time(repo_id, sleep_time=5)
    assert bad.value.response.status_code == 400


def test_variables_and_secrets(api, hub, name):
    repo_id = space(api, hub, name)
    added = api.add_space_variable(repo_id, "TEMPERATURE", "0.7", description="sampling")
    assert added["TEMPERATURE"].value == "0.7"
    assert added["TEMPERATURE"].description == "sampling"
    assert added["TEMPERATURE"].updated_at is not None
    api.add_space_variable(repo_id, "TEMPERATURE", "0.9")
    assert api.get_space_variables(repo_id)["TEMPERATURE"].value == "0.9"
    assert "TEMPERATURE" not in api.delete_space_variable(repo_id, "TEMPERATURE")
    api.add_space_secret(repo_id, "HF_TOKEN_FOR_APP", "hf_xxx")
    api.delete_space_secret(repo_id, "HF_TOKEN_FOR_APP")
    with pytest.raises(HfHubHTTPError) as bad:
        api.add_space_secret(repo_id, "bad key", "x")
    assert bad.value.response.status_code == 400


def test_duplicating_copies_files_and_variables_not_secrets(api, hub, name):
    repo_id = space(api, hub, name,
                    space_secrets=[{"key": "PRIVATE", "value": "x"}],
                    space_variables=[{"key": "PUBLIC", "value": "y"}])
    api.upload_file(path_or_fileobj=b"print('hi')\n", path_in_repo="app.py",
                    repo_id=repo_id, repo_type="space")
    source = api.space_info(repo_id)
    copy_id = f"{hub.user}/{name('copy')}"
    url = api.duplicate_repo(repo_id, to_id=copy_id, repo_type="space", private=True)
    assert url.repo_id == copy_id
    copy = api.space_info(copy_id)
    assert copy.sha == source.sha, "the same history"
    assert copy.private
    assert sorted(s.rfilename for s in copy.siblings) == sorted(s.rfilename for s in source.siblings)
    assert api.get_space_variables(copy_id)["PUBLIC"].value == "y"
    # Taken: 409, or the existing one with exist_ok.
    with pytest.raises(HfHubHTTPError) as taken:
        api.duplicate_repo(repo_id, to_id=copy_id, repo_type="space")
    assert taken.value.response.status_code == 409
    assert api.duplicate_repo(repo_id, to_id=copy_id, repo_type="space", exist_ok=True).repo_id == copy_id


def test_logs_of_a_space_without_a_run_are_empty(api, hub, name):
    repo_id = space(api, hub, name)
    assert list(api.fetch_space_logs(repo_id)) == []
    assert list(api.fetch_space_logs(repo_id, build=True)) == []


def test_outsiders_do_not_see_a_private_space(api, hub, name):
    from huggingface_hub import HfApi

    repo_id = space(api, hub, name, private=True)
    anonymous = HfApi(endpoint=hub.endpoint, token=False)
    with pytest.raises(RepositoryNotFoundError):
        anonymous.get_space_runtime(repo_id)
    with pytest.raises(RepositoryNotFoundError):
        list(anonymous.fetch_space_logs(repo_id))
