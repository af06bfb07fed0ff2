"""Shared fixtures and the `slow` marker. Tests run with only the shipped plugins (no stray
third-party plugins).

Fixtures reach the tests through pytest (never import this file by name); plain helper
functions and constants are in tests/helpers.py.

Tests marked `slow` (a virtual environment built with pip, the README tour, kill -9 in the
middle of a long batch, many processes writing one log) are skipped on a developer machine and
run in CI (the environment variable CI is set: .ci/run exports CI=true). Run them locally with
`--run-slow`, with `CI=1`, or only them with `-m slow`.
"""
from __future__ import annotations

import os
import tempfile
import uuid

import pytest

os.environ["ZHUNRU_PLUGINS"] = ""  # no third-party plugins (the built-in ones always load)
os.environ.pop("ZHUNRU_DB", None)
# The validated-ruleset cache of this test run, not the user's (subprocesses inherit it).
os.environ["ZHUNRU_CACHE_DIR"] = tempfile.mkdtemp(prefix="zhunru-test-cache-")

from helpers import PG_URL, TEST_RULESETS, build, in_ci  # noqa: E402



# -- the slow marker: skipped locally, run in CI --------------------------------------------------
def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", default=False,
                     help="also run tests marked slow (they always run when the environment variable CI is set)")


def _slow_selected(config) -> bool:
    """`-m slow` (or any -m expression naming slow) decides for itself which slow tests run."""
    return "slow" in (config.getoption("markexpr", "") or "")


def pytest_collection_modifyitems(config, items):
    if in_ci() or config.getoption("--run-slow") or _slow_selected(config):
        return
    skip = pytest.mark.skip(reason="slow: runs in CI; locally use --run-slow (or CI=1, or -m slow)")
    for item in items:
        if item.get_closest_marker("slow"):
            item.add_marker(skip)


# -- logs: a real SQLite file, a fresh schema on the real PostgreSQL server -----------------------
@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'log.sqlite'}"


@pytest.fixture
def pg_url() -> str:
    """A fresh schema on the real PostgreSQL server for each test (dropped afterwards)."""
    psycopg = pytest.importorskip("psycopg")
    schema = "t_" + uuid.uuid4().hex[:12]
    base = PG_URL
    try:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
    except psycopg.OperationalError as exc:
        if in_ci():
            raise
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    url = f"{base}?options=-csearch_path%3D{schema}"
    yield url
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", "pg"])
def db_url(request, tmp_path):
    """The same test on a real SQLite file and on the real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'zhunru.sqlite'}"
    return request.getfixturevalue("pg_url")


# -- the district office ---------------------------------------------------------------------------
@pytest.fixture
def testville(monkeypatch):
    """ZHUNRU_RULESETS points at tests/data/rulesets, for this process and its subprocesses."""
    from zhunru.rulebook.loader import default_registry

    monkeypatch.setenv("ZHUNRU_RULESETS", str(TEST_RULESETS))
    default_registry.cache_clear()
    yield {"ZHUNRU_RULESETS": str(TEST_RULESETS)}
    default_registry.cache_clear()


@pytest.fixture
def tour(db_url, testville) -> tuple[str, dict]:
    """A district's log (helpers.TOUR decided on testville and acted on), on SQLite and on
    PostgreSQL: (url, request id → decision JSON)."""
    return db_url, build(db_url)
