"""Repo management through huggingface_hub: create (model, dataset, space,
private, exist_ok), settings, move, delete, whoami."""

import pytest
from huggingface_hub import HfApi, constants
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

from helpers import commit_sha


def test_clients_point_at_the_hub(hub):
    # Read once, at import: conftest set them before any test module loaded.
    assert constants.ENDPOINT == hub.endpoint
    assert hub.endpoint.startswith("http://localhost:")
    assert hub.direct_url.startswith("http://127.0.0.1:")


@pytest.mark.parametrize(
    "repo_type,kwargs,prefix",
    [
        ("model", {}, ""),
        ("dataset", {}, "datasets/"),
        ("space", {"space_sdk": "static"}, "spaces/"),
    ],
)
def test_create_repo_of_each_type(api, hub, name, repo_type, kwargs, prefix):
    repo_id = f"{hub.user}/{name(repo_type)}"
    url = api.create_repo(repo_id, repo_type=repo_type, **kwargs)
    # The URL is built from the host the client used (localhost, not 127.0.0.1):
    # RepoUrl would refuse any other host.
    assert str(url) == f"{hub.endpoint}/{prefix}{repo_id}"
    assert url.repo_id == repo_id
    assert url.repo_type == repo_type
    assert url.namespace == hub.user
    info = api.repo_info(repo_id, repo_type=repo_type)
    assert info.id == repo_id
    assert info.private is False
    assert commit_sha(info.sha)
    assert info.created_at is not None and info.last_modified is not None
    # Every new repo holds Hugging Face's default .gitattributes; a Space
    # also its README, whose front matter names the SDK (clients rely on it:
    # metadata_update never writes a Space's first README).
    if repo_type == "space":
        assert sorted(s.rfilename for s in info.siblings) == [".gitattributes", "README.md"]
        assert info.card_data["sdk"] == "static"
        assert info.sdk == "static"
    else:
        assert [s.rfilename for s in info.siblings] == [".gitattributes"]
    assert api.repo_exists(repo_id, repo_type=repo_type)
    # The same name of another type is another repo.
    other = "dataset" if repo_type == "model" else "model"
    assert not api.repo_exists(repo_id, repo_type=other)


def test_create_repo_without_namespace_uses_the_token_owner(api, hub, name):
    repo = name("bare")
    url = api.create_repo(repo)
    assert url.repo_id == f"{hub.user}/{repo}"
    assert api.model_info(f"{hub.user}/{repo}").author == hub.user


def test_create_repo_exist_ok(api, hub, name):
    repo_id = f"{hub.user}/{name('exists')}"
    first = api.create_repo(repo_id)
    sha = api.model_info(repo_id).sha
    # exist_ok: the 409 carries the url, and the client returns it.
    again = api.create_repo(repo_id, exist_ok=True)
    assert str(again) == str(first)
    assert api.model_info(repo_id).sha == sha
    with pytest.raises(HfHubHTTPError) as e:
        api.create_repo(repo_id)
    assert e.value.response.status_code == 409


def test_private_repo_is_invisible_to_others(api, hub, name):
    repo_id = f"{hub.user}/{name('private')}"
    api.create_repo(repo_id, private=True)
    api.upload_file(path_or_fileobj=b"secret\n", path_in_repo="secret.txt", repo_id=repo_id)
    info = api.model_info(repo_id)
    assert info.private is True
    assert [s.rfilename for s in info.siblings] == [".gitattributes", "secret.txt"]

    # Anonymous: 401 + RepoNotFound, exactly as for a missing repo.
    anon = HfApi(endpoint=hub.endpoint, token=False)
    for target in (repo_id, f"{hub.user}/{name('missing')}"):
        with pytest.raises(RepositoryNotFoundError) as e:
            anon.model_info(target)
        assert e.value.response.status_code == 401
        assert e.value.response.headers["X-Error-Code"] == "RepoNotFound"
    assert not anon.repo_exists(repo_id)

    # Signed in without access: 404 + RepoNotFound, the same as a missing repo.
    bob = HfApi(endpoint=hub.endpoint, token=hub.other_token)
    with pytest.raises(RepositoryNotFoundError) as e:
        bob.model_info(repo_id)
    assert e.value.response.status_code == 404
    assert not bob.repo_exists(repo_id)
    assert not bob.file_exists(repo_id, "secret.txt")
    with pytest.raises(RepositoryNotFoundError):
        bob.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo_id)


def test_update_repo_settings_visibility(api, hub, name):
    repo_id = f"{hub.user}/{name('settings')}"
    api.create_repo(repo_id)
    anon = HfApi(endpoint=hub.endpoint, token=False)
    assert anon.model_info(repo_id).private is False

    api.update_repo_settings(repo_id, private=True)
    assert api.model_info(repo_id).private is True
    assert not anon.repo_exists(repo_id)

    api.update_repo_settings(repo_id, visibility="public")
    assert api.model_info(repo_id).private is False
    assert anon.model_info(repo_id).id == repo_id

    # Only an admin of the repo may change its settings.
    bob = HfApi(endpoint=hub.endpoint, token=hub.other_token)
    with pytest.raises(HfHubHTTPError) as e:
        bob.update_repo_settings(repo_id, private=True)
    assert e.value.response.status_code in (403, 404)
    assert api.model_info(repo_id).private is False


def test_update_repo_settings_gated_is_refused_clearly(api, hub, name):
    repo_id = f"{hub.user}/{name('gated')}"
    api.create_repo(repo_id)
    with pytest.raises(HfHubHTTPError) as e:
        api.update_repo_settings(repo_id, gated="auto")
    assert e.value.response.status_code == 400
    assert "gated" in str(e.value)
    assert api.model_info(repo_id).gated is False


def test_move_repo(api, hub, name):
    old = f"{hub.user}/{name('before')}"
    new = f"{hub.user}/{name('after')}"
    api.create_repo(old)
    api.upload_file(path_or_fileobj=b"moved content\n", path_in_repo="a.txt", repo_id=old)
    sha = api.model_info(old).sha

    api.move_repo(from_id=old, to_id=new)
    # The old name leads to the moved repo until someone takes it.
    assert api.model_info(old).id == new
    info = api.model_info(new)
    assert info.id == new
    assert info.sha == sha
    assert [s.rfilename for s in info.siblings] == [".gitattributes", "a.txt"]
    path = api.hf_hub_download(new, "a.txt", cache_dir=str(hub.tmp / name("cache")))
    assert open(path, "rb").read() == b"moved content\n"
    # The old name is no repo of its own any more: creating it again is allowed.
    api.create_repo(old)
    assert api.model_info(old).sha != sha


def test_move_dataset_repo(api, hub, name):
    old = f"{hub.user}/{name('ds-before')}"
    new = f"{hub.user}/{name('ds-after')}"
    api.create_repo(old, repo_type="dataset")
    api.move_repo(from_id=old, to_id=new, repo_type="dataset")
    assert api.dataset_info(new).id == new


def test_delete_repo(api, hub, name):
    repo_id = f"{hub.user}/{name('doomed')}"
    api.create_repo(repo_id, repo_type="dataset")
    assert api.repo_exists(repo_id, repo_type="dataset")
    api.delete_repo(repo_id, repo_type="dataset")
    assert not api.repo_exists(repo_id, repo_type="dataset")
    with pytest.raises(RepositoryNotFoundError):
        api.dataset_info(repo_id)
    with pytest.raises(RepositoryNotFoundError):
        api.delete_repo(repo_id, repo_type="dataset")
    api.delete_repo(repo_id, repo_type="dataset", missing_ok=True)
    # Others may not delete what is not theirs.
    mine = f"{hub.user}/{name('kept')}"
    api.create_repo(mine)
    bob = HfApi(endpoint=hub.endpoint, token=hub.other_token)
    with pytest.raises(HfHubHTTPError):
        bob.delete_repo(mine)
    assert api.repo_exists(mine)


def test_whoami(api, hub):
    me = api.whoami()
    assert me["type"] == "user"
    assert me["name"] == hub.user
    assert isinstance(me["orgs"], list)
    assert me["auth"]["accessToken"]["role"] == "write"
    assert me["auth"]["accessToken"]["displayName"] == "laptop"

    reader = HfApi(endpoint=hub.endpoint, token=hub.read_token).whoami()
    assert reader["name"] == hub.user
    assert reader["auth"]["accessToken"]["role"] == "read"

    assert HfApi(endpoint=hub.endpoint, token=hub.other_token).whoami()["name"] == hub.other_user

    with pytest.raises(HfHubHTTPError) as e:
        HfApi(endpoint=hub.endpoint, token="hf_not_a_real_token_at_all_0000").whoami()
    assert e.value.response.status_code == 401
    assert "Invalid user token" in str(e.value)


def test_read_token_cannot_write(api, hub, name):
    repo_id = f"{hub.user}/{name('readonly')}"
    api.create_repo(repo_id)
    reader = HfApi(endpoint=hub.endpoint, token=hub.read_token)
    assert reader.model_info(repo_id).id == repo_id
    with pytest.raises(HfHubHTTPError) as e:
        reader.create_repo(f"{hub.user}/{name('nope')}")
    assert e.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as e:
        reader.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo_id)
    assert e.value.response.status_code == 403
    assert [s.rfilename for s in api.model_info(repo_id).siblings] == [".gitattributes"]


def test_organisation_repos(api, hub, name):
    import requests

    org = name("org")[:30].rstrip("-")
    auth = {"authorization": f"Bearer {hub.token}"}
    r = requests.post(f"{hub.endpoint}/api/organizations/new", json={"name": org, "fullname": "Test Org"},
                      headers=auth, timeout=30)
    assert r.status_code == 200, r.text
    assert {"name": org, "type": "org"}.items() <= next(o for o in api.whoami()["orgs"] if o["name"] == org).items()

    repo_id = f"{org}/{name('org-model')}"
    url = api.create_repo(repo_id, private=True)
    assert url.namespace == org
    api.upload_file(path_or_fileobj=b"org file\n", path_in_repo="f.txt", repo_id=repo_id)
    assert api.model_info(repo_id).author == org

    bob = HfApi(endpoint=hub.endpoint, token=hub.other_token)
    assert not bob.repo_exists(repo_id)
    with pytest.raises(HfHubHTTPError):
        bob.create_repo(f"{org}/{name('intruder')}")
    # A read member sees the private repo and may not write to it.
    r = requests.put(f"{hub.endpoint}/api/organizations/{org}/members/{hub.other_user}", json={"role": "read"},
                     headers=auth, timeout=30)
    assert r.status_code == 200, r.text
    assert bob.model_info(repo_id).private is True
    assert bob.file_exists(repo_id, "f.txt")
    with pytest.raises(HfHubHTTPError) as e:
        bob.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo_id)
    assert e.value.response.status_code == 403
    # A write member may.
    r = requests.put(f"{hub.endpoint}/api/organizations/{org}/members/{hub.other_user}", json={"role": "write"},
                     headers=auth, timeout=30)
    assert r.status_code == 200, r.text
    bob.upload_file(path_or_fileobj=b"from bob\n", path_in_repo="bob.txt", repo_id=repo_id)
    assert api.list_repo_commits(repo_id)[0].authors == [hub.other_user]


def test_list_liked_repos(api, hub, name):
    import uuid

    import requests

    fan = f"fan{uuid.uuid4().hex[:8]}"
    hub.create_user(fan)
    fan_token = hub.create_token(fan, write=True)
    model, dataset = f"{hub.user}/{name('liked')}", f"{hub.user}/{name('liked-data')}"
    api.create_repo(model)
    api.create_repo(dataset, repo_type="dataset")
    for path in (f"models/{model}", f"datasets/{dataset}"):
        r = requests.post(f"{hub.endpoint}/api/{path}/like",
                          headers={"authorization": f"Bearer {fan_token}"}, timeout=30)
        assert r.status_code == 200, r.text

    # The fan's own likes (the user is implicit), and anyone's view of them.
    fan_api = HfApi(endpoint=hub.endpoint, token=fan_token)
    mine = fan_api.list_liked_repos()
    assert (mine.user, mine.total, mine.models, mine.datasets, mine.spaces) == (fan, 2, [model], [dataset], [])
    seen = HfApi(endpoint=hub.endpoint, token=False).list_liked_repos(fan)
    assert (seen.models, seen.datasets) == ([model], [dataset])

    # A liked repo that turns private leaves the list of everyone who may
    # not read it, the fan included; its owner still sees it there.
    api.update_repo_settings(dataset, repo_type="dataset", private=True)
    assert HfApi(endpoint=hub.endpoint, token=False).list_liked_repos(fan).datasets == []
    assert fan_api.list_liked_repos().datasets == []
    assert api.list_liked_repos(fan).datasets == [dataset]

    with pytest.raises(HfHubHTTPError) as e:
        api.list_liked_repos(f"nobody{uuid.uuid4().hex[:8]}")
    assert e.value.response.status_code == 404
