"""The decision procedure on the real engine: version by date, coverage, funding standards, caps,
advisory rulesets, city-rule plugins, and a run of over 100,000 decisions in one process."""
from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal
from textwrap import dedent

import pytest

from helpers import TEST_RULESETS, bijie_request, district_request
from zhunru.errors import InputError
from zhunru.decide.evaluate import Engine, Standing, parse_request, request_id
from zhunru.rulebook.loader import Registry, ruleset_roots
from zhunru.plugins import hookimpl

LAW = "{law: 测试文件, article: 第一条}"
TESTCITY = dedent("""\
    id: testcity
    version: '@VERSION@'
    title: 测试市
    issuer: 测试
    effective_from: @START@
    effective_to: @END@
    status: @STATUS@
    coverage: partial
    extends: national
    clauses:
    - {id: T-ADM, text: 清单外事项须经审批, source: @LAW@}
    - {id: T-PLATE, text: 室外最多一块牌子, source: @LAW@}
    task:
      duty:
        coverage: partial
        items:
        - {id: T-DU-01, name: 居民会议, text: 召集居民会议, source: @LAW@}
      assist:
        coverage: full
        items:
        - id: T-AS-01
          name: 测试协助
          text: 协助测试工作,按户籍人口每人2元
          source: @LAW@
          funding: {basis: per_resident, amount: 2}
        - id: T-AS-02
          name: 按户协助
          text: 每百户30元
          source: @LAW@
          funding: {basis: per_100_households, amount: 30}
      commissioned: T-ADM
    nameplate:
      allowed:
        coverage: full
        items:
        - {id: T-PL-01, name: 居委会牌子, text: 居委会牌子, source: @LAW@}
      max_count: 1
      max_count_clause: T-PLATE
    """).replace("@LAW@", LAW)


def make_city(version, start, end, status) -> str:
    return (TESTCITY.replace("@VERSION@", version).replace("@START@", start).replace("@END@", end)
            .replace("@STATUS@", status))


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> Engine:
    root = tmp_path_factory.mktemp("rulesets")
    (root / "testcity").mkdir()
    (root / "testcity" / "1.yaml").write_text(
        make_city("1", "2019-01-01", "2022-01-01", "in_force"), encoding="utf-8")
    (root / "testcity" / "2.yaml").write_text(
        make_city("2", "2022-01-01", "null", "proposal"), encoding="utf-8")
    return Engine(Registry([root, *ruleset_roots()]))


def req(**overrides):
    base = {"city": "testcity", "date": "2021-05-01", "communities": [
        {"name": "甲社区", "population": 100, "households": 300}]}
    return parse_request(bijie_request(**{**base, **overrides}))


def clauses(decision) -> list[str]:
    return [r.clause for r in decision.reasons]


def test_partial_list_cannot_refuse_an_unlisted_task(engine):
    decision = engine.evaluate(req(matter="清单外的活儿"))
    assert (decision.outcome, decision.category) == ("needs_approval", "unlisted")
    assert [r.code for r in decision.reasons] == ["LIST_PARTIAL", "LIST_PARTIAL_UNFUNDED"]
    funded = engine.evaluate(req(matter="清单外的活儿", personnel=1))
    assert [r.code for r in funded.reasons] == ["LIST_PARTIAL"]


def test_full_lists_refuse_an_unfunded_task():
    """testville's lists are full (Bijie's are partial: there it would need approval, above)."""
    engine = Engine(Registry([TEST_RULESETS, *ruleset_roots()]))
    decision = engine.evaluate(parse_request(district_request(matter="清单外的活儿")))
    assert (decision.outcome, decision.reasons[0].code) == ("rejected", "FUNDING_MISSING")


@pytest.mark.parametrize("attached,outcome,shortfall", [
    (None, "rejected", Decimal(200)), (150, "rejected", Decimal(50)), (200, "admitted", Decimal(0)),
    (250.75, "admitted", Decimal(0)),
])
def test_funding_standard_per_resident(engine, attached, outcome, shortfall):
    funding = None if attached is None else {"amount": attached, "source": "区财政"}
    decision = engine.evaluate(req(matter="测试协助", funding=funding))
    assert decision.outcome == outcome
    assert decision.funding.required == Decimal(200)
    assert decision.funding.shortfall == shortfall
    if outcome == "rejected":
        assert decision.reasons[0].code == "FUNDING_SHORTFALL"
        assert "testcity@1#T-AS-01" in clauses(decision)


def test_funding_standard_per_100_households_over_communities(engine):
    communities = [{"name": "甲", "households": 250}, {"name": "乙", "households": 101}]
    decision = engine.evaluate(req(matter="按户协助", communities=communities,
                                   funding={"amount": "105.29", "source": "x"}))
    assert decision.funding.required == Decimal("105.30")  # 351 households × 0.30, rounded once
    assert decision.outcome == "rejected" and decision.funding.shortfall == Decimal("0.01")


def test_funding_standard_needs_the_population(engine):
    with pytest.raises(InputError, match=r"communities\[0\]\.population"):
        engine.evaluate(req(matter="测试协助", communities=[{"name": "甲"}]))


def test_nameplate_cap_from_standing(engine):
    first = engine.evaluate(req(kind="nameplate", matter="居委会牌子"), Standing(counts={"nameplate": 0}))
    assert first.outcome == "admitted"
    over = engine.evaluate(req(kind="nameplate", matter="居委会牌子"), Standing(counts={"nameplate": 1}))
    assert (over.outcome, over.reasons[0].code) == ("rejected", "OVER_CAP")
    assert over.reasons[0].clause == "testcity@1#T-PLATE"
    assert "2/1" in over.reasons[0].text()


def test_version_by_date_and_advisory(engine):
    in_force = engine.evaluate(req(date="2021-12-31", matter="居民会议"))
    proposal = engine.evaluate(req(date="2022-01-01", matter="居民会议"))
    assert (in_force.ruleset.version, in_force.advisory) == ("1", False)
    assert (proposal.ruleset.version, proposal.advisory) == ("2", True)
    assert proposal.reasons[-1].code == "PROPOSAL_ADVISORY"
    assert in_force.ruleset.sha256 != proposal.ruleset.sha256


def test_shipped_versions_by_date():
    engine = Engine()
    old = engine.evaluate(parse_request(bijie_request(city="guangzhou", date="2020-12-31")))
    new = engine.evaluate(parse_request(bijie_request(city="guangzhou", date="2021-01-01")))
    assert (old.ruleset.version, new.ruleset.version) == ("2016.1", "2021.1")
    advisory = engine.evaluate(parse_request(bijie_request(city="tianjiaan", date="2019-01-01")))
    assert advisory.advisory is True
    # past the end of a city's last version, that version still decides, advisory, saying so
    ended = engine.evaluate(parse_request(bijie_request(city="guandu", date="2022-01-01")))
    assert (ended.ruleset.version, ended.advisory) == ("2016.1", True)
    assert ended.reasons[-1].code == "VERSION_ENDED" and ended.reasons[-1].values["end"] == "2021-01-01"
    assert "自 2021-01-01 起已不在有效期内" in ended.reasons[-1].text()
    # before a city's first version there is nothing to decide with
    with pytest.raises(InputError, match="^date: no guandu ruleset"):
        engine.evaluate(parse_request(bijie_request(city="guandu", date="2015-06-01")))
    # a city may be named as people write it
    named = engine.evaluate(parse_request(bijie_request(city="畢節市")))
    assert named.ruleset.id == "bijie"
    with pytest.raises(InputError, match="^city: unknown city '上海'"):
        engine.evaluate(parse_request(bijie_request(city="上海")))


def test_english_reasons():
    decision = Engine(lang="en").evaluate(parse_request(bijie_request()))
    assert "assists the government" in decision.reasons[0].text("en")
    zh = Engine().evaluate(parse_request(bijie_request()))
    assert "协助政府" in zh.reasons[0].text("zh")


def test_request_id_is_the_content_or_the_given_id():
    a, b = parse_request(bijie_request()), parse_request(bijie_request())
    assert request_id(a) == request_id(b)
    assert request_id(parse_request(bijie_request(matter="信访维稳"))) != request_id(a)
    assert request_id(parse_request(bijie_request(id="mine"))) == "mine"


class _CityRules:
    """A third-party plugin that adds a Bijie rule (its reason cites a Bijie clause)."""

    def __init__(self, clause: str):
        self.clause = clause

    @hookimpl
    def zhunru_city_rules(self, city):
        if city != "bijie":
            return None

        def no_plates_on_sundays(request, decision, book):
            if request.kind == "nameplate" and request.date.weekday() == 6:
                return [{"code": "SUNDAY", "clause": self.clause, "message": "周日不挂牌", "outcome": "rejected"}]
            return None

        return [no_plates_on_sundays]


@pytest.fixture
def city_plugin():
    from zhunru.plugins import plugin_manager

    pm = plugin_manager()
    registered = []

    def register(clause):
        plugin = _CityRules(clause)
        pm.register(plugin, name=f"test_city_rules_{clause}")
        registered.append(plugin)

    yield register
    for plugin in registered:
        pm.unregister(plugin)


def test_city_rule_plugin_makes_the_decision_stricter(city_plugin):
    city_plugin("BJ-PLATE-00")
    engine = Engine()
    sunday = engine.evaluate(parse_request(bijie_request(kind="nameplate", matter="社区服务站", date="2021-05-02")))
    monday = engine.evaluate(parse_request(bijie_request(kind="nameplate", matter="社区服务站", date="2021-05-03")))
    # BJ-PLATE-03 is in 附件3, a 征求意见稿: the admission is advisory and says so
    assert monday.outcome == "admitted" and [r.code for r in monday.reasons] == ["ALLOWED", "SOURCE_DRAFT"]
    assert sunday.outcome == "rejected"
    assert [r.code for r in sunday.reasons] == ["ALLOWED", "SUNDAY", "SOURCE_DRAFT"]
    assert sunday.reasons[1].clause == "bijie@2017.1#BJ-PLATE-00"
    assert sunday.reasons[1].source["document"] == "003_ea72715f31ed26c3.txt"


def test_city_rule_plugin_must_cite_a_real_clause(city_plugin):
    city_plugin("NO-SUCH-CLAUSE")
    with pytest.raises(InputError, match="NO-SUCH-CLAUSE"):
        Engine().evaluate(parse_request(bijie_request(kind="nameplate", matter="社区服务站", date="2021-05-02")))


# -- durable_rules over a long run ----------------------------------------------------------
TEMPLATES = [
    ("task", "社区矫正"), ("task", "公共政策听证"), ("task", "招商引资"), ("task", "入户调查{i}"),
    ("nameplate", "社区居委会牌子"), ("nameplate", "某某工作站{i}"), ("posting", "公示"), ("posting", "奖牌"),
    ("posting", "宣传画{i}"), ("certificate", "亲属关系证明"), ("certificate", "某证明{i}"),
    ("assessment", "社区工作年度考核"), ("meeting", "会议{i}"), ("ledger", "台账{i}"), ("report", "报表{i}"),
]


def test_over_100000_decisions_in_one_process():
    """durable_rules 2.0.28 fails after ~46,000 asserted facts (its issue #376); requests are
    posted as events, which are consumed, so a long run must keep working. No logging here;
    CI runs it (about 15–30 s)."""
    engine = Engine()
    base = parse_request(bijie_request(funding={"amount": 1000, "source": "区财政"}))
    bases = [base.model_copy(update={"kind": kind}) for kind, _ in TEMPLATES]
    unfunded = base.model_copy(update={"funding": None})
    outcomes: Counter = Counter()
    n = 100_500
    for i in range(n):
        t = i % len(TEMPLATES)
        request = bases[t].model_copy(update={"matter": TEMPLATES[t][1].format(i=i % 997),
                                              "date": dt.date(2018, 1, 1) + dt.timedelta(days=i % 1500)})
        if i % 7 == 0 and request.kind == "task":
            request = unfunded.model_copy(update={"matter": request.matter, "date": request.date})
        decision = engine.evaluate(request)
        assert decision.reasons, i
        outcomes[(request.kind, TEMPLATES[t][1], decision.outcome)] += 1
    assert sum(outcomes.values()) == n
    # the same template always decided the same way (funding aside), to the last request
    assert outcomes[("task", "社区矫正", "admitted")] == len(range(0, n, len(TEMPLATES)))
    assert outcomes[("task", "招商引资", "rejected")] == len(range(2, n, len(TEMPLATES)))
    # off Bijie's partial lists: needs approval whether funded or not (never refused for its absence)
    assert {o for (k, m, o) in outcomes if m == "入户调查{i}"} == {"needs_approval"}
    last = engine.evaluate(parse_request(bijie_request(kind="posting", matter="奖牌")))
    assert last.outcome == "rejected"


def test_the_books_remembered_by_day_stay_bounded_whatever_days_callers_name(monkeypatch):
    """Every request names its day, and a hostile caller can name a new one each time: the
    engine's (city, day) → book map starts again at its limit, and answers stay the same."""
    from zhunru.decide import evaluate

    monkeypatch.setattr(evaluate, "BY_DAY_LIMIT", 50)
    shipped = Engine(Registry(ruleset_roots()))
    first = shipped.book_for("bijie", dt.date(2021, 1, 1))
    for offset in range(200):
        shipped.book_for("bijie", dt.date(2021, 1, 2) + dt.timedelta(days=offset))
        assert len(shipped._by_day) <= 50
    assert shipped.book_for("bijie", dt.date(2021, 1, 1)) is first  # compiled books are kept
