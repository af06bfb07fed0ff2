"""费随事转: per-matter funding standards (engine/evaluate.py) and base funds per community
against recorded allocations (engine/funding.py, engine/allocations.py), with hypothesis
properties for the arithmetic (issue 4)."""
from __future__ import annotations

import json
from decimal import Decimal
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import TEST_RULESETS, import_communities, make_request, write_json
from zhunru.cli import cli
from zhunru.errors import InputError
from zhunru.decide.evaluate import Engine, parse_request
from zhunru.decide.funding import UNSPLIT, base_fund_lines, required_sum, required_total, split, to_fen, totals
from zhunru.rulebook.loader import Registry
from zhunru.models import Community
from zhunru.rulebook.format import BaseFund, FundingStandard, Source

ENGINE = Engine(Registry([TEST_RULESETS]))
TWO = [{"name": "洪山社区", "population": 8200, "households": 2900},
       {"name": "南关社区", "population": 5100, "households": 1750},
       {"name": "东门社区", "population": 3333, "households": 1111}]


def decide(matter, amount=None, communities=TWO, personnel=0):
    funding = None if amount is None else {"amount": amount, "source": "区财政"}
    request = make_request(matter=matter, funding=funding, communities=communities, personnel=personnel)
    return ENGINE.evaluate(parse_request(request))


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


# -- per matter -------------------------------------------------------------------------------
@pytest.mark.parametrize("matter, required", [
    ("人口普查入户", Decimal(2 * (8200 + 5100 + 3333))),  # per registered resident
    ("燃气安全入户宣传", Decimal(300) * (2900 + 1750 + 1111) / 100),  # per 100 households
    ("退役军人信息采集", Decimal("1500.50") * 3),  # per community
    ("防汛物资清点", Decimal(8000)),  # a fixed sum, whatever the communities
])
def test_per_matter_standard_is_computed_and_compared(matter, required):
    enough = decide(matter, str(required))
    assert enough.funding.required == required
    assert (enough.outcome, enough.category, enough.reasons[0].code) == ("admitted", "assist", "TASK_ASSIST")
    short = decide(matter, str(required - Decimal("0.01")))
    assert (short.outcome, short.reasons[0].code) == ("rejected", "FUNDING_SHORTFALL")
    assert short.funding.shortfall == Decimal("0.01")
    assert "差额 0.01 元" in short.reasons[0].text()
    nothing = decide(matter)
    assert nothing.outcome == "rejected" and nothing.funding.shortfall == required


def test_fixed_standard_does_not_depend_on_communities():
    assert decide("防汛物资清点", "8000", communities=TWO[:1]).funding.required == 8000
    assert decide("防汛物资清点", "8000", communities=[]).funding.required == 8000


def test_per_household_rounds_to_the_fen_half_up():
    # 300 yuan per 100 households × 1 household = 3.00
    one = [{"name": "a", "population": 1, "households": 1}]
    assert decide("燃气安全入户宣传", "3", communities=one).funding.required == Decimal("3.00")
    standard = FundingStandard(basis="per_100_households", amount=Decimal("0.01"))
    half_fen = [Community(name="x", households=50)]  # 0.005 yuan → 0.01 half-up
    assert required_total(standard, half_fen) == Decimal("0.01")


def test_no_standard_the_decision_says_so():
    commissioned = decide("应急演练组织", "1")
    assert (commissioned.outcome, commissioned.category) == ("needs_approval", "commissioned")
    assert [r.code for r in commissioned.reasons] == ["APPROVAL_REQUIRED", "NO_FUNDING_STANDARD"]
    assert commissioned.funding.required is None
    staffed = decide("应急演练组织", None, personnel=2)
    assert [r.code for r in staffed.reasons] == ["APPROVAL_REQUIRED", "NO_FUNDING_STANDARD"]
    unfunded = decide("应急演练组织")
    assert (unfunded.outcome, unfunded.reasons[0].code) == ("rejected", "FUNDING_MISSING")
    # an assisted matter without a standard needs no funding at all
    plain = decide("低保对象走访")
    assert (plain.outcome, plain.funding.required) == ("admitted", None)


def test_a_standard_needs_the_numbers_it_counts():
    with pytest.raises(InputError, match=r"communities\[1\].population: needed for the per-resident"):
        decide("人口普查入户", "1", communities=[TWO[0], {"name": "无人口社区", "households": 3}])
    with pytest.raises(InputError, match=r"communities\[0\].households: needed"):
        decide("燃气安全入户宣传", "1", communities=[{"name": "x", "population": 3}])


def test_per_matter_on_the_cli(tmp_path, sqlite_url, testville):
    request = write_json(tmp_path / "r.json", make_request(matter="退役军人信息采集", communities=TWO,
                                                           funding={"amount": 4501.49, "source": "区财政"}))
    result = invoke("evaluate", request, "--format", "json", "--db", sqlite_url)
    assert result.exit_code == 0, result.output
    funding = json.loads(result.output)["funding"]
    assert funding == {"required": 4501.5, "attached": 4501.49, "shortfall": 0.01}


# -- base funds per community -----------------------------------------------------------------
def record(db, *args):
    return invoke("funding", "record", "--db", db, *args)


def recorded(db, year, level, fund, amount, document=None) -> dict:
    """`funding record` for QX-001 that succeeds; returns the row it printed (as JSON)."""
    extra = ["--document", document] if document else []
    result = record(db, "--community", "QX-001", "--year", year, "--level", level, "--fund", fund, "--amount", amount,
                    *extra, "--format", "json")
    assert result.exit_code == 0, result.output
    row = json.loads(result.output)
    assert (row["community"], row["year"], row["level"], row["fund"], Decimal(row["amount"]), row["document"]) == \
        ("QX-001", year, level, fund, Decimal(amount), document)
    return row


def test_base_funds_against_allocations(tmp_path, db_url, testville):
    import_communities(tmp_path, db_url)
    recorded(db_url, 2024, "city", "社区工作经费", "32800", "测财发〔2024〕1号")
    recorded(db_url, 2024, "street", "社区工作经费", "100")
    recorded(db_url, 2024, "district", "TV-FUND-02", "20000.00")
    recorded(db_url, 2024, "district", "社区办公经费", "30000")
    recorded(db_url, 2024, "city", "奖励", "5")
    recorded(db_url, 2023, "city", "社区工作经费", "99999")  # another year: not counted
    result = invoke("funding", "check", "--city", "testville", "--year", 2024, "--district", "七星关区",
                    "--format", "json", "--db", db_url)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    lines = {(x["community"], x["fund_id"], x["level"]): (x["required"], x["allocated"], x["shortfall"])
             for x in report["lines"]}
    assert lines[("QX-001", "TV-FUND-01", "city")] == ("32800.00", "32800.00", "0.00")
    assert lines[("QX-001", "TV-FUND-01", "district")] == ("49200.00", "0.00", "49200.00")
    assert lines[("QX-001", "TV-FUND-01", "street")] == ("0.00", "100.00", "0.00")  # not in the split
    assert lines[("QX-001", "TV-FUND-02", "city")] == ("20000.00", "0.00", "20000.00")
    assert lines[("QX-001", "TV-FUND-02", "district")] == ("30000.00", "20000.00", "10000.00")
    assert lines[("QX-001", "TV-FUND-03", UNSPLIT)] == ("20300.00", "30000.00", "0.00")  # surplus hides nothing
    qx1 = next(c for c in report["per_community"] if c["code"] == "QX-001")
    assert (qx1["required"], qx1["allocated"], qx1["shortfall"]) == ("152300.00", "82900.00", "79200.00")
    assert [c["code"] for c in report["per_community"]] == ["QX-003", "QX-001", "QX-002"]  # HH-001 elsewhere
    # city: 10 × (8200+5100+3333) × 0.4 + 3 × 20000
    assert Decimal(report["per_level"]["city"]["required"]) == Decimal("126532.00")
    assert Decimal(report["per_level"]["city"]["shortfall"]) == Decimal("126532.00") - Decimal("32800")
    assert [(a["fund"], a["amount"]) for a in report["unmatched"]] == [("奖励", "5.00")]
    assert "ROUND_HALF_UP" in report["rounding"]["zh"] and "half-up" in report["rounding"]["en"]
    text = invoke("funding", "check", "--city", "testville", "--year", 2024, "--db", db_url)
    assert "缺口" in text.output and "四舍五入到分" in text.output and "「奖励」" in text.output
    short = invoke("funding", "check", "--city", "testville", "--year", 2024, "--fail-on-shortfall", "--db", db_url)
    assert short.exit_code == 3 and "缺口" in short.output  # the report is printed, then exit 3


@pytest.mark.parametrize("city, year, expected", [
    ("bijie", 2021, {("BJ-FUND-01", "city"): "32800.00", ("BJ-FUND-01", "district"): "49200.00",
                     ("BJ-FUND-02", "city"): "20000.00", ("BJ-FUND-02", "district"): "30000.00"}),
    ("chengyang", 2021, {("CY-FUND-01", UNSPLIT): "203000.00"}),  # 7000 per 100 households × 2900
    ("tianjiaan", 2019, {("TJA-FUND-01", UNSPLIT): "25000.00"}),
])
def test_shipped_base_funds(tmp_path, sqlite_url, city, year, expected):
    import_communities(tmp_path, sqlite_url)
    result = invoke("funding", "check", "--city", city, "--year", year, "--format", "json", "--db", sqlite_url)
    assert result.exit_code == 0, result.output
    lines = {(x["fund_id"], x["level"]): x["required"] for x in json.loads(result.output)["lines"]
             if x["community"] == "QX-001"}
    assert lines == expected


@pytest.mark.parametrize("args, message", [
    (["--amount", "12.345"], "--amount: '12.345' has more than two decimals"),
    (["--amount", "abc"], "--amount: 'abc' is not an amount in yuan"),
    (["--amount", "0"], "--amount: must not be zero"),
    (["--amount", "NaN"], "--amount: 'NaN' is not an amount in yuan"),
    (["--community", "QX-999"], "--community: unknown community code 'QX-999'"),
    (["--fund", " "], "--fund: give the fund's name"),
    (["--year", "1800"], "--year: 1800 is not a budget year"),
])
def test_bad_allocations_are_exit_2(tmp_path, db_url, args, message):
    import_communities(tmp_path, db_url)
    base = {"--community": "QX-001", "--year": "2024", "--level": "city", "--fund": "社区工作经费", "--amount": "1"}
    base.update(dict(zip(args[::2], args[1::2])))
    result = record(db_url, *[x for kv in base.items() for x in kv])
    assert result.exit_code == 2
    assert result.output.strip() == f"zhunru: error: {message}" or result.output.startswith(f"zhunru: error: {message}")
    check = json.loads(invoke("funding", "check", "--city", "bijie", "--year", 2024, "--format", "json",
                              "--db", db_url).output)
    assert check["total"]["allocated"] == "0.00"  # nothing half-written


def test_check_errors(tmp_path, sqlite_url, monkeypatch):
    monkeypatch.delenv("ZHUNRU_CITY", raising=False)
    empty = invoke("funding", "check", "--city", "bijie", "--db", sqlite_url)
    assert empty.exit_code == 2 and "no communities; import them first" in empty.output
    import_communities(tmp_path, sqlite_url)
    assert "--city: whose ruleset" in invoke("funding", "check", "--db", sqlite_url).output
    unknown = invoke("funding", "check", "--city", "atlantis", "--db", sqlite_url)
    assert unknown.exit_code == 2 and "--city: unknown city 'atlantis'" in unknown.output
    early = invoke("funding", "check", "--city", "bijie", "--year", 2000, "--db", sqlite_url)
    assert early.exit_code == 2 and "--year: no bijie ruleset is in force in 2000" in early.output
    nowhere = invoke("funding", "check", "--city", "bijie", "--district", "无此区", "--db", sqlite_url)
    assert nowhere.exit_code == 2 and "无此区" in nowhere.output


# -- properties -------------------------------------------------------------------------------
amounts = st.decimals(min_value=0, max_value=10 ** 6, places=2, allow_nan=False, allow_infinity=False)
communities = st.lists(st.builds(lambda p, h: Community(name="c", population=p, households=h),
                                 st.integers(0, 10 ** 6), st.integers(0, 10 ** 6)), max_size=20)
standards = st.builds(FundingStandard, basis=st.sampled_from(["per_resident", "per_100_households", "per_community"]),
                      amount=amounts)


@settings(max_examples=200, deadline=None)
@given(standards, communities, communities)
def test_required_is_additive_over_communities(standard, a, b):
    assert required_sum(standard, a + b) == required_sum(standard, a) + required_sum(standard, b)
    rounded = required_total(standard, a) + required_total(standard, b)
    n = len(a) + len(b)
    assert abs(required_total(standard, a + b) - rounded) <= Decimal("0.01") * max(n, 1)
    # rounding once per community drifts at most half a fen each
    per_community = sum((required_total(standard, [c]) for c in a + b), Decimal(0))
    assert abs(required_total(standard, a + b) - per_community) <= Decimal("0.005") * n


@settings(max_examples=300, deadline=None)
@given(amounts, st.dictionaries(st.sampled_from(["city", "district", "street"]), st.integers(0, 20), min_size=1))
def test_split_sums_to_the_total(total, shares):
    parts = split(total, shares)
    assert list(parts) == list(shares)
    assert sum(parts.values()) == to_fen(total)
    assert all(p >= 0 for p in parts.values())
    weight = sum(shares.values())
    if weight:
        assert all(abs(parts[k] - total * shares[k] / weight) < Decimal("0.01") for k in shares)


def fund(fund_id, name, basis, amount, shares):
    return BaseFund(id=fund_id, name=name, text="t", source=Source(law="l"),
                    standard=FundingStandard(basis=basis, amount=amount), split=shares)


allocations = st.lists(st.builds(lambda f, lv, v: SimpleNamespace(fund=f, level=lv, value=v),
                                 st.sampled_from(["工作经费", "专项经费", "F-3", "其他"]),
                                 st.sampled_from(["city", "district", "street"]),
                                 st.decimals(min_value=-10 ** 5, max_value=10 ** 6, places=2,
                                             allow_nan=False, allow_infinity=False)), max_size=12)


@settings(max_examples=300, deadline=None)
@given(amounts, amounts, amounts, st.integers(0, 10 ** 5), st.integers(0, 10 ** 5), allocations)
def test_shortfall_is_never_negative(a1, a2, a3, population, households, allocs):
    funds = [fund("F-1", "工作经费", "per_resident", a1, {"city": 4, "district": 6}),
             fund("F-2", "专项经费", "per_community", a2, {"city": 1, "district": 1, "street": 1}),
             fund("F-3", "办公经费", "per_100_households", a3, None)]
    community = Community(name="c", population=population, households=households)
    lines, unmatched = base_fund_lines(funds, community, "C-1", allocs)
    assert all(line.shortfall >= 0 for line in lines)
    assert all(line.shortfall >= line.required - line.allocated for line in lines)
    assert [a.fund for a in unmatched] == [a.fund for a in allocs if a.fund == "其他"]
    total = totals(lines, lambda line: "all").get("all")
    if total:
        assert total["shortfall"] >= max(total["required"] - total["allocated"], Decimal(0))
        # the split never changes what a fund requires in all
        assert total["required"] == sum(to_fen(required_sum(f.standard, [community])) for f in funds)
