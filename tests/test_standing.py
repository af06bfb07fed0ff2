"""Standing state from the log: a ruleset's cap on plates counts what the log says is already
admitted to the community (DESIGN.md: standing state travels in the event)."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from zhunru.cli import cli

CAPVILLE = """
id: capville
version: '2020.1'
title: 牌子上限测试城市(测试用)
issuer: 测试
effective_from: 2020-01-01
status: in_force
coverage: partial
extends: national
note: A test city with a cap of one outdoor plate.
clauses:
- id: CV-PLATE-00
  text: 社区室外只悬挂一块牌子(测试规则)。
  source: {law: 测试规则, article: 第一条}
nameplate:
  max_count: 1
  max_count_clause: CV-PLATE-00
  allowed:
    coverage: full
    items:
    - {id: CV-PLATE-01, name: 社区居委会牌子, text: 居委会牌子, source: {law: 测试规则, article: 第一条}}
    - {id: CV-PLATE-02, name: 社区服务站牌子, text: 服务站牌子, source: {law: 测试规则, article: 第一条}}
  otherwise: {outcome: rejected, clause: CV-PLATE-00}
"""


@pytest.fixture
def capville(tmp_path, monkeypatch):
    from zhunru.rulebook.loader import default_registry

    root = tmp_path / "rulesets"
    (root / "capville").mkdir(parents=True)
    (root / "capville" / "2020.1.yaml").write_text(CAPVILLE, encoding="utf-8")
    monkeypatch.setenv("ZHUNRU_RULESETS", str(root))
    default_registry.cache_clear()
    yield root
    default_registry.cache_clear()


def plate(tmp_path, rid: str, matter: str, community: str = "洪山社区"):
    path = tmp_path / f"{rid}.json"
    path.write_text(json.dumps({
        "id": rid, "city": "capville", "date": "2021-05-01", "kind": "nameplate", "matter": matter,
        "department": {"name": "某区民政局", "level": "district"},
        "communities": [{"name": community, "population": 100}]}, ensure_ascii=False), encoding="utf-8")
    return str(path)


def decide(*args) -> dict:
    result = CliRunner().invoke(cli, ["evaluate", *args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_the_cap_counts_plates_already_admitted_in_the_log(tmp_path, capville, sqlite_url):
    first = decide(plate(tmp_path, "p1", "社区居委会牌子"), "--db", sqlite_url)
    assert first["outcome"] == "admitted"
    same_again = decide(plate(tmp_path, "p2", "社区居委会牌子"), "--db", sqlite_url)
    assert same_again["outcome"] == "admitted"  # the same plate is not a second plate
    second = decide(plate(tmp_path, "p3", "社区服务站牌子"), "--db", sqlite_url)
    assert second["outcome"] == "rejected"
    assert second["reasons"][0]["code"] == "OVER_CAP"
    assert second["reasons"][0]["clause"].endswith("#CV-PLATE-00")
    other_community = decide(plate(tmp_path, "p4", "社区服务站牌子", "南关社区"), "--db", sqlite_url)
    assert other_community["outcome"] == "admitted"


def test_within_one_batch_the_cap_counts_earlier_decisions(tmp_path, capville, sqlite_url):
    batch = tmp_path / "b.jsonl"
    lines = [open(plate(tmp_path, f"b{i}", m)).read() for i, m in enumerate(["社区居委会牌子", "社区服务站牌子"])]
    batch.write_text("\n".join(lines), encoding="utf-8")
    result = CliRunner().invoke(cli, ["evaluate", "--batch", str(batch), "--format", "json", "--db", sqlite_url])
    assert result.exit_code == 0, result.output
    outcomes = [json.loads(line)["outcome"] for line in result.output.splitlines()]
    assert outcomes == ["admitted", "rejected"]
