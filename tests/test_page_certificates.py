"""证明查询 (GET /certificates, public): over HTTP against `zhunru serve --demo`, and in Chromium
at a phone's viewport, as a resident would use it. The verdicts are those of the shipped
rulesets (national@2020.1's first batch and, for what no list names, its legal-basis rule NAT-CERT-00 from
2020-04-27; before that day bijie's 公章 clause, a 征求意见稿, so advisory)."""
from __future__ import annotations

import html
import re
import urllib.parse

import web
from web import call, screenshot

demo, phone = web.demo, web.phone  # web.py's fixtures: `zhunru serve --demo` (per module), Chromium at 390 px

SEAL_QUOTE = "其他事项原则上不由社区盖章"  # bijie@2017.1#BJ-SEAL-01, verbatim from its source
BASIS_QUOTE = "凡是没有法律法规依据或未经国务院批准列入保留证明事项清单的证明事项"  # national@2020.1#NAT-CERT-00


def ask(server, **fields) -> tuple[int, str]:
    status, body = call(server.base, "GET", "/certificates?" + urllib.parse.urlencode(fields))
    assert isinstance(body, str), body
    return status, body


def by_id(body: str, ident: str) -> str | None:
    """The text of the element with id `ident` (tags dropped, entities decoded), or None."""
    found = re.search(rf'<(\w+)[^>]*\bid="{ident}"[^>]*>(.*?)</\1>', body, re.DOTALL)
    return html.unescape(re.sub(r"<[^>]+>", "", found.group(2))).strip() if found else None


def reasons(body: str) -> list[str]:
    return re.findall(r'class="card reason"', body)


def test_the_form_is_public_and_lists_cities_by_their_chinese_names(demo):
    status, body = ask(demo)
    assert status == 200
    assert 'method="get"' in body and 'id="text"' in body and 'id="date"' in body and 'id="basis"' in body
    assert "如有法律法规依据,请填写" in body
    assert '<option value="bijie">毕节市</option>' in body
    assert '<option value="guangzhou">广州市</option>' in body
    assert by_id(body, "verdict") is None and by_id(body, "problem") is None


def test_a_listed_certificate_by_chinese_city_name(demo):
    status, body = ask(demo, text="亲属关系证明", city="毕节")
    assert status == 200
    assert by_id(body, "verdict") == "社区不应出具此证明"
    assert len(reasons(body)) == 1
    assert "national@2020.1#NAT-CERT-01" in body  # the clause
    assert "民发〔2020〕20号" in body  # its source (a law: cited, not quoted)
    assert '<option value="bijie" selected>' in body  # 毕节 chose the city in the select


def test_a_quoted_source_is_shown_verbatim_with_its_document_title(demo):
    status, body = ask(demo, text="居住证明", city="毕节市")
    assert status == 200
    assert by_id(body, "verdict") == "社区不应出具此证明"
    quote = re.search(r"<blockquote>(.*?)</blockquote>", body, re.DOTALL)
    assert quote and BASIS_QUOTE in html.unescape(quote.group(1))
    assert "national@2020.1#NAT-CERT-00" in body and "bijie@2017.1#BJ-SEAL-01" not in body  # binding, not the draft
    assert "关于改进和规范基层群众性自治组织出具证明工作的指导意见" in body  # the document's title, not its file name
    status, body = ask(demo, text="居住证明", city="毕节市", date="2020-01-01")  # before 民发〔2020〕20号
    quote = re.search(r"<blockquote>(.*?)</blockquote>", body, re.DOTALL)
    assert status == 200 and quote and SEAL_QUOTE in html.unescape(quote.group(1))
    assert "bijie@2017.1#BJ-SEAL-01" in body
    assert "毕节市关于进一步加强城市社区管理和服务的实施方案" in body  # its part's title (附件3)


def test_traditional_and_full_width_input(demo):
    # 畢節 and ＢＩＪＩＥ name the city; 親屬關係證明 and a full-width space and full stop the certificate
    for text, city in (("親屬關係證明", "畢節"), ("亲属关系　证明。", "ＢＩＪＩＥ"), ("亲属关系证明（ ）", "毕节")):
        status, body = ask(demo, text=text, city=city)
        assert status == 200, text
        assert by_id(body, "verdict") == "社区不应出具此证明", text
        assert "national@2020.1#NAT-CERT-01" in body, text
        assert "按规定中的名称:亲属关系证明" in body, text
        assert '<option value="bijie" selected>' in body, city


def test_a_colloquial_request(demo):
    status, body = ask(demo, text="开一份亲属关系证明", city="bijie")
    assert status == 200
    assert by_id(body, "verdict") == "社区不应出具此证明"
    assert "NAT-CERT-01" in body
    status, body = ask(demo, text="开一份居住证明", city="bijie")
    assert status == 200
    assert by_id(body, "verdict") == "社区不应出具此证明"
    assert BASIS_QUOTE in body
    assert "您是不是要查:" in body
    links = re.findall(r'<div id="suggestions".*?</div>', body, re.DOTALL)[0]
    hrefs = [html.unescape(h) for h in re.findall(r'href="([^"]+)"', links)]
    assert hrefs and all(h.startswith("/certificates?") and "city=bijie" in h for h in hrefs)
    # a suggestion is a working link to the same page
    status, again = call(demo.base, "GET", hrefs[0])
    assert status == 200 and by_id(again, "verdict")


def test_must_issue_and_a_stated_basis(demo):
    status, body = ask(demo, text="指定监护人", city="广州")
    assert status == 200
    assert by_id(body, "verdict") == "社区应当出具此证明"
    assert "被监护人住所地的居民委员会" in body  # 民法典 第三十一条, quoted
    status, body = ask(demo, text="居住证明", city="bijie", basis="《户口登记条例》第十条")
    assert status == 200
    assert by_id(body, "verdict").startswith("无明确规定")
    assert "《户口登记条例》第十条" in body  # the form keeps what was typed


def test_an_unknown_city_names_the_field(demo):
    status, body = ask(demo, text="居住证明", city="上海")
    assert status == 422
    problem = by_id(body, "problem")
    assert problem.startswith("城市:") and "上海" in problem and "毕节市" in problem
    assert "\n" not in problem and "Traceback" not in body
    assert by_id(body, "verdict") is None
    assert 'value="居住证明"' in body  # the form comes back as it was filled in


def test_overlong_text_and_bad_dates_name_the_field(demo):
    status, body = ask(demo, text="证" * 201, city="bijie")
    assert status == 422
    assert by_id(body, "problem").startswith("要求开具的证明:最多 200 个字")
    status, body = ask(demo, text="居住证明", city="bijie", date="2021-13-01")
    assert status == 422
    assert by_id(body, "problem").startswith("日期:")
    status, body = ask(demo, text="居住证明", city="bijie", date="2016-01-01")  # before bijie's first version
    assert status == 422
    assert by_id(body, "problem").startswith("日期:") and "2017-01-01" in by_id(body, "problem")
    status, body = ask(demo, text="居住证明", city="bijie", date="2019-06-01")
    assert status == 200 and "2019-06-01" in by_id(body, "asked")


def test_what_a_stranger_types_is_escaped(demo):
    status, body = ask(demo, text='<script>alert(1)</script>"', city="bijie", basis="</textarea><b>x</b>")
    assert status == 200
    assert "<script>alert" not in body and "</textarea><b>" not in body
    assert "&lt;script&gt;" in body


def test_on_a_phone(demo, phone):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    phone.get(demo.base + "/certificates")
    phone.find_element(By.ID, "text").send_keys("開一份居住證明")  # as a phone set to traditional characters types it
    Select(phone.find_element(By.ID, "city")).select_by_visible_text("毕节市")
    web.click_and_wait(phone, phone.find_element(By.ID, "ask-button"))  # a GET form: a new page
    verdict = phone.find_element(By.ID, "verdict")
    assert verdict.text == "社区不应出具此证明"
    assert "/certificates?" in phone.current_url and "city=bijie" in phone.current_url  # a link one can send on
    quotes = phone.find_elements(By.CSS_SELECTOR, ".reason blockquote")
    assert quotes and BASIS_QUOTE in quotes[0].text and quotes[0].is_displayed()
    assert phone.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    assert verdict.location["y"] < phone.execute_script("return window.innerHeight")  # seen without scrolling
    screenshot(phone, "certificates-phone")
    # on paper: the answer and its sources, not the form, the suggestions or the site's header
    phone.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    assert not phone.find_element(By.ID, "ask").is_displayed()
    assert not phone.find_element(By.ID, "suggestions").is_displayed()
    assert verdict.is_displayed() and quotes[0].is_displayed()
    assert "開一份居住證明" in phone.find_element(By.ID, "asked").text  # what was asked stays on the page
    phone.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    # the longest query a resident may type does not widen the page either
    phone.get(demo.base + "/certificates?" + urllib.parse.urlencode({"text": "证" * 200, "city": "bijie"}))
    assert phone.find_element(By.ID, "verdict").text
    assert phone.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
