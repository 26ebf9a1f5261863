"""list_models / list_datasets / list_spaces with search, author, filter,
sort, limit, full and cardData, across Link pages; model_info with
files_metadata."""

import hashlib
import time
import uuid
from dataclasses import dataclass

import pytest
import requests
from huggingface_hub import HfApi

from helpers import git_blob_sha1


@dataclass
class Catalogue:
    stem: str
    tag: str
    public: list  # alice's public models, in creation order
    bob: str
    private: str


@pytest.fixture(scope="module")
def catalogue(api, hub) -> Catalogue:
    """Five public models of alice (0, 2, 4 tagged; 3 liked twice, 1 once; 4
    downloaded by three clients; 0 modified last), one of bob, one private."""
    stem = f"cat{uuid.uuid4().hex[:8]}"
    tag = f"{stem}-tag"
    public = [f"{hub.user}/{stem}-m{i}" for i in range(5)]
    for i, repo_id in enumerate(public):
        api.create_repo(repo_id)
        card = f"---\nlicense: apache-2.0\ntags:\n- {tag}\n---\n# m{i}\n" if i % 2 == 0 else f"# m{i}\n"
        api.upload_file(path_or_fileobj=card.encode(), path_in_repo="README.md", repo_id=repo_id)
        api.upload_file(path_or_fileobj=b'{"model_type": "bert"}', path_in_repo="config.json", repo_id=repo_id)
    bob_api = HfApi(endpoint=hub.endpoint, token=hub.other_token)
    bob = f"{hub.other_user}/{stem}-bob"
    bob_api.create_repo(bob)
    private = f"{hub.user}/{stem}-private"
    api.create_repo(private, private=True)

    def like(token, repo_id):
        r = requests.post(f"{hub.endpoint}/api/models/{repo_id}/like",
                          headers={"authorization": f"Bearer {token}"}, timeout=30)
        assert r.status_code == 200, r.text

    like(hub.token, public[3])
    like(hub.other_token, public[3])
    like(hub.other_token, public[1])
    # Three clients (one client's repeats within a window count once).
    for token in (None, hub.token, hub.other_token):
        headers = {"authorization": f"Bearer {token}"} if token else {}
        r = requests.get(f"{hub.endpoint}/{public[4]}/resolve/main/config.json", headers=headers, timeout=30)
        assert r.status_code == 200
    # Counts are written in batches, about once a second.
    deadline = time.monotonic() + 15
    while api.model_info(public[4]).downloads < 3:
        assert time.monotonic() < deadline, "the three downloads were never counted"
        time.sleep(0.1)
    # Modified last.
    api.upload_file(path_or_fileobj=b"later\n", path_in_repo="later.txt", repo_id=public[0])
    return Catalogue(stem, tag, public, bob, private)


def ids(infos):
    return [i.id for i in infos]


def test_search_and_author(api, hub, catalogue):
    anon = HfApi(endpoint=hub.endpoint, token=False)
    everyone = set(catalogue.public) | {catalogue.bob}
    assert set(ids(anon.list_models(search=catalogue.stem))) == everyone
    # The owner also sees her private repo; others never do.
    assert set(ids(api.list_models(search=catalogue.stem))) == everyone | {catalogue.private}
    bob = HfApi(endpoint=hub.endpoint, token=hub.other_token)
    assert set(ids(bob.list_models(search=catalogue.stem))) == everyone
    mine = list(api.list_models(author=hub.user, search=catalogue.stem))
    assert set(ids(mine)) == set(catalogue.public) | {catalogue.private}
    assert {m.private for m in mine if m.id == catalogue.private} == {True}
    assert ids(anon.list_models(author=hub.other_user, search=catalogue.stem)) == [catalogue.bob]
    assert ids(anon.list_models(search=f"{catalogue.stem}-m3")) == [catalogue.public[3]]
    assert ids(anon.list_models(search=f"{catalogue.stem}-nothing")) == []


def test_filter_by_tag(hub, catalogue):
    anon = HfApi(endpoint=hub.endpoint, token=False)
    tagged = ids(anon.list_models(filter=catalogue.tag))
    assert set(tagged) == {catalogue.public[i] for i in (0, 2, 4)}
    both = ids(anon.list_models(filter=[catalogue.tag, "license:apache-2.0"], search=catalogue.stem))
    assert set(both) == set(tagged)


def test_sort(hub, catalogue):
    anon = HfApi(endpoint=hub.endpoint, token=False)
    by_likes = list(anon.list_models(search=catalogue.stem, sort="likes"))
    assert ids(by_likes)[:2] == [catalogue.public[3], catalogue.public[1]]
    assert [m.likes for m in by_likes[:2]] == [2, 1]
    by_downloads = list(anon.list_models(search=catalogue.stem, sort="downloads"))
    assert by_downloads[0].id == catalogue.public[4]
    assert by_downloads[0].downloads >= 3
    assert ids(anon.list_models(search=catalogue.stem, sort="last_modified"))[0] == catalogue.public[0]
    by_created = ids(anon.list_models(search=catalogue.stem, sort="created_at"))
    assert by_created[0] == catalogue.bob
    assert by_created.index(catalogue.public[4]) < by_created.index(catalogue.public[0])
    trending = ids(anon.list_models(search=catalogue.stem, sort="trending_score"))
    assert set(trending) == set(catalogue.public) | {catalogue.bob}


def test_limit_and_link_pages(hub, catalogue):
    anon = HfApi(endpoint=hub.endpoint, token=False)
    assert len(list(anon.list_models(search=catalogue.stem, limit=2))) == 2
    assert len(list(anon.list_models(search=catalogue.stem, limit=4, sort="likes"))) == 4
    # Raw pages of 2: every page but the last links the next one by an
    # absolute URL on the host we used.
    url = f"{hub.endpoint}/api/models"
    params = {"search": catalogue.stem, "limit": 2}
    seen, pages = [], 0
    while url:
        r = requests.get(url, params=params, timeout=30)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page) <= 2
        seen += [m["id"] for m in page]
        pages += 1
        nxt = r.links.get("next", {}).get("url")
        if nxt:
            assert nxt.startswith(f"{hub.endpoint}/"), nxt
        url, params = nxt, None
        assert pages < 10
    assert pages >= 3
    assert sorted(seen) == sorted(set(catalogue.public) | {catalogue.bob})


def test_full_and_card_data(hub, catalogue):
    anon = HfApi(endpoint=hub.endpoint, token=False)
    full = {m.id: m for m in anon.list_models(search=catalogue.stem, full=True)}
    assert {s.rfilename for s in full[catalogue.public[2]].siblings} == {".gitattributes", "README.md",
                                                                         "config.json"}
    cards = {m.id: m for m in anon.list_models(search=catalogue.stem, cardData=True)}
    assert cards[catalogue.public[0]].card_data["license"] == "apache-2.0"
    assert catalogue.tag in cards[catalogue.public[0]].card_data["tags"]


def test_list_datasets_and_spaces(api, hub, name):
    stem = f"ls{uuid.uuid4().hex[:8]}"
    datasets = [f"{hub.user}/{stem}-d{i}" for i in range(3)]
    for d in datasets:
        api.create_repo(d, repo_type="dataset")
    space = f"{hub.user}/{stem}-space"
    api.create_repo(space, repo_type="space", space_sdk="static")
    model = f"{hub.user}/{stem}-model"
    api.create_repo(model)
    anon = HfApi(endpoint=hub.endpoint, token=False)
    assert set(ids(anon.list_datasets(search=stem))) == set(datasets)
    assert ids(anon.list_datasets(search=stem, author=hub.user, limit=1))[0] in datasets
    assert ids(anon.list_spaces(search=stem)) == [space]
    assert ids(anon.list_models(search=stem)) == [model]


def test_model_info_files_metadata(api, populated):
    info = api.model_info(populated.repo_id, files_metadata=True)
    assert info.sha == populated.main
    siblings = {s.rfilename: s for s in info.siblings}
    assert set(siblings) == set(populated.files) | {".gitattributes"}
    config = siblings["config.json"]
    assert config.size == len(populated.files["config.json"])
    assert config.blob_id == git_blob_sha1(populated.files["config.json"])
    assert config.lfs is None
    big = siblings["big.bin"]
    assert big.size == len(populated.files["big.bin"])
    assert big.lfs.sha256 == hashlib.sha256(populated.files["big.bin"]).hexdigest()
    assert big.lfs.size == big.size
    assert 100 < big.lfs.pointer_size < 200
    # At a revision, the files of that revision.
    old = api.model_info(populated.repo_id, revision="v1", files_metadata=True)
    assert old.sha == populated.first
    assert {s.rfilename: s.size for s in old.siblings}["config.json"] == len(populated.v1_config)
