"""Shared fixtures. Tests run with only the shipped plugins (no stray third-party plugins)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

os.environ["ZHUNRU_PLUGINS"] = "shipped_rulesets,decision_log"
os.environ.pop("ZHUNRU_DB", None)
# The validated-ruleset cache of this test run, not the user's (subprocesses inherit it).
os.environ["ZHUNRU_CACHE_DIR"] = tempfile.mkdtemp(prefix="zhunru-test-cache-")

REPO = Path(__file__).resolve().parent.parent
RULESETS = REPO / "rulesets"
PG_URL = os.environ.get("ZHUNRU_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def bijie_request(**overrides) -> dict:
    request = {
        "city": "bijie", "date": "2021-05-01",
        "department": {"name": "七星关区司法局", "level": "district", "role": "department"},
        "kind": "task", "matter": "社区矫正",
        "communities": [{"name": "洪山社区", "population": 8200, "households": 2900}],
    }
    request.update(overrides)
    return request


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
        with psycopg.connect(base.replace("postgresql://", "postgresql://", 1), autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
    except psycopg.OperationalError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    url = f"{base}?options=-csearch_path%3D{schema}"
    yield url
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


def run_cli(*args, input: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """The real console script, as a subprocess."""
    full_env = {**os.environ, **(env or {})}
    exe = Path(sys.executable).with_name("zhunru")
    return subprocess.run([str(exe), *args], input=input, capture_output=True, text=True, env=full_env, timeout=300)


def write_json(path: Path, data) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path
