"""Bijie decides every kind as seed 003 says, through the real CLI, and every reason cites a
clause whose source is real: a Bijie quote occurs verbatim in rulesets/bijie/sources/, a
national clause names its law and article."""
from __future__ import annotations

import json
import re
import unicodedata

import pytest
from click.testing import CliRunner

from helpers import RULESETS, bijie_request, write_json
from zhunru.cli import cli

DISTRICT_BODY = {"name": "七星关区社区办", "level": "district", "role": "coordination_body"}
CITY_DEPT = {"name": "毕节市民政局", "level": "city", "role": "department"}
STREET = {"name": "洪山街道办事处", "level": "street", "role": "street_office"}
FUNDS = {"amount": 200000, "source": "市财政", "document": "毕财发〔2019〕1号"}

# The seed marks 附件1, 3, 4 and 5 征求意见稿, not the opinions text nor 附件2: a decision resting on a clause
# of a draft part is advisory and names the part; one resting on the opinions text or national is binding.
A1 = "附件1 毕节市城市社区工作规则(试行)(征求意见稿)"
A3 = "附件3 毕节市关于进一步加强城市社区管理和服务的实施方案(征求意见稿)"

# (label, request overrides, outcome, category, clause id the decision must cite, draft part it names or None)
CASES = [
    ("duty", dict(matter="公共政策听证"), "admitted", "duty", "bijie@2017.1#BJ-DU-07", A1),
    ("duty alias", dict(matter="居务公开"), "admitted", "duty", "bijie@2017.1#BJ-DU-04", A1),
    ("assist", dict(matter="社区矫正"), "admitted", "assist", "bijie@2017.1#BJ-AS-02", A1),
    ("assist traditional", dict(matter="社區矯正"), "admitted", "assist", "bijie@2017.1#BJ-AS-02", A1),
    ("assist disabled", dict(matter="残疾人权益保障"), "admitted", "assist", "bijie@2017.1#BJ-AS-14", A1),
    ("negative", dict(matter="招商引资"), "rejected", "negative", "national@2020.1#NAT-NEG-01", None),
    # the duty and assist lists are partial (等工作; the city's lists are not in the source): an off-list
    # task is not refused for its absence, funded or not; it needs approval (LIST_PARTIAL) under the opinions
    # text's 应按程序报批 … 下派人员或拨付经费 (BJ-ADM-02, in force), so the decision binds
    ("off-list unfunded", dict(matter="入户经济普查"), "needs_approval", "unlisted", "bijie@2017.1#BJ-ADM-02", None),
    ("off-list funded", dict(matter="入户经济普查", funding=FUNDS), "needs_approval", "unlisted",
     "bijie@2017.1#BJ-ADM-02", None),
    ("off-list staffed", dict(matter="入户经济普查", personnel=2), "needs_approval", "unlisted",
     "bijie@2017.1#BJ-ADM-02", None),
    ("off-list zero funds", dict(matter="入户经济普查", funding={**FUNDS, "amount": 0}), "needs_approval",
     "unlisted", "bijie@2017.1#BJ-ADM-02", None),
    ("nameplate allowed", dict(kind="nameplate", matter="社区居委会牌子", department=STREET), "admitted", "allowed",
     "bijie@2017.1#BJ-PLATE-02", A3),
    ("nameplate forbidden", dict(kind="nameplate", matter="禁毒工作站"), "rejected", "forbidden",
     "bijie@2017.1#BJ-PLATE-00", A3),
    ("posting allowed", dict(kind="posting", matter="公示"), "admitted", "allowed", "bijie@2017.1#BJ-POST-A01", A3),
    ("posting forbidden", dict(kind="posting", matter="奖牌"), "rejected", "forbidden", "bijie@2017.1#BJ-POST-F03", A3),
    ("posting forbidden alias", dict(kind="posting", matter="组织网络图"), "rejected", "forbidden",
     "bijie@2017.1#BJ-POST-F05", A3),
    ("posting unlisted", dict(kind="posting", matter="健康宣传海报"), "needs_approval", "unlisted",
     "bijie@2017.1#BJ-POST-00", A3),
    ("certificate national must_not", dict(kind="certificate", matter="亲属关系证明"), "rejected", "forbidden",
     "national@2020.1#NAT-CERT-01", None),
    # an unlisted certificate: the seal rule (附件3, draft) before 民发〔2020〕20号, national's binding rule from it
    ("certificate unlisted: seal rule", dict(kind="certificate", matter="居住证明", date="2020-04-26"), "rejected",
     "forbidden", "bijie@2017.1#BJ-SEAL-01", A3),
    ("certificate unlisted: legal-basis rule", dict(kind="certificate", matter="居住证明"), "rejected", "forbidden",
     "national@2020.1#NAT-CERT-00", None),
    ("assessment by district body", dict(kind="assessment", matter="社区工作年度考核", department=DISTRICT_BODY),
     "admitted", "allowed", "bijie@2017.1#BJ-ASM-01", A3),
    ("assessment by city department", dict(kind="assessment", matter="社区工作年度考核", department=CITY_DEPT),
     "rejected", "forbidden", "bijie@2017.1#BJ-ASM-01", A3),
    ("staff assessment by street", dict(kind="assessment", matter="社区工作人员考核", department=STREET),
     "admitted", "allowed", "bijie@2017.1#BJ-ASM-02", A3),
    # who may assess is a rule about the department, not the title: an unlisted title goes to review
    ("departmental assessment", dict(kind="assessment", matter="社区安全生产考核", department=CITY_DEPT),
     "needs_approval", "unlisted", "bijie@2017.1#BJ-ASM-00", A3),
    ("district body's assessment, title one word off", dict(kind="assessment", matter="社区工作年终考核",
                                                            department=DISTRICT_BODY),
     "needs_approval", "unlisted", "bijie@2017.1#BJ-ASM-00", A3),
    ("meeting", dict(kind="meeting", matter="安全生产工作会议"), "needs_approval", "unlisted",
     "bijie@2017.1#BJ-PAPER-01", None),
    ("ledger", dict(kind="ledger", matter="禁毒工作台账"), "needs_approval", "unlisted", "bijie@2017.1#BJ-PAPER-01", None),
    ("report", dict(kind="report", matter="月度统计报表"), "needs_approval", "unlisted", "bijie@2017.1#BJ-PAPER-01", None),
]


def assert_sources_real(reasons: list[dict]) -> None:
    """Every reason cites a clause; a quote is verbatim in the shipped source it names (Bijie's seed,
    national's statute texts), and a law cited without a quote names its article or item."""
    assert reasons, "a decision without reasons"
    for reason in reasons:
        ref, _, clause_id = reason["clause"].partition("#")
        assert clause_id, reason
        city = ref.split("@")[0]
        source = reason["source"]
        assert city in ("bijie", "national"), reason
        if "quote" in source:  # a quoted document lies in the city's sources/, the quote verbatim
            document = RULESETS / city / "sources" / source["document"]
            assert document.is_file(), source
            # verbatim as check_quotes.py reads it: NFKC, line breaks aside (national's 20号 sentence spans two lines)
            assert _flat(source["quote"]) in _flat(document.read_text(encoding="utf-8")), source["quote"]
        else:  # a law cited by article or item
            assert source.get("law") and (source.get("article") or source.get("item")), source


def _flat(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def evaluate(tmp_path, request: dict, *extra: str) -> dict:
    path = write_json(tmp_path / "request.json", request)
    result = CliRunner().invoke(cli, ["evaluate", str(path), "--format", "json", "--no-log", *extra])
    assert result.exit_code == 0, result.output + result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("label,overrides,outcome,category,clause,part", CASES, ids=[c[0] for c in CASES])
def test_bijie_decides_every_kind(tmp_path, label, overrides, outcome, category, clause, part):
    decision = evaluate(tmp_path, bijie_request(**overrides))
    assert (decision["outcome"], decision["category"]) == (outcome, category)
    assert clause in [r["clause"] for r in decision["reasons"]]
    assert decision["ruleset"]["id"] == "bijie" and decision["advisory"] is (part is not None)
    drafts = [r["message"] for r in decision["reasons"] if r["code"] == "SOURCE_DRAFT"]
    assert drafts == ([f"所依据的《{part}》为征求意见稿,不是正式生效的文件:本决定仅供参考。"] if part else [])
    assert_sources_real(decision["reasons"])
    if overrides.get("kind") == "certificate":
        assert decision["verdict"] == "must_not_issue"


def test_commissioned_funding_is_reported(tmp_path):
    decision = evaluate(tmp_path, bijie_request(matter="入户经济普查", funding=FUNDS))
    assert decision["funding"]["attached"] == 200000.0
    unfunded = evaluate(tmp_path, bijie_request(matter="入户经济普查"))
    assert unfunded["funding"]["attached"] == 0.0


def test_unlisted_task_is_never_admitted_by_a_fuzzy_guess(tmp_path):
    # one character away from an assist item: not admitted (the partial lists send it to the district
    # body, needs_approval), the item only suggested
    decision = evaluate(tmp_path, bijie_request(matter="社区矫"))
    assert decision["outcome"] == "needs_approval" and decision["category"] == "unlisted"
    assert decision["matter"]["code"] is None
    assert "社区矫正" in decision["suggestions"]


@pytest.mark.parametrize("text,verdict,clause", [
    ("亲属关系证明", "must_not_issue", "national@2020.1#NAT-CERT-01"),
    ("无犯罪证明", "must_not_issue", "national@2020.1#NAT-CERT-05"),  # a spoken form
    ("指定监护人", "must_issue", "national@2020.1#NAT-CERT-M01"),  # the seal rule's own exception: a statutory duty
    ("居住证明", "must_not_issue", "national@2020.1#NAT-CERT-00"),  # binding: not the draft seal rule
])
def test_cert_check(text, verdict, clause):
    result = CliRunner().invoke(cli, ["cert", "check", text, "--city", "bijie", "--as-of", "2020-09-01",
                                      "--format", "json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["verdict"] == verdict
    assert clause in [r["clause"] for r in answer["reasons"]]
    assert_sources_real(answer["reasons"])


def test_cert_check_text_is_chinese_by_default():
    result = CliRunner().invoke(cli, ["cert", "check", "居住证明", "--city", "bijie", "--as-of", "2020-09-01"])
    assert result.exit_code == 0
    assert "不应出具" in result.stdout or "不能出具" in result.stdout, result.stdout


def test_off_list_task_rests_on_the_opinions_text_not_the_draft_annex(tmp_path):
    decision = evaluate(tmp_path, bijie_request(matter="入户经济普查"))
    cited = {r["clause"] for r in decision["reasons"]}
    assert cited == {"bijie@2017.1#BJ-ADM-02"} and decision["advisory"] is False
    quote = decision["reasons"][0]["source"]["quote"]
    assert "应按程序报批" in quote and "下派人员或拨付经费" in quote
    assert [r["code"] for r in decision["reasons"]] == ["LIST_PARTIAL", "LIST_PARTIAL_UNFUNDED"]


@pytest.mark.parametrize("on,clause,advisory", [
    ("2020-04-26", "bijie@2017.1#BJ-SEAL-01", True),
    ("2020-04-27", "national@2020.1#NAT-CERT-00", False),
    ("2024-01-01", "national@2020.1#NAT-CERT-00", False),
])
def test_unlisted_certificate_rests_on_the_binding_refusal_from_2020_04_27(on, clause, advisory):
    for basis, verdict in (([], "must_not_issue"), (["--basis", "《某条例》第十条"], "unknown")):
        result = CliRunner().invoke(cli, ["cert", "check", "居住证明", "--city", "毕节", "--as-of", on, *basis,
                                          "--format", "json"])
        assert result.exit_code == 0, result.output
        answer = json.loads(result.stdout)
        assert answer["verdict"] == verdict and answer["advisory"] is advisory
        assert {r["clause"] for r in answer["reasons"]} == {clause}
