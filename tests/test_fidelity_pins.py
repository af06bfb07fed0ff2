"""Issue 12's "What was measured", pinned where the rulesets' own cases cannot say it.

* Guangzhou's dates: seed 001 reports the cut of the assisted matters from 35类175项 to 15类76项
  among the results of the 十三五 period (第一章第一节 “十三五”主要成效), so the 76 cap is 2016.1's
  (2016-2020) and the 十四五 version (2021.1) starts from it; neither version carries 175 as a cap.
  Caps bound the version's own lists (checked by `validate`), not a decision, so a case cannot show
  them: the tests ask the CLI which version decides a 2019 and a 2022 request, then what that version's
  cap is and which sentence its clause quotes.
* Four of the six cities have no version in force today: `cert check` without `--as-of` still answers
  there, advisory, naming the day the version ended (Guangzhou's own test is in test_certificate_bars).
* "Text the source does not say" (GZ2021-ADM-01's 费随事转, HX-ADM-01's approval and funding, CY-ADM-01's
  无经费保障的不交由社区承担): every clause's text is made of stretches of the sentence it sits beside in
  the concordance, at least two characters each, so it may shorten a sentence but adds nothing to it.
  Bijie's audit found texts that added (BJ-SEAL-01's 仅用于 and (出具证明), 内容, 的 and 外) and one that lost
  what its quote says (BJ-POST-A01..A03: 室内可张贴 for 原则上只能张贴): a shortening can drop an "only", so
  that one is pinned by name.
"""
from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from helpers import RULESETS, run_cli
from zhunru.rulebook.concordance import load as load_concordance
from zhunru.rulebook.loaded import load_file
from zhunru.rulebook.normalize import normalize

CUT = "将全市社区协助事项35类175项缩减至15类76项"
TODAY = dt.date.today()


def _decide(tmp_path, city: str, date: str, matter: str = "出租屋信息采集") -> dict:
    request = {"city": city, "date": date, "department": {"name": "某区某职能局", "level": "district"},
               "kind": "task", "matter": matter, "communities": [{"name": "示例社区"}]}
    done = run_cli("evaluate", "-", "--format", "json", "--db", f"sqlite:///{tmp_path / 'log.db'}",
                   input=json.dumps(request, ensure_ascii=False))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _concordance(city: str):
    concordance, problems = load_concordance(RULESETS / city / "concordance.yaml")
    assert concordance is not None, problems
    return [s for d in concordance.documents for s in d.sentences]


@pytest.mark.parametrize("date,version,clause,advisory", [
    ("2016-01-01", "2016.1", "GZ2016-CAP-01", False),
    ("2019-06-01", "2016.1", "GZ2016-CAP-01", False),
    ("2020-12-31", "2016.1", "GZ2016-CAP-01", False),
    ("2021-01-01", "2021.1", "GZ2021-CAP-01", False),
    ("2022-06-01", "2021.1", "GZ2021-CAP-01", False),
    ("2026-06-01", "2021.1", "GZ2021-CAP-01", True),
])
def test_guangzhou_holds_the_76_cap_of_the_十三五_result(tmp_path, date, version, clause, advisory):
    decision = _decide(tmp_path, "guangzhou", date)
    assert (decision["ruleset"]["version"], decision["advisory"]) == (version, advisory)
    shown = run_cli("ruleset", "show", f"guangzhou@{version}", "--format", "json")
    assert shown.returncode == 0, shown.stderr
    ruleset = json.loads(shown.stdout)["ruleset"]
    assert ruleset["caps"] == {"assist_categories": 15, "assist_items": 76, "clause": clause}
    quoted = next(c for c in ruleset["clauses"] if c["id"] == clause)
    assert quoted["source"]["quote"] == CUT
    beside = [s for s in _concordance("guangzhou") if clause in s.clauses]
    assert len(beside) == 1 and CUT in beside[0].text and beside[0].where.startswith("第一章第一节")
    seed = (RULESETS / "guangzhou" / "sources" / "001_65ad47739bccf312.txt").read_text(encoding="utf-8")
    heading = seed.index("第一节 “十三五”主要成效\n")  # the body's heading, not the table of contents
    assert heading < seed.index(CUT) < seed.index("第三节 “十四五”发展环境\n")  # reported among the 十三五's results


def test_guangzhou_dates_its_versions_from_the_seed():
    versions = {p.stem: load_file(p).ruleset for p in sorted((RULESETS / "guangzhou").glob("[0-9]*.yaml"))}
    assert {v: (r.effective_from, r.effective_to) for v, r in versions.items()} == {
        "2016.1": (dt.date(2016, 1, 1), dt.date(2021, 1, 1)),   # “十三五”期间 (2016-2020)
        "2021.1": (dt.date(2021, 1, 1), dt.date(2026, 1, 1)),   # 是2021-2025年期间…的指导性、基础性文件
    }
    dating = {s.text: s.not_modelled for s in _concordance("guangzhou")
              if s.not_modelled and s.not_modelled.startswith("dates the version")}
    assert any(t.startswith("“十三五”期间") and "2016.1 effective_from 2016-01-01" in r for t, r in dating.items())
    assert any("是2021-2025年期间" in t and "2021.1 effective_from 2021-01-01" in r for t, r in dating.items())
    assert all(175 not in (r.caps.assist_items, r.caps.assist_categories) for r in versions.values() if r.caps)


@pytest.mark.parametrize("name,city,ended", [("官渡", "guandu", "2021-01-01"), ("城阳", "chengyang", "2021-01-01"),
                                             ("H县", "h_county", "2021-01-01")])
def test_a_city_whose_last_version_ended_answers_without_as_of(name, city, ended):
    done = run_cli("cert", "check", "无犯罪证明", "--city", name, "--format", "json")
    assert done.returncode == 0, done.stderr  # never exit 2 for a version that ended
    answer = json.loads(done.stdout)
    assert answer["verdict"] == "must_not_issue" and answer["ruleset"]["id"] == city
    assert answer["advisory"] is True
    ended_reasons = [r for r in answer["reasons"] if r["code"] == "VERSION_ENDED"]
    assert ended_reasons and ended in ended_reasons[0]["message"]


PINYIN = re.compile(r"\([a-zü]*[āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ][a-zü]*\)")  # h_county's seed glosses: 區(qū)


def _bare(text: str) -> str:
    return normalize(PINYIN.sub("", text))


def stretches(text: str, sentence: str) -> list[str]:
    """`text` cut greedily into the longest pieces that occur in `sentence`."""
    pieces, i = [], 0
    while i < len(text):
        j = i + 1
        while j <= len(text) and text[i:j] in sentence:
            j += 1
        pieces.append(text[i:max(j - 1, i + 1)])
        i = max(j - 1, i + 1)
    return pieces


def test_stretches_find_an_added_phrase():
    sentence = _bare("加强社区事务管理,完善村(居)委会协助开展公共服务目录,健全社区工作准入制度。")
    assert all(len(p) >= 2 for p in stretches(_bare("健全社区工作准入制度。"), sentence))
    added = stretches(_bare("健全社区工作准入制度,须经准入审批并做到费随事转。"), sentence)
    assert any(len(p) < 2 for p in added)  # 须经准入审批并做到费随事转 is not in the sentence


CITIES = sorted(p.name for p in RULESETS.iterdir() if (p / "concordance.yaml").is_file())


@pytest.mark.parametrize("city", CITIES)
def test_no_clause_text_adds_to_its_sentence(city):
    beside: dict[str, str] = {}
    for sentence in _concordance(city):
        for clause in sentence.clauses:
            beside[clause] = beside.get(clause, "") + _bare(sentence.text)
    added = {}
    for path in sorted((RULESETS / city).glob("[0-9]*.yaml")):
        for clause in load_file(path).ruleset.all_clauses():
            if clause.source.document is None:  # a law cited by article: no sentence to compare with
                continue
            assert clause.id in beside, f"{clause.id} is beside no sentence"
            pieces = stretches(_bare(clause.text), beside[clause.id])
            if any(len(p) < 2 for p in pieces):
                added[clause.id] = pieces
    assert not added, f"clause text says more than its sentence: {added}"


def test_the_issues_three_examples_say_no_more_than_their_quotes():
    clauses = {c.id: c for city in ("guangzhou", "h_county", "chengyang")
               for p in (RULESETS / city).glob("[0-9]*.yaml") for c in load_file(p).ruleset.all_clauses()}
    assert "费随事转" not in clauses["GZ2021-ADM-01"].text
    assert not re.search("经费|审批|资金", clauses["HX-ADM-01"].text)
    assert "CY-ADM-01" not in clauses  # the social-organisation clause is gone; off-list tasks rest on NAT-ADM-01
    assert not any("无经费保障" in c.text for c in clauses.values())


def test_bijie_clauses_the_audit_named_say_what_their_quotes_say():
    clauses = {c.id: c for p in (RULESETS / "bijie").glob("[0-9]*.yaml") for c in load_file(p).ruleset.all_clauses()}
    for clause_id in ("BJ-POST-A01", "BJ-POST-A02", "BJ-POST-A03"):
        assert "原则上只能张贴" in clauses[clause_id].text and "可张贴" not in clauses[clause_id].text
    seal = clauses["BJ-SEAL-01"]
    assert "仅" not in seal.text and "出具证明" not in seal.text and "除" in seal.text  # the exception stays
    assert "内容" not in clauses["BJ-POST-F01"].text + clauses["BJ-POST-F04"].text
    assert clauses["BJ-LIST-00"].text.rstrip("。") == clauses["BJ-LIST-00"].source.quote
