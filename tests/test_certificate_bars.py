"""The certificate bars of issue 12, each able to fail:

* must/may-issue for the statutory items quoted in ../shared/reference/statutes.md (the 民法典's
  guardianship articles give the committee two acts: designating a guardian, 第三十一条, and
  consenting to another guardian, 第二十七条(三)/第二十八条(四));
* `must_not_issue` for the common spoken forms of the 20 national items (and the issue's free
  text 开具一份居住证明) in national and in every city, after 2020-04-27;
* `cert check … --city 广州` without `--as-of` answers (advisory once the plan period ended).
"""
from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
import yaml

from helpers import REPO, RULESETS, run_cli
from zhunru.decide.certificates import check_certificate
from zhunru.decide.evaluate import Engine
from zhunru.rulebook.checks import quote_norm

STATUTES = Path("/work/shared/reference/statutes.md")
if not STATUTES.is_file():
    STATUTES = REPO.parent / "shared" / "reference" / "statutes.md"
CITIES = ("national", "bijie", "guangzhou", "guandu", "tianjiaan", "chengyang", "h_county")
AFTER = dt.date(2021, 6, 1)  # after 民发〔2020〕20号 (2020-04-27); guandu and h_county past their end

# The 20 national items (民发〔2020〕20号, first batch) and the forms people say them in: the issue's
# seven, the bracketed names of the list, the colloquial forms, and free-text asks around them.
SPOKEN = {
    "亲属关系证明": ["亲属证明", "关系证明", "直系亲属证明", "亲戚关系证明", "开个亲属关系证明"],
    "居民身份信息证明": ["户口证明", "户籍证明", "身份证明", "户口所在地证明", "户口本证明"],
    "户口登记项目内容变更申请证明": ["户口变更证明", "改名证明", "改名字证明"],
    "居民养犬证明": ["养狗证明", "养犬证明"],
    "无犯罪记录证明": ["无犯罪证明", "无违法犯罪证明", "良民证", "开一份无犯罪证明", "无违法犯罪记录证明"],
    "社区戒毒社区康复人员情况证明": ["戒毒证明", "表现证明", "戒毒表现证明"],
    "人员失踪证明": ["失踪证明"],
    "婚姻状况证明": ["单身证明", "未婚证明", "离婚证明", "已婚证明", "婚姻关系证明", "分居证明", "婚姻证明",
               "我要开单身证明"],
    "出生证明": ["出生证"],
    "健在证明": ["生存证明", "活着证明", "在世证明"],
    "死亡证明": ["去世证明", "死亡证"],
    "疾病状况证明": ["病情证明", "生病证明", "急诊证明", "意外伤害证明"],
    "残疾状况证明": ["残疾证明", "伤残证明"],
    "婚育状况证明": ["未育证明", "独生子女证明", "生育状况证明", "生育证明"],
    "居民就业状况证明": ["失业证明", "无业证明", "待业证明", "就业证明", "请开具一份失业证明"],
    "居民个人档案证明": ["档案证明"],
    "居民财产证明": ["财产证明", "收入证明", "存款证明", "无房证明", "房产证明", "贫困证明", "经济状况证明",
               "经济困难证明", "帮我开个收入证明"],
    "遗产继承权证明": ["继承证明", "继承权证明"],
    "市场主体住所证明": ["住所证明", "经营场所证明", "营业场所证明"],
    "证件遗失证明": ["遗失证明", "丢失证明", "证件丢失证明", "身份证丢失证明"],
}
ISSUE_SEVEN = ("无犯罪证明", "生存证明", "单身证明", "户口证明", "失业证明", "病情证明", "开具一份居住证明")


@pytest.fixture(scope="module")
def engine():
    return Engine()


def national_items() -> dict[str, dict]:
    data = yaml.safe_load((RULESETS / "national" / "2020.1.yaml").read_text(encoding="utf-8"))
    return {kind: {i["name"]: i for i in data["certificate"][kind]["items"]}
            for kind in ("must_issue", "may_issue", "must_not_issue")}


def test_the_twenty_national_items_are_all_here():
    assert list(national_items()["must_not_issue"]) == list(SPOKEN)
    assert all(len(forms) >= 1 for forms in SPOKEN.values())
    assert sum(len(forms) for forms in SPOKEN.values()) >= 27  # the issue's count of common forms, at least


def _statutory_sentences() -> list[str]:
    """Sentences of statutes.md §1 (民法典) in which the residents' committee designates a guardian or
    consents to one: the acts the law gives it."""
    text = STATUTES.read_text(encoding="utf-8")
    section = text.split("## 1.", 1)[1].split("## 2.", 1)[0]
    sentences = re.split(r"[。\n]", section)
    acts = re.compile(r"居民委员会[^，,。；;]*(?:指定监护人|同意)")  # the committee designates / consents
    return [s for s in sentences if acts.search(s)]


@pytest.mark.skipif(not STATUTES.is_file(), reason="the shared reference is not on this machine")
def test_every_statutory_act_of_the_committee_is_a_must_or_may_issue_item():
    """Each such sentence of statutes.md is, in national's concordance, beside a must/may-issue item
    whose quote is verbatim in statutes.md."""
    found = _statutory_sentences()
    assert len(found) >= 3, found  # 第二十七条(三), 第二十八条(四), 第三十一条
    items = national_items()
    issuing = {i["id"]: (kind, i) for kind in ("must_issue", "may_issue") for i in items[kind].values()}
    statutes = quote_norm(STATUTES.read_text(encoding="utf-8"))
    for item_id, (_, item) in issuing.items():
        assert quote_norm(item["source"]["quote"]) in statutes, item_id
    concordance = yaml.safe_load((RULESETS / "national" / "concordance.yaml").read_text(encoding="utf-8"))
    rows = [s for d in concordance["documents"] for s in d["sentences"]]
    for sentence in found:
        beside = [r for r in rows if quote_norm(sentence) in quote_norm(r["text"])]
        assert beside, f"statutes.md sentence not in national's concordance: {sentence}"
        assert set(beside[0].get("clauses", [])) & set(issuing), f"no must/may-issue item for: {sentence}"


@pytest.mark.parametrize("city", CITIES)
@pytest.mark.parametrize("text,verdict,clause", [
    ("指定监护人", "must_issue", "NAT-CERT-M01"), ("指定监护人证明", "must_issue", "NAT-CERT-M01"),
    ("同意担任监护人", "may_issue", "NAT-CERT-Y01"), ("开一份同意担任监护人证明", "may_issue", "NAT-CERT-Y01"),
])
def test_the_statutory_items_are_answered_in_every_city(engine, city, text, verdict, clause):
    got = check_certificate(engine, text, city, AFTER)
    assert got["verdict"] == verdict and got["reasons"][0]["clause"].endswith("#" + clause), (city, got["reasons"])


@pytest.mark.parametrize("city", CITIES)
def test_every_spoken_form_of_the_twenty_items_must_not_be_issued(engine, city):
    wrong = []
    for name, forms in SPOKEN.items():
        for form in (name, *forms):
            got = check_certificate(engine, form, city, AFTER)
            if got["verdict"] != "must_not_issue":
                wrong.append(f"{form}: {got['verdict']}")
            elif got["certificate"] is not None and got["certificate"]["name"] != name:
                wrong.append(f"{form}: resolved to {got['certificate']['name']}, not {name}")
    assert not wrong, f"{city}: " + "; ".join(wrong)


@pytest.mark.parametrize("city", CITIES)
def test_a_spoken_form_never_issues_even_before_the_national_list(engine, city):
    """Before 2020-04-27 national has no certificate rule: a spoken form may be unknown there, never issued."""
    for forms in SPOKEN.values():
        for form in forms:
            try:
                got = check_certificate(engine, form, city, dt.date(2019, 6, 1))
            except Exception:  # noqa: BLE001 - a city with no version yet (exit 2 in the CLI) issues nothing
                continue
            assert got["verdict"] in ("must_not_issue", "unknown"), (city, form, got["verdict"])


@pytest.mark.parametrize("city,name", [("广州", "guangzhou"), ("毕节", "bijie"), ("田家庵", "tianjiaan"),
                                       ("national", "national")])
def test_the_issues_seven_through_the_cli(city, name):
    for text in ISSUE_SEVEN:
        done = run_cli("cert", "check", text, "--city", city, "--as-of", "2021-06-01", "--format", "json")
        assert done.returncode == 0, done.stderr
        answer = json.loads(done.stdout)
        assert answer["verdict"] == "must_not_issue", (city, text, answer["reasons"])
        assert answer["ruleset"]["id"] == name


def test_guangzhou_without_as_of_answers_advisory_once_the_plan_ended():
    done = run_cli("cert", "check", "无犯罪证明", "--city", "广州", "--format", "json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["verdict"] == "must_not_issue" and answer["ruleset"] == {**answer["ruleset"], "id": "guangzhou",
                                                                           "version": "2021.1"}
    ended = dt.date.today() >= dt.date(2026, 1, 1)  # the 十四五 plan's last day is 2025-12-31
    assert answer["advisory"] is ended
    ended_reasons = [r for r in answer["reasons"] if r["code"] == "VERSION_ENDED"]
    assert bool(ended_reasons) is ended
    if ended:
        assert "2026-01-01" in ended_reasons[0]["message"]
    text = run_cli("cert", "check", "生存证明", "--city", "广州")
    assert text.returncode == 0 and "健在证明" in text.stdout and "不应出具" in text.stdout
