"""Chengyang's cap on a purchased service project (seed 003 part (c) 四(一):
办事处为每个社区购买的服务项目每个最高不得超过20万元): the request field `service_purchase`, the
shipped plugin's rule (zhunru.plugins.city_rules) and its clause CY-SP-01, decided through the
real CLI and engine. The cases in rulesets/chengyang/cases pin the same bounds as data."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from decimal import Decimal

import pytest

from helpers import RULESETS, run_cli
from zhunru.authoring.casetest import Case, run_case
from zhunru.decide.evaluate import Engine, parse_request, request_id
from zhunru.errors import InputError
from zhunru.plugins.city_rules import PURCHASE_CAP, PURCHASE_CAP_CLAUSE


def chengyang(amount=None, **overrides) -> dict:
    request = {"city": "chengyang", "date": "2019-06-01",
               "department": {"name": "城阳街道教委办", "level": "street", "role": "department"},
               "kind": "task", "matter": "青少年课后托管",
               "communities": [{"name": "春阳社区", "population": 7600, "households": 2800}]}
    if amount is not None:
        request["service_purchase"] = {"amount_per_community": amount}
    request.update(overrides)
    return request


@pytest.fixture(scope="module")
def engine():
    return Engine()


def codes(decision) -> list[str]:
    return [r.code for r in decision.reasons]


def test_the_cap_is_the_number_the_clause_quotes(engine):
    """The rule's 200,000 is the clause's 20万元, and the clause's quote is the source's sentence."""
    clause, _ = engine.book_for("chengyang", dt.date(2019, 6, 1)).clause(PURCHASE_CAP_CLAUSE)
    wan = re.search(r"不得超过(\d+)万元", clause.source.quote)
    assert wan and Decimal(wan.group(1)) * 10000 == PURCHASE_CAP
    source = (RULESETS / "chengyang" / "sources" / clause.source.document).read_text(encoding="utf-8")
    assert clause.source.quote in source


@pytest.mark.parametrize("amount,refused", [(0, False), (199999.99, False), (200000, False), ("200000.00", False),
                                            (200000.01, True), (200001, True), (10 ** 9, True)])
def test_a_project_over_200000_per_community_is_refused_and_not_one_at_it(engine, amount, refused):
    without = engine.evaluate(parse_request(chengyang()))
    decision = engine.evaluate(parse_request(chengyang(amount)))
    if refused:
        assert decision.outcome == "rejected" and decision.category == without.category
        reason = decision.reasons[codes(decision).index("PURCHASE_OVER_CAP")]
        assert reason.clause == "chengyang@2018.1#CY-SP-01"
        assert reason.source["quote"] == "办事处为每个社区购买的服务项目每个最高不得超过20万元"
        assert reason.values == {"amount": str(Decimal(str(amount))), "cap": "200000"}
    else:  # the same decision as without the field
        assert "PURCHASE_OVER_CAP" not in codes(decision)
        assert (decision.outcome, decision.category, codes(decision)) == (without.outcome, without.category,
                                                                           codes(without))


def test_the_cap_is_per_community_not_per_request(engine):
    three = chengyang(150000, communities=[{"name": n, "households": 2000} for n in ("甲社区", "乙社区", "丙社区")])
    assert "PURCHASE_OVER_CAP" not in codes(engine.evaluate(parse_request(three)))


def test_other_cities_have_no_such_cap(engine):
    for city, date in (("guangzhou", "2022-06-01"), ("tianjiaan", "2019-06-01"), ("national", "2021-06-01"),
                       ("bijie", "2019-06-01")):
        request = chengyang(10 ** 6, city=city, date=date)
        decision = engine.evaluate(parse_request(request))
        plain = engine.evaluate(parse_request({k: v for k, v in request.items() if k != "service_purchase"}))
        assert "PURCHASE_OVER_CAP" not in codes(decision), city
        assert decision.outcome == plain.outcome, city


def test_cli_refuses_it_in_chinese_and_english_citing_the_clause(tmp_path):
    path = tmp_path / "purchase.json"
    path.write_text(json.dumps(chengyang(250000, city="城阳")), encoding="utf-8")
    zh = run_cli("evaluate", str(path), "--no-log")
    assert zh.returncode == 0, zh.stderr
    assert "结论: 不予准入" in zh.stdout and "本项目每个社区 250000 元" in zh.stdout and "CY-SP-01" in zh.stdout
    en = run_cli("evaluate", str(path), "--no-log", "--lang", "en", "--format", "json")
    reason = next(r for r in json.loads(en.stdout)["reasons"] if r["code"] == "PURCHASE_OVER_CAP")
    assert "at most 200000 yuan per community" in reason["message"]
    assert reason["values"] == {"amount": "250000", "cap": "200000"}


@pytest.mark.parametrize("field,value,named", [
    ("service_purchase", {"amount_per_community": -1}, "service_purchase.amount_per_community"),
    ("service_purchase", {"amount_per_community": True}, "service_purchase.amount_per_community"),
    ("service_purchase", {"amount_per_community": "二十万"}, "service_purchase.amount_per_community"),
    ("service_purchase", {"amount_per_community": 1.001}, "service_purchase.amount_per_community"),
    ("service_purchase", {"amount_per_community": 10 ** 18}, "service_purchase.amount_per_community"),
    ("service_purchase", {}, "service_purchase.amount_per_community"),
    ("service_purchase", {"amount_per_community": 1, "per_year": 2}, "service_purchase.per_year"),
    ("service_purchase", 200000, "service_purchase"),
    ("kind", "meeting", "service_purchase"),
])
def test_a_bad_service_purchase_is_one_line_naming_the_field(field, value, named):
    request = chengyang(1000)
    request[field] = value
    with pytest.raises(InputError) as raised:
        parse_request(request)
    assert str(raised.value).startswith(f"{named}:")
    done = run_cli("evaluate", "-", "--no-log", input=json.dumps(request))
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1 and named in done.stderr


def test_a_request_without_the_field_keeps_its_id():
    """Added after requests were logged: a request that does not use it hashes as it always did."""
    plain = parse_request(chengyang())
    assert request_id(plain) == "r-" + hashlib.sha256(
        plain.model_dump_json(exclude={"id", "reported_by", "service_purchase"}).encode()).hexdigest()[:20]
    assert request_id(parse_request(chengyang(1000))) != request_id(plain)


def test_a_case_expecting_no_clause_fails_when_the_clause_is_cited(engine, tmp_path):
    """`expect.not_clause` can fail: the 200,001 request cites CY-SP-01."""
    spec = {"name": "over", "request": chengyang(200001), "expect": {"not_clause": "CY-SP-01"}}
    result = run_case(Case(tmp_path / "c.yaml", 0, "over", spec), engine)
    assert not result.ok and "not_clause" in result.failures[0]
    spec["request"] = chengyang(200000)
    assert run_case(Case(tmp_path / "c.yaml", 0, "at", spec), engine).ok
