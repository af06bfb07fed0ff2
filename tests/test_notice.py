"""不予准入告知书: the refusal notice, for rejected, refused and unfunded requests only. The
district's requests go to testville (binding, full lists: an unfunded off-list task is rejected);
a Bijie refusal rests on a 征求意见稿 annex, so its notice says it is only advisory."""
from __future__ import annotations

import json
import re

import pytest

from helpers import HONGSHAN, bijie_request, chromium, district_request, dump_dom, evaluate, run_cli, zhunru


def notice_json(url, ident):
    result = zhunru("notice", ident, "--db", url, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_rejected_request_cites_clause_source_and_ruleset(tour):
    url, decisions = tour
    decision = decisions["unfunded"]
    n = notice_json(url, "unfunded")
    assert n["grounds"] == "rejected"
    assert n["department"] == "七星关区文明办" and n["matter"] == "创建文明城市入户调查"
    assert [c["name"] for c in n["communities"]] == ["洪山社区", "麻园社区"]
    assert n["decision_id"] == decision["decision_id"] and n["request_id"] == "unfunded"
    assert n["ruleset"] == "testville@2020.1" and n["ruleset_sha256"] == decision["ruleset"]["sha256"]
    assert [r["clause"] for r in n["reasons"]] == [r["clause"] for r in decision["reasons"]]
    cited = "测试市社区工作事项准入办法 第五条"  # TV-ADM-01's source: a law cited by article
    assert decision["reasons"][0]["source"] == {"law": "测试市社区工作事项准入办法", "article": "第五条"}
    assert n["reasons"][0]["source"] == cited and not n["advisory"]

    text = zhunru("notice", "unfunded", "--db", url)
    assert text.exit_code == 0, text.output
    for expected in ("社区工作事项不予准入告知书", "七星关区文明办:", "不予准入", cited, decision["reasons"][0]["clause"],
                     decision["ruleset"]["sha256"], decision["decision_id"], "权随责走、费随事转", "可以拒绝承担"):
        assert expected in text.stdout
    assert "仅供参考" not in text.stdout


def test_a_bijie_rejection_resting_on_a_draft_annex_is_advisory(tmp_path):
    """Bijie's three-plates rule is in 附件3, marked 征求意见稿: the notice quotes it, names the part
    and says it is only advisory."""
    url = f"sqlite:///{tmp_path / 'log.sqlite'}"
    decision = evaluate(url, bijie_request(id="plate", kind="nameplate", matter="禁毒工作站", communities=[HONGSHAN]))
    assert (decision["outcome"], decision["advisory"]) == ("rejected", True)
    n = notice_json(url, "plate")
    assert n["grounds"] == "rejected" and n["advisory"] and n["ruleset"] == "bijie@2017.1"
    assert "社区室外统一悬挂社区党组织、社区居委会、社区服务站三块牌子" in n["reasons"][0]["source"]
    text = zhunru("notice", "plate", "--db", url).stdout
    assert "《附件3 毕节市关于进一步加强城市社区管理和服务的实施方案(征求意见稿)》为征求意见稿" in text
    assert "本告知仅供参考" in text


def test_refusal_by_the_district_body(tour):
    url, decisions = tour
    n = notice_json(url, "refused")
    assert n["grounds"] == "refused"
    assert n["refusal"]["by"] == "李四" and n["refusal"]["note"] == "与社区职责无关"
    assert "与社区职责无关" in n["reasons"][0]["message"]
    assert n["reasons"][0]["clause"] == decisions["refused"]["reasons"][0]["clause"]
    assert n["funding"]["amount"] == "20000.00"
    # The same notice by decision id, and by the id of the refusal entry itself.
    assert notice_json(url, decisions["refused"]["decision_id"])["decision_id"] == n["decision_id"]
    from zhunru.log.store import DecisionLog

    store = DecisionLog(url)
    refusal = store.entries(entry_type="refusal")[0]
    store.close()
    assert notice_json(url, refusal.entry_id)["decision_id"] == n["decision_id"]


def test_unfunded_matter_awaiting_approval(tmp_path):
    """Guangzhou's lists are partial: an off-list task is needs_approval, never refused for its
    absence — but without funding or staff the community need not take it on yet."""
    url = f"sqlite:///{tmp_path / 'log.sqlite'}"
    decision = evaluate(url, bijie_request(id="gz", city="guangzhou", date="2022-03-01",
                                           department={"name": "天河区城管局"}, matter="门前三包巡查",
                                           communities=[{"name": "员村社区", "district": "天河区", "population": 9000}]))
    assert decision["outcome"] == "needs_approval"
    n = notice_json(url, "gz")
    assert n["grounds"] == "unfunded" and n["ruleset"] == "guangzhou@2021.1"
    html = zhunru("notice", "gz", "--db", url, "--format", "html").stdout
    assert "社区不予承担" in html and "门前三包巡查" in html


@pytest.mark.parametrize("ident, says", [
    ("assist", "admitted"), ("approved", "approved"), ("pending", "awaits"), ("nope", "no decision"),
])
def test_no_notice_exits_2(tour, ident, says):
    url, _ = tour
    result = run_cli("notice", ident, "--db", url)
    assert result.returncode == 2, result.stdout + result.stderr
    assert says in result.stderr and "ID" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_html_notice_is_one_printable_page(tmp_path, testville):
    url = f"sqlite:///{tmp_path / 'log.sqlite'}"
    evaluate(url, district_request(id="r", matter="创建文明城市入户调查", department={"name": "<b>文明办</b>"},
                                communities=[HONGSHAN]))
    out = tmp_path / "notice.html"
    result = zhunru("notice", "r", "--db", url, "--out", out)
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in html and "@page { size: A4;" in html and "@media print" in html
    assert "&lt;b&gt;文明办&lt;/b&gt;" in html and "<b>文明办" not in html
    assert not re.search(r"<script|<link|src=|https?://", html)
    dom = dump_dom(out, tmp_path)
    assert "创建文明城市入户调查" in dom and "权随责走、费随事转" in dom


def test_pdf_with_chromium(tmp_path, testville):
    chromium()
    url = f"sqlite:///{tmp_path / 'log.sqlite'}"
    evaluate(url, district_request(id="r", matter="创建文明城市入户调查", communities=[HONGSHAN]))
    pdf = tmp_path / "notice.pdf"
    result = run_cli("notice", "r", "--db", url, "--pdf", str(pdf))
    assert result.returncode == 0, result.stderr
    assert pdf.read_bytes().startswith(b"%PDF-")
    # One page: exactly one page object (Chromium writes them uncompressed).
    assert len(re.findall(rb"/Type\s*/Page\b", pdf.read_bytes())) == 1


def test_pdf_without_a_renderer_writes_printable_html(tmp_path, testville):
    url = f"sqlite:///{tmp_path / 'log.sqlite'}"
    evaluate(url, district_request(id="r", matter="创建文明城市入户调查", communities=[HONGSHAN]))
    result = run_cli("notice", "r", "--db", url, "--pdf", str(tmp_path / "notice.pdf"),
                     env={"ZHUNRU_CHROMIUM": str(tmp_path / "no-such-chromium")})
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "notice.pdf").exists()
    assert "@media print" in (tmp_path / "notice.html").read_text(encoding="utf-8")
    assert "no PDF renderer" in result.stderr
