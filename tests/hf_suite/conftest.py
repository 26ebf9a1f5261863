"""The fixtures huggingface_hub's own tests expect, pointed at this hub.

The sdist of huggingface_hub ships its `tests/` without the conftest.py of
its repository; `tests/hf_suite/run` copies this file in its place. It
starts one real `hub` (tests/python/hub_process.py), creates the suite's
users with tokens, and points the suite's staging constants
(`testing_constants.py`: ENDPOINT_STAGING, USER, TOKEN, OTHER_USER, ...) at
it before any test module imports them. Nothing of the client is patched:
the tests drive the installed huggingface_hub against the real hub.

Tests marked `production`, or asking for `api_prod`, read fixed repos on
huggingface.co: they are deselected here, counted, and named in the run's
summary (see expected_failures.txt).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Generator, Protocol

import pytest

REPO_ROOT = Path(os.environ["KYT_REPO_ROOT"])
sys.path.insert(0, str(REPO_ROOT / "tests" / "python"))

from hub_process import PASSWORD, start_hub, stop_hub  # noqa: E402

# The hub starts before huggingface_hub is imported: the client reads
# HF_ENDPOINT once, at import.
os.environ["HF_HUB_DISABLE_EXPERIMENTAL_WARNING"] = "1"
HUB = start_hub()
# As the suite's own settings have it: no token unless a test passes one.
os.environ["HF_TOKEN"] = ""
os.environ["HUGGING_FACE_HUB_TOKEN"] = ""

from huggingface_hub import HfApi, RepoUrl, constants  # noqa: E402
from huggingface_hub.utils import SoftTemporaryDirectory  # noqa: E402

from . import testing_constants as tc  # noqa: E402
from .testing_utils import repo_name  # noqa: E402

# The suite's users, with the names it expects where our name rules allow
# them (Hugging Face's CI user "__DUMMY_HUB_USER__" is not a valid username
# here or on huggingface.co: only hub-ci's fixtures have it).
USER = "hubci-user"
HUB.cli(
    "user", "create", "--username", USER, "--email", f"{USER}@example.com",
    "--password", PASSWORD, "--fullname", tc.FULL_NAME,
)
for name in (tc.OTHER_USER, tc.ENTERPRISE_USER):
    HUB.create_user(name)
tc.ENDPOINT_STAGING = HUB.endpoint
tc.USER = USER
tc.PASS = PASSWORD
tc.TOKEN = HUB.create_token(USER, write=True, name="hub-ci")
tc.OTHER_TOKEN = HUB.create_token(tc.OTHER_USER, write=True, name="hub-ci")
tc.ENTERPRISE_TOKEN = HUB.create_token(tc.ENTERPRISE_USER, write=True, name="hub-ci")
# Every absolute URL the suite builds from "the staging endpoint".
constants.ENDPOINT = HUB.endpoint
constants.HUGGINGFACE_CO_URL_TEMPLATE = HUB.endpoint + "/{repo_id}/resolve/{revision}/{filename}"


_OUTCOMES: dict[str, str] = {}


def pytest_runtest_logreport(report):
    """One outcome per test for check.py: failed if any phase failed."""
    outcome = report.outcome
    if report.when != "call" and outcome == "passed":
        return
    if _OUTCOMES.get(report.nodeid) != "failed":
        _OUTCOMES[report.nodeid] = outcome


def pytest_unconfigure(config):
    stop_hub(HUB)
    if os.environ.get("HUB_TEST_KEEP") != "1":
        shutil.rmtree(HUB.tmp, ignore_errors=True)
    results = os.environ.get("KYT_HF_SUITE_RESULTS")
    if results:
        Path(results).write_text(json.dumps(_OUTCOMES, indent=0, sort_keys=True))


def pytest_collection_modifyitems(config, items):
    """Tests that can only run against huggingface.co are deselected (and
    named in the summary): they read repos that exist only there."""
    production = [
        item
        for item in items
        if item.get_closest_marker("production") is not None
        or "api_prod" in getattr(item, "fixturenames", ())
    ]
    if production:
        config.hook.pytest_deselected(items=production)
        ids = {item.nodeid for item in production}
        items[:] = [item for item in items if item.nodeid not in ids]
        for nodeid in ids:
            _OUTCOMES[nodeid] = "production"


# ----------------------------------------------------------------- the suite's fixtures
# What huggingface_hub's repository conftest provides, re-created from how
# its tests use it.


@pytest.fixture(autouse=True)
def patch_constants(monkeypatch: pytest.MonkeyPatch):
    """Every test gets caches and a token file of its own."""
    with SoftTemporaryDirectory() as cache_dir:
        for name, path in {
            "HF_HOME": "",
            "HF_HUB_CACHE": "hub",
            "HUGGINGFACE_HUB_CACHE": "hub",
            "HF_XET_CACHE": "xet",
            "HF_ASSETS_CACHE": "assets",
            "HF_TOKEN_PATH": "token",
            "HF_STORED_TOKENS_PATH": "stored_tokens",
        }.items():
            monkeypatch.setattr(constants, name, os.path.join(cache_dir, path))
        yield


@pytest.fixture(autouse=True)
def reset_oauth_refresh_state():
    from huggingface_hub.utils import _auth

    _auth._OAUTH_REFRESH_CACHE = None
    _auth._OAUTH_REFRESH_WARNED = False
    yield


@pytest.fixture(autouse=True)
def xet_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """`xet` tests run with Xet forced on; `no_xet` tests need hf_xet absent
    (tests/hf_suite/run runs the suite a second time in such a venv)."""
    from huggingface_hub.utils._runtime import is_package_available

    xet = request.node.get_closest_marker("xet") is not None
    no_xet = request.node.get_closest_marker("no_xet") is not None
    if xet:
        if not is_package_available("hf_xet"):
            pytest.skip("needs hf_xet (runs in the pass with hf_xet)")
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", False)
        monkeypatch.delenv("HF_HUB_DISABLE_XET", raising=False)
    elif no_xet and is_package_available("hf_xet"):
        pytest.skip("needs hf_xet absent (runs in the pass without hf_xet)")


@pytest.fixture(autouse=True)
def clean_cli_env(monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub.cli._output import out
    from huggingface_hub.utils import _detect_agent

    monkeypatch.setattr(_detect_agent, "_registry", _detect_agent._EMPTY_REGISTRY)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    out.set_mode()
    out.set_no_truncate(False)


@pytest.fixture(autouse=True)
def disable_experimental_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_EXPERIMENTAL_WARNING", True)


@pytest.fixture(autouse=True)
def expect_deprecation_marker(request: pytest.FixtureRequest) -> Generator[None, None, None]:
    """`@pytest.mark.deprecated("f")`: the test must emit a FutureWarning naming `f`."""
    names = [name for marker in request.node.iter_markers("deprecated") for name in marker.args]
    if not names:
        yield
        return
    with ExitStack() as stack:
        for name in names:
            stack.enter_context(pytest.warns(FutureWarning, match=rf".*'{name}'.*"))
        yield


@pytest.fixture(scope="session")
def api() -> HfApi:
    return HfApi(endpoint=tc.ENDPOINT_STAGING, token=tc.TOKEN)


class RepoFactory(Protocol):
    def __call__(self, repo_type: str = "model", **kwargs) -> RepoUrl: ...


@pytest.fixture
def repo_factory(api: HfApi) -> Generator[RepoFactory, None, None]:
    """Creates repos for one test and deletes them after it."""
    created: list[tuple[str, str]] = []

    def factory(repo_type: str = "model", **kwargs) -> RepoUrl:
        if repo_type == "space" and "space_sdk" not in kwargs:
            kwargs["space_sdk"] = "gradio"
        kwargs.setdefault("repo_id", repo_name(prefix=repo_type))
        url = api.create_repo(repo_type=repo_type, **kwargs)
        created.append((url.repo_id, repo_type))
        return url

    yield factory

    for repo_id, repo_type in created:
        try:
            api.delete_repo(repo_id=repo_id, repo_type=repo_type)
        except Exception:
            pass
