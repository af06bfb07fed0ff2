"""Helpers for the district-office tests (issue 4): the test city `testville` (deadlines and a
funding standard on every basis), a community registry CSV and a request builder."""
from __future__ import annotations

from pathlib import Path

import pytest

TEST_RULESETS = Path(__file__).resolve().parent / "data" / "rulesets"

COMMUNITIES_CSV = """name,code,district,street,population,households
洪山社区,QX-001,七星关区,市西街道,8200,2900
南关社区,QX-002,七星关区,市西街道,5100,1750
东门社区,QX-003,七星关区,市东街道,3333,1111
洪山社区,HH-001,海湖区,洪山街道,4000,1500
"""


@pytest.fixture
def testville(monkeypatch):
    """ZHUNRU_RULESETS points at tests/data/rulesets, for this process and its subprocesses."""
    from zhunru.rulebook.loader import default_registry

    monkeypatch.setenv("ZHUNRU_RULESETS", str(TEST_RULESETS))
    default_registry.cache_clear()
    yield {"ZHUNRU_RULESETS": str(TEST_RULESETS)}
    default_registry.cache_clear()


@pytest.fixture(params=["sqlite", "pg"])
def db_url(request, tmp_path):
    """The same test on a real SQLite file and on the real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'zhunru.sqlite'}"
    return request.getfixturevalue("pg_url")


def registry_csv(tmp_path: Path, text: str = COMMUNITIES_CSV, name: str = "communities.csv",
                 encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def make_request(**overrides) -> dict:
    request = {"city": "testville", "date": "2024-09-02",
               "department": {"name": "测试区应急局", "level": "district", "role": "department"},
               "kind": "task", "matter": "应急演练组织",
               "communities": [{"name": "洪山社区", "population": 8200, "households": 2900}],
               "funding": {"amount": 30000, "source": "区财政", "document": "测财〔2024〕9号"}}
    request.update(overrides)
    return request
