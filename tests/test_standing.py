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


def _admitted_plates(url: str) -> dict[str, set[str]]:
    """Community → the plates admitted to it, read from the log's rows themselves."""
    from sqlalchemy import create_engine, text

    from zhunru.log.store import normalise_url

    found: dict[str, set[str]] = {}
    with create_engine(normalise_url(url)).connect() as conn:
        for request_json, payload_json in conn.execute(text(
                "SELECT request_json, payload_json FROM zhunru_log WHERE entry_type = 'decision' "
                "AND outcome = 'admitted'")):
            request, decision = json.loads(request_json), json.loads(payload_json)
            for c in request["communities"]:
                found.setdefault(c["name"], set()).add(decision["matter"]["code"])
    return found


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_sixteen_concurrent_deciders_never_pass_a_cap(backend, capville, tmp_path, request):
    """16 processes decide plates for the same 30 communities at once (cap: one plate each),
    each after 600 plates for communities of its own: a cap state read once, when a run
    starts, would be stale by then. Half of the processes ask for the other plate than the rest
    for each community: whoever writes second must see the first's plate, inside the log's
    transaction, and be refused."""
    import os
    import subprocess
    import sys

    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url")
    zhunru = os.path.join(os.path.dirname(sys.executable), "zhunru")
    procs = []
    for w in range(16):
        batch = tmp_path / f"w{w}.jsonl"
        with batch.open("w", encoding="utf-8") as out:
            for j in range(600):
                out.write(json.dumps({
                    "id": f"w{w}-own{j}", "city": "capville", "date": "2021-05-01", "kind": "nameplate",
                    "matter": "社区居委会牌子", "department": {"name": "某区民政局", "level": "district"},
                    "communities": [{"name": f"w{w}-own{j}", "population": 100}]}, ensure_ascii=False) + "\n")
            for i in range(30):
                matter = "社区居委会牌子" if (w + i) % 2 else "社区服务站牌子"
                out.write(json.dumps({
                    "id": f"w{w}-c{i}", "city": "capville", "date": "2021-05-01", "kind": "nameplate",
                    "matter": matter, "department": {"name": "某区民政局", "level": "district"},
                    "communities": [{"name": f"社区{i}", "population": 100}]}, ensure_ascii=False) + "\n")
        procs.append(subprocess.Popen([zhunru, "evaluate", "--batch", str(batch), "--db", url, "--format", "json"],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy()))
    outcomes = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err.decode()
        outcomes += [json.loads(line)["outcome"] for line in out.decode().splitlines()]
    assert len(outcomes) == 16 * 630
    plates = {k: v for k, v in _admitted_plates(url).items() if k.startswith("社区")}
    assert set(plates) == {f"社区{i}" for i in range(30)}
    assert all(len(codes) == 1 for codes in plates.values()), {k: v for k, v in plates.items() if len(v) > 1}
    assert outcomes.count("rejected") >= 30 * 7  # in each community, the other plate's 8 requests less one race
    from zhunru.log.store import DecisionLog

    assert DecisionLog(url).verify() == (16 * 630, None)
