"""规则集 (GET /rulesets…, public) and the ruleset endpoints of the API, against `zhunru serve
--demo` over HTTP, checked against what the CLI prints for the same rulesets (`zhunru ruleset
list|show|diff --format json`), and in Chromium at a desktop's and a phone's width.

Known data: bijie@2017.1#BJ-ADM-02 quotes 职能部门需要委托社区办理事务的,应按程序报批 (its
source, 003_ea72715f31ed26c3.txt); bijie's concordance puts 三块牌子 beside BJ-PLATE-00;
guangzhou 2016.1 → 2021.1 gains national@2020.1's certificate lists (亲属关系证明, NAT-CERT-01)
and its end date moves from 2021-01-01 to 2026-01-01."""
from __future__ import annotations

import html
import json
import re
import urllib.parse

import web
from web import call, screenshot, zhunru

demo, browser, phone = web.demo, web.browser, web.phone  # web.py's fixtures

ADM_02_QUOTE = "职能部门需要委托社区办理事务的,应按程序报批,并按照权随责走、费随事转、事费配套的原则下派人员或拨付经费"
PLATES = "社区室外统一悬挂社区党组织、社区居委会、社区服务站三块牌子"


def get(server, path: str) -> tuple[int, str]:
    status, body = call(server.base, "GET", path)
    assert isinstance(body, str), body
    return status, body


def element(body: str, ident: str) -> str | None:
    """The HTML of the element with id `ident` (up to its closing tag; no nesting of the same tag)."""
    found = re.search(rf'<(\w+)[^>]*\bid="{re.escape(ident)}"[^>]*>(.*?)</\1>', body, re.DOTALL)
    return found.group(2) if found else None


def text(fragment: str | None) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment or "")).strip()


def cli_json(*args: str):
    done = zhunru(*args, "--format", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# -- the pages over HTTP --------------------------------------------------------------------------
def test_the_list_names_every_city_in_chinese_and_its_versions(demo):
    status, body = get(demo, "/rulesets")
    assert status == 200
    bijie, national = element(body, "city-bijie"), element(body, "city-national")
    assert bijie and "毕节市" in bijie and national and "全国" in national
    assert body.index('id="city-bijie"') < body.index('id="city-national"')  # the baseline last
    assert 'href="/rulesets/bijie/2017.1"' in bijie
    assert 'href="/rulesets/national/2015.1"' in national and 'href="/rulesets/national/2020.1"' in national
    # every version the CLI lists, with its dates; Chinese statuses; today's version marked
    for row in cli_json("ruleset", "list"):
        assert f'href="/rulesets/{row["id"]}/{row["version"]}"' in body, row
        assert row["effective_from"] in body
    assert "2015-07-13 起,2020-04-27 前" in text(national)
    assert "已失效" in text(national) and "现行" in text(national)
    assert "正式文件" in body and "建议案" in text(element(body, "city-tianjiaan"))
    assert "今日适用" in text(bijie)
    assert "in_force" not in text(body.split("<main>", 1)[1])  # the words, not the codes
    assert 'href="/rulesets/guangzhou/diff"' in body  # a city with two versions can be compared


def test_a_ruleset_page_shows_each_clause_with_its_quote(demo):
    status, body = get(demo, "/rulesets/bijie/2017.1")
    assert status == 200
    clause = element(body, "clause-BJ-ADM-02")  # what a decision's `bijie@2017.1#BJ-ADM-02` links to
    assert clause is not None
    assert "职能部门需要委托社区办理事务的,应按程序报批" in text(clause)  # the clause's text
    assert ADM_02_QUOTE in text(clause)  # and its source's words, verbatim
    # the part of the source its quote lies in, as the source marks it: the opinions text (in force)
    assert "《毕节市关于全面推进城市社区建设的意见(正文)》原文" in text(clause) and "征求意见稿" not in text(clause)
    seal = text(element(body, "clause-BJ-SEAL-01"))  # 附件3: a consultation draft, tagged
    assert "《附件3 毕节市关于进一步加强城市社区管理和服务的实施方案(征求意见稿)》原文 征求意见稿" in " ".join(seal.split())
    sources = " ".join(text(element(body, "sources")).split())
    assert "《毕节市关于全面推进城市社区建设的意见及附件1-6》" in sources and "按部分" in sources
    assert "《附件1 毕节市城市社区工作规则(试行)(征求意见稿)》始于:“附件1” 征求意见稿" in sources
    assert "《附件2 关于加强城市社区党的建设工作的实施方案》始于:“附件2” 正式文件" in sources
    # every clause of the file (as the CLI shows it) has its anchor: lists, procedure, base funds
    shown = cli_json("ruleset", "show", "bijie@2017.1")["ruleset"]
    ids = [c["id"] for c in shown["clauses"]] + [f["id"] for f in shown["base_funds"]]
    ids += [i["id"] for kind in ("task", "certificate", "nameplate", "posting", "meeting", "ledger", "report",
                                 "assessment") for lst in (shown.get(kind) or {}).values()
            if isinstance(lst, dict) and "items" in lst for i in lst["items"]]
    assert len(ids) > 30
    for ident in ids:
        assert f'id="clause-{ident}"' in body, ident
    assert "社会治安" in text(element(body, "clause-BJ-AS-01"))  # an item's name
    for heading in ("来源文件", "程序条款", "工作事项", "依法履行职责事项", "依法协助事项", "挂牌", "评比考核检查",
                    "基本经费"):
        assert heading in body, heading
    assert "003_ea72715f31ed26c3.txt" in text(element(body, "sources"))
    # the parent versions that apply during bijie's span link to their pages
    assert 'href="/rulesets/national/2015.1"' in body and 'href="/rulesets/national/2020.1"' in body
    # the city by its Chinese name, and /rulesets/<city> for today's version
    status, same = get(demo, "/rulesets/" + urllib.parse.quote("毕节") + "/2017.1")
    assert status == 200 and 'id="clause-BJ-ADM-02"' in same
    status, latest = get(demo, "/rulesets/bijie")
    assert status == 200 and 'id="clause-BJ-ADM-02"' in latest


def test_a_clause_from_the_parent_links_to_the_parent(demo):
    status, body = get(demo, "/rulesets/national/2020.1")
    assert status == 200
    cert = element(body, "clause-NAT-CERT-01")
    assert cert and "亲属关系证明" in text(cert) and "民发〔2020〕20号" in text(cert)  # a law's number, cited
    status, gz = get(demo, "/rulesets/guangzhou/2021.1")
    assert status == 200
    assert "最多 76 项" in text(element(gz, "limits")) and 'href="#clause-GZ2021-CAP-01"' in gz


def test_the_concordance_puts_each_source_sentence_beside_its_clauses(demo):
    status, body = get(demo, "/rulesets/bijie/2017.1?view=concordance")
    assert status == 200
    rows = re.findall(r'<div class="pair sentence-row">(.*?)</div>\s*</div>', body, re.DOTALL)
    plates = [row for row in rows if PLATES in text(row)]
    assert plates and 'href="/rulesets/bijie/2017.1#clause-BJ-PLATE-00"' in plates[0]
    assert any("未建模" in text(row) for row in rows)  # a sentence no clause implements says why
    # as many sentences as `zhunru ruleset show --concordance` prints
    assert len(rows) == len(cli_json("ruleset", "show", "bijie", "--concordance"))
    assert "《毕节市关于全面推进城市社区建设的意见及附件1-6》" in body
    # each sentence's status, as the part of the source it lies in gives it: the plates rule is in 附件3
    annex3 = [row for row in rows if PLATES in row.split("</blockquote>")[0]]
    assert annex3 and '<span class="tag warn">征求意见稿</span>' in annex3[0]
    paper = [row for row in rows if "压缩会议、台账、资料" in text(row)]  # the opinions text: in force, no tag
    assert paper and "征求意见稿" not in paper[0]
    status, body = get(demo, "/rulesets/national/2020.1?view=concordance")  # national's two quoted documents
    assert status == 200 and "没有对照表" not in body
    guardian = [row for row in re.findall(r'<div class="pair sentence-row">(.*?)</div>\s*</div>', body, re.DOTALL)
                if "对监护人的确定有争议的" in text(row)]
    assert guardian and 'href="/rulesets/national/2020.1#clause-NAT-CERT-M01"' in guardian[0]


def test_the_diff_between_two_versions(demo):
    status, body = get(demo, "/rulesets/guangzhou/diff?from=2016.1&to=2021.1")
    assert status == 200
    added = element(body, "added")
    assert "亲属关系证明" in text(added) and 'href="/rulesets/national/2020.1#clause-NAT-CERT-01"' in added
    metadata = text(element(body, "metadata"))
    assert "失效日期" in metadata and "2021-01-01" in metadata and "2026-01-01" in metadata
    assert "2016.1" in text(element(body, "diff")) and "2021.1" in text(element(body, "diff"))
    # the linked clause is there
    status, national = get(demo, "/rulesets/national/2020.1")
    assert 'id="clause-NAT-CERT-01"' in national
    status, body = get(demo, "/rulesets/national/diff?from=2015.1&to=2020.1")
    assert status == 200 and "指定监护人" in text(element(body, "added"))
    status, body = get(demo, "/rulesets/guangzhou/diff")  # the empty form, set to the last change
    assert status == 200 and '<option value="2016.1" selected>' in body and '<option value="2021.1" selected>' in body
    assert element(body, "diff") is None


def test_unknown_city_or_version_is_a_404_page_in_chinese(demo):
    status, body = get(demo, "/rulesets/shanghai/2020.1")
    assert status == 404
    assert "找不到“shanghai”的规则集" in body and "毕节市" in body and "Traceback" not in body
    status, body = get(demo, "/rulesets/bijie/2099.1")
    assert status == 404
    assert "毕节市没有 2099.1 版规则集" in body and "2017.1" in body
    status, body = get(demo, "/rulesets/nowhere/diff?from=1&to=2")
    assert status == 404


def test_bad_query_values_are_422_naming_the_field(demo):
    status, body = get(demo, "/rulesets/bijie/2017.1?view=" + urllib.parse.quote("<b>x</b>"))
    assert status == 422
    assert "显示方式(view)" in body and "<b>x</b>" not in body and "&lt;b&gt;" in body
    status, body = get(demo, "/rulesets/guangzhou/diff?from=2016.1&to=2099.1")
    assert status == 422
    problem = text(element(body, "problem"))
    assert problem.startswith("对比版本(to):") and "2016.1、2021.1" in problem
    status, body = get(demo, "/rulesets/guangzhou/diff?from=&to=2021.1")
    assert status == 422 and text(element(body, "problem")).startswith("起始版本(from):")


# -- the API --------------------------------------------------------------------------------------
def test_the_api_lists_cities_and_versions(demo):
    status, cities = call(demo.base, "GET", "/api/v1/rulesets")
    assert status == 200 and isinstance(cities, list)
    by_id = {c["city"]: c for c in cities}
    assert by_id["bijie"]["name"] == "毕节市" and by_id["bijie"]["current"] == "2017.1"
    assert [v["version"] for v in by_id["national"]["versions"]] == ["2015.1", "2020.1"]
    listed = {(row["id"], row["version"]): row for row in cli_json("ruleset", "list")}
    for city in cities:
        for v in city["versions"]:
            row = listed.pop((city["city"], v["version"]))
            assert {k: v[k] for k in ("effective_from", "effective_to", "status", "coverage", "title", "sha256")} == \
                   {k: row[k] for k in ("effective_from", "effective_to", "status", "coverage", "title", "sha256")}
    assert not listed  # nothing the CLI lists is missing


def test_the_api_gives_a_ruleset_as_data(demo):
    status, data = call(demo.base, "GET", "/api/v1/rulesets/bijie/2017.1")
    assert status == 200
    shown = cli_json("ruleset", "show", "bijie@2017.1")
    assert data["ref"] == "bijie@2017.1" and data["sha256"] == shown["sha256"]
    assert data["ruleset"] == shown["ruleset"]
    adm = next(c for c in data["ruleset"]["clauses"] if c["id"] == "BJ-ADM-02")
    assert adm["source"]["quote"] == ADM_02_QUOTE
    status, same = call(demo.base, "GET", "/api/v1/rulesets/" + urllib.parse.quote("毕节") + "/2017.1")
    assert status == 200 and same == data


def test_the_api_diff_is_the_cli_diff(demo):
    status, data = call(demo.base, "GET", "/api/v1/rulesets/guangzhou/diff?from=2016.1&to=2021.1")
    assert status == 200
    expected = cli_json("ruleset", "diff", "guangzhou@2016.1", "guangzhou@2021.1")
    for side in ("a", "b"):
        expected[side].pop("path")  # where the files lie on the server is not served
    assert data == expected
    assert {"kind": "certificate", "list": "must_not_issue", "name": "亲属关系证明", "clause": "NAT-CERT-01",
            "from": "national@2020.1"} in data["added"]


def test_api_errors_are_json_naming_the_field(demo):
    status, body = call(demo.base, "GET", "/api/v1/rulesets/shanghai/2020.1")
    assert status == 404 and body["error"]["field"] == "city"
    status, body = call(demo.base, "GET", "/api/v1/rulesets/bijie/2099.1")
    assert status == 404 and body["error"]["field"] == "version" and "2017.1" in body["error"]["message"]
    status, body = call(demo.base, "GET", "/api/v1/rulesets/guangzhou/diff?from=2016.1")
    assert status == 422 and body["error"]["field"] == "to"
    # a query value is a version of the city or nothing: never a path the diff would read
    status, body = call(demo.base, "GET", "/api/v1/rulesets/guangzhou/diff?"
                        + urllib.parse.urlencode({"from": "../national/2020.1.yaml", "to": "2021.1"}))
    assert status == 422 and body["error"]["field"] == "from"
    status, body = call(demo.base, "GET", "/api/v1/rulesets/guangzhou/diff?from=2016.1&to=" + "9" * 40)
    assert status == 422 and body["error"]["field"] == "to"


def test_the_openapi_document_lists_the_routes(demo):
    status, spec = call(demo.base, "GET", "/openapi.json")
    assert status == 200
    paths = spec["paths"]
    for path in ("/api/v1/rulesets", "/api/v1/rulesets/{city}/{version}", "/api/v1/rulesets/{city}/diff"):
        assert "get" in paths[path], path
    names = {p["name"] for p in paths["/api/v1/rulesets/{city}/diff"]["get"]["parameters"]}
    assert {"city", "from", "to"} <= names
    assert not any(p.startswith("/rulesets") for p in paths)  # the pages are not API


# -- in Chromium ----------------------------------------------------------------------------------
def test_in_chromium_from_the_list_to_a_clause(demo, browser):
    from selenium.webdriver.common.by import By

    browser.get(demo.base + "/rulesets")
    link = browser.find_element(By.CSS_SELECTOR, "#city-bijie a[href='/rulesets/bijie/2017.1']")
    web.click_and_wait(browser, link)
    assert browser.find_element(By.TAG_NAME, "h1").text == "毕节市 · 2017.1 版规则集"
    browser.get(demo.base + "/rulesets/bijie/2017.1#clause-BJ-ADM-02")  # a decision's clause reference
    clause = browser.find_element(By.ID, "clause-BJ-ADM-02")
    assert browser.execute_script("return document.querySelector(':target') === arguments[0]", clause)
    top = clause.location["y"] - browser.execute_script("return window.scrollY")
    assert 0 <= top < browser.execute_script("return window.innerHeight")  # scrolled to it
    assert ADM_02_QUOTE in clause.find_element(By.TAG_NAME, "blockquote").text
    screenshot(browser, "ruleset")
    # on paper: the clauses and their quotes, not the site's header or the tabs
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    assert not browser.find_element(By.CSS_SELECTOR, "header.site").is_displayed()
    assert not browser.find_element(By.CSS_SELECTOR, "nav.tabs").is_displayed()
    assert clause.is_displayed()
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})


def test_on_a_phone_nothing_scrolls_sideways(demo, phone):
    from selenium.webdriver.common.by import By

    for path in ("/rulesets", "/rulesets/bijie/2017.1", "/rulesets/bijie/2017.1?view=concordance",
                 "/rulesets/national/2020.1", "/rulesets/guangzhou/diff?from=2016.1&to=2021.1"):
        phone.get(demo.base + path)
        assert phone.find_element(By.TAG_NAME, "h1").text, path
        assert phone.execute_script("return document.documentElement.scrollWidth <= window.innerWidth"), path
    phone.get(demo.base + "/rulesets/bijie/2017.1?view=concordance")
    sentence = phone.find_element(By.CSS_SELECTOR, ".sentence-row .sentence")
    clauses = phone.find_element(By.CSS_SELECTOR, ".sentence-row .impl")
    assert clauses.location["y"] > sentence.location["y"]  # stacked, not side by side, at 390 px
    screenshot(phone, "ruleset-phone")
