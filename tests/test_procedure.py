"""The compiled procedure: durable_rules run over the whole fact domain, proven complete and
exclusive, cached as checked JSON (engine/decide/procedure.py)."""
from __future__ import annotations

import json

import pytest

from zhunru.decide import procedure as p
from zhunru.kinds import KINDS, LISTS


@pytest.fixture(scope="module")
def table():
    return p.build()


def test_every_point_of_the_domain_fires_exactly_one_rule(table):
    points = p.domain()
    expected = sum((len(LISTS[k]) + 1) * 2 ** len(p.FLAGS) * len(p.OTHERWISE) for k in KINDS)
    assert len(points) == len(set(points)) == expected == 6656
    assert set(table) == set(points)
    # durable_rules' answer is the one rule whose conditions hold there, and no other holds
    for key, name in table.items():
        holding = [r.name for r in p.RULES if r.holds(p._point(key))]
        assert holding == [name], (key, holding)


def test_every_rule_fires_somewhere(table):
    assert set(table.values()) == {r.name for r in p.RULES}


def test_an_overlapping_rule_fails_the_build_naming_the_point():
    overlap = p._rule("duty_funded", "admitted", "duty", "TASK_DUTY", kind="task", listed="duty", funded=True)
    with pytest.raises(p.ProcedureError) as err:
        p.build(p.RULES + (overlap,))
    message = str(err.value)
    assert "kind=task listed=duty" in message and "funded=True" in message
    assert "task_duty, duty_funded all fire" in message


def test_a_missing_rule_fails_the_build_naming_the_point():
    without = tuple(r for r in p.RULES if r.name != "task_unfunded")
    with pytest.raises(p.ProcedureError, match=r"kind=task listed=none partial=False funded=False .*: no rule fires"):
        p.build(without)


def test_decide_looks_the_answer_up(table):
    proc = p.Procedure(table)
    facts = {"kind": "task", "listed": "none", "partial": False, "funded": True, "shortfall": False,
             "over_cap": False, "assessor_ok": True, "basis": False, "otherwise": "none"}
    assert proc.decide(facts) == ("needs_approval", "commissioned", "APPROVAL_REQUIRED")
    assert proc.decide({**facts, "funded": False}) == ("rejected", "commissioned", "FUNDING_MISSING")
    assert proc.decide({**facts, "kind": "nameplate", "listed": "allowed", "over_cap": True}) == (
        "rejected", "forbidden", "OVER_CAP")
    # a certificate no list names, refused by the catch-all, unless a legal basis is stated
    cert = {**facts, "kind": "certificate", "otherwise": "rejected"}
    assert proc.decide(cert) == ("rejected", "forbidden", "NOT_LISTED")
    assert proc.decide({**cert, "basis": True}) == ("needs_approval", "unlisted", "CERT_BASIS_STATED")
    assert proc.decide({**cert, "kind": "posting", "basis": True}) == ("rejected", "forbidden", "NOT_LISTED")


@pytest.fixture
def built(table, monkeypatch):
    """Procedure.load's build through durable_rules, answered by the module's one build (the
    build itself is what the tests above prove; these are about the cache around it)."""
    calls = []
    monkeypatch.setattr(p, "build", lambda rules=p.RULES: calls.append(rules) or dict(table))
    return calls


def test_the_cache_is_json_keyed_by_the_code(tmp_path, monkeypatch, built):
    monkeypatch.setenv("ZHUNRU_CACHE_DIR", str(tmp_path))
    p.Procedure.load()
    files = list(tmp_path.glob("procedure-*.json"))
    assert len(files) == 1 and files[0].name == f"procedure-{p.code_key()}.json"
    stored = json.loads(files[0].read_text(encoding="utf-8"))
    assert stored["key"] == p.code_key() and len(stored["table"]) == 6656
    # other rules, another key: a change to the procedure never reads an old table
    changed = p.RULES[:-1] + (p._rule("not_covered", "rejected", "forbidden", "NOT_COVERED",
                                      kind=p.NOT_TASK, listed="none", otherwise="none"),)
    assert p.code_key(changed) != p.code_key()


def test_a_planted_or_damaged_table_is_rebuilt_not_believed(tmp_path, monkeypatch, table, built):
    monkeypatch.setenv("ZHUNRU_CACHE_DIR", str(tmp_path))
    path = tmp_path / f"procedure-{p.code_key()}.json"
    good = table
    points = p.domain()
    lying = [good[k] for k in points]
    # the point of an unfunded off-list task now says "admit" through the duty rule
    i = points.index(("task", "none", False, False, False, False, True, False, "none"))
    lying[i] = "task_duty"
    path.write_text(json.dumps({"table": lying}), encoding="utf-8")
    proc = p.Procedure.load()
    facts = dict(zip(p.FACTS, points[i]))
    assert proc.decide(facts) == ("rejected", "commissioned", "FUNDING_MISSING")
    assert json.loads(path.read_text(encoding="utf-8"))["table"][i] == "task_unfunded"  # rebuilt
    for junk in ("not json", json.dumps({"table": ["task_duty"]}), json.dumps([1, 2])):
        path.write_text(junk, encoding="utf-8")
        assert p.Procedure.load().decide(facts)[2] == "FUNDING_MISSING"
    assert len(built) == 4  # the lie and each damaged file: rebuilt every time, never believed
    p.Procedure.load()
    assert len(built) == 4  # a good table is read, not rebuilt


def test_a_fact_outside_the_domain_is_a_one_line_error(table):
    proc = p.Procedure(table)
    facts = {"kind": "task", "listed": "allowed", "partial": False, "funded": True, "shortfall": False,
             "over_cap": False, "assessor_ok": True, "basis": False, "otherwise": "none"}
    with pytest.raises(p.ProcedureError, match="procedure: no rule for kind=task listed=allowed"):
        proc.decide(facts)
