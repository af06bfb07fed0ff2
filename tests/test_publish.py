"""予以公布: the admitted list of a district as CSV, JSON and HTML, on SQLite and PostgreSQL;
the HTML opened in headless Chromium. The district's requests go to testville, the binding
reference city (what its rules admit is in effect); Bijie's decisions are advisory (its rules are
in 征求意见稿 annexes), and what that means for the publication is tested below."""
from __future__ import annotations

import csv
import json
import re

import pytest

from helpers import (FUNDS, HONGSHAN, JH, PUBLISHED, QX, TOUR, bijie_request, district_request, dump_dom, evaluate,
                     run_cli, zhunru)


def publish(url, out, *args):
    result = zhunru("publish", "--db", url, "--out", out, "--format", "json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_publication_lists_what_is_in_effect(tour, tmp_path):
    url, decisions = tour
    pub = publish(url, tmp_path / "site", "--district", QX)
    by_request = {r["request_id"]: r for r in pub["items"]}
    assert set(by_request) == PUBLISHED
    assert pub["total"] == len(PUBLISHED)
    assert pub["counts"] == {"duty": 1, "assist": 1, "commissioned": 2, "nameplate": 1}
    # Lists in order: duty, assist, commissioned, then the other kinds; numbered 1..n.
    assert [r["list"] for r in pub["items"]] == ["duty", "assist", "commissioned", "commissioned", "nameplate"]
    assert [r["no"] for r in pub["items"]] == [1, 2, 3, 4, 5]

    approved = by_request["approved"]
    assert approved["department"] == "七星关区统计局"
    assert approved["funding"] == {"amount": "50000.00", "source": "区财政", "document": FUNDS["document"],
                                   "personnel": 0}
    assert approved["approval"]["by"] == "张三" and approved["approval"]["note"] == "同意,经费已到位"
    assert approved["decision_id"] == decisions["approved"]["decision_id"]
    assert approved["basis"][0]["clause"] == "testville@2020.1#TV-ADM-01"
    assert approved["basis"][0]["source"] == "测试市社区工作事项准入办法 第五条"
    assert by_request["staffed"]["funding"]["personnel"] == 2 and by_request["staffed"]["funding"]["amount"] is None
    assist = by_request["assist"]
    assert assist["approval"] is None and assist["communities"] == ["洪山社区", "麻园社区"]
    assert assist["basis"][0]["clause"] == decisions["assist"]["reasons"][0]["clause"]
    assert assist["basis"][0]["source"] == "测试市社区工作事项准入办法 附件一第6项"
    assert assist["ruleset_sha256"] == decisions["assist"]["ruleset"]["sha256"]


def test_other_district_and_dates(tour, tmp_path):
    url, _ = tour
    other = publish(url, tmp_path / "jh", "--district", JH)
    assert [r["request_id"] for r in other["items"]] == ["elsewhere"]
    assert other["items"][0]["communities"] == ["小坝社区"]
    dated = publish(url, tmp_path / "2021", "--district", QX, "--from", "2021-01-01", "--to", "2021-12-31")
    assert {r["request_id"] for r in dated["items"]} == PUBLISHED - {"duty-2020"}
    assert publish(url, tmp_path / "none", "--district", "无此区")["items"] == []


def test_files_csv_json_html(tour, tmp_path):
    url, _ = tour
    out = tmp_path / "site"
    result = zhunru("publish", "--db", url, "--district", QX, "--out", out)
    assert result.exit_code == 0, result.output
    assert "5 项" in result.output
    raw = (out / "admitted.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads the Chinese as UTF-8
    rows = list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))
    assert [r["申请编号"] for r in rows] == [r["request_id"] for r in json.loads((out / "admitted.json").read_text())["items"]]
    approved = next(r for r in rows if r["申请编号"] == "approved")
    assert (approved["经费金额(元)"], approved["经费文件"], approved["审批人"]) == ("50000.00", FUNDS["document"], "张三")
    assert approved["清单"] == "经审批的委托事项"
    html = (out / "admitted.html").read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in html
    # Self-contained: no scripts, no external stylesheets, images or fonts.
    assert not re.search(r"<script|<link|src=|@import|url\(|https?://", html)


def test_html_in_headless_chromium(tour, tmp_path):
    url, _ = tour
    out = tmp_path / "site"
    pub = publish(url, out, "--district", QX)
    dom = dump_dom(out / "admitted.html", tmp_path)
    shown = re.findall(r'<strong class="matter">([^<]+)</strong>', dom)
    assert sorted(shown) == sorted(r["matter"] for r in pub["items"])
    for rid in PUBLISHED:
        assert f'data-decision="{next(r for r in pub["items"] if r["request_id"] == rid)["decision_id"]}"' in dom
    for refused in ("创建文明城市入户调查", "房屋安全排查", "应急物资清点"):
        assert refused not in dom
    assert "七星关区社区工作事项准入清单" in dom and "50000.00 元" in dom and "张三" in dom


def test_html_escapes_what_departments_write(tmp_path, testville):
    url = f"sqlite:///{tmp_path / 'log.sqlite'}"
    evaluate(url, district_request(id="x", department={"name": "<script>alert(1)</script>局"},
                                communities=[HONGSHAN]))
    out = tmp_path / "site"
    publish(url, out, "--district", QX)
    html = (out / "admitted.html").read_text(encoding="utf-8")
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;局" in html


def test_advisory_admission_is_not_published(tmp_path):
    """An admission under a proposal ruleset (tianjiaan) binds nobody until the body approves it."""
    url = f"sqlite:///{tmp_path / 'log.sqlite'}"
    community = {"name": "龙泉社区", "district": "田家庵区", "population": 5000, "households": 1800}
    decision = evaluate(url, bijie_request(id="tj", city="tianjiaan", date="2019-05-01", matter="调解民间纠纷",
                                           communities=[community]))
    assert (decision["outcome"], decision["advisory"]) == ("admitted", True)
    assert publish(url, tmp_path / "tj", "--district", "田家庵区")["items"] == []


def test_bijie_admission_resting_on_a_draft_annex_is_published_only_once_approved(tmp_path):
    """Bijie's 社区矫正 rests on 附件1 (征求意见稿): admitted, advisory, not published; an off-list task
    (needs approval under the opinions text's 应按程序报批, in force) is published once the district body approves it."""
    url = f"sqlite:///{tmp_path / 'log.sqlite'}"
    assist = evaluate(url, bijie_request(id="bj-assist", communities=[HONGSHAN]))
    assert (assist["outcome"], assist["advisory"]) == ("admitted", True)
    drill = evaluate(url, bijie_request(id="bj-drill", matter="社区应急演练组织", communities=[HONGSHAN], funding=FUNDS))
    assert (drill["outcome"], drill["advisory"]) == ("needs_approval", False)
    assert publish(url, tmp_path / "before", "--district", QX)["items"] == []
    from helpers import act

    act(url, "bj-drill", "approval", "张三", "同意")
    assert [r["request_id"] for r in publish(url, tmp_path / "after", "--district", QX)["items"]] == ["bj-drill"]


def test_registry_supplies_the_district(tmp_path, testville):
    """A request that names a community without its district is placed by the registry (by a
    unique name); an ambiguous name stays unplaced rather than guessed."""
    url = f"sqlite:///{tmp_path / 'log.sqlite'}"
    csv_path = tmp_path / "communities.csv"
    csv_path.write_text("name,code,district,street,population,households\n"
                        "南关社区,QX-002,七星关区,市西街道,5100,1750\n"
                        "洪山社区,QX-001,七星关区,市西街道,8200,2900\n"
                        "洪山社区,HH-001,海湖区,洪山街道,4000,1500\n", encoding="utf-8")
    imported = zhunru("community", "import", csv_path, "--db", url)
    assert imported.exit_code == 0 and "新增 3 个" in imported.output, imported.output
    evaluate(url, district_request(id="nanguan", communities=[{"name": "南关社区", "population": 5100}]))
    evaluate(url, district_request(id="hongshan", communities=[{"name": "洪山社区", "population": 8200}]))
    pub = publish(url, tmp_path / "qx", "--district", QX)
    assert [r["request_id"] for r in pub["items"]] == ["nanguan"]


@pytest.mark.parametrize("args, field", [
    (["--district", " "], "--district"),
    (["--district", QX, "--from", "2021-13-01"], "--from"),
    (["--district", QX, "--from", "2021-06-01", "--to", "2021-01-01"], "--from"),
])
def test_bad_input_exits_2(tmp_path, args, field):
    result = run_cli("publish", "--db", str(tmp_path / "log.sqlite"), "--out", str(tmp_path / "o"), *args)
    assert result.returncode == 2, result.stderr
    assert field in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_unwritable_out_exits_2(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run_cli("publish", "--db", str(tmp_path / "log.sqlite"), "--district", QX, "--out", str(blocker / "sub"))
    assert result.returncode == 2, result.stderr
    assert "--out" in result.stderr and "Traceback" not in result.stderr


def test_tour_ids_are_all_decided(tour):
    _, decisions = tour
    outcomes = {rid: d["outcome"] for rid, d in decisions.items()}
    assert outcomes == {"duty-2020": "admitted", "assist": "admitted", "plate": "admitted",
                        "approved": "needs_approval", "staffed": "needs_approval", "unfunded": "rejected",
                        "refused": "needs_approval", "pending": "needs_approval", "elsewhere": "admitted"}
    assert set(TOUR) == set(decisions)
