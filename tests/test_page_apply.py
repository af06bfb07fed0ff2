"""准入申请 (/apply) and 我的申请 (/requests) against `zhunru serve --demo`: in Chromium as the
七星关区应急管理局 clerk files and reads the decision, and over HTTP with a session cookie for what
a browser would not send (a form without its CSRF token, another department's name, an empty
matter, an upload over the limit). "Nothing logged" is the log's own row count
(/api/v1/log/verify, as the admin)."""
from __future__ import annotations

import hashlib
import html
import http.cookiejar
import json
import re
import urllib.error
import urllib.parse
import urllib.request
import uuid

import web
from web import click_and_wait as follow, login, screenshot

demo, browser = web.demo, web.browser  # web.py's fixtures: `zhunru serve --demo` (per module), Chromium

DEPARTMENT = "七星关区应急管理局"  # the demo's department account qxg-emergency
STREET = '["七星关区", "市西街道"]'  # the form's value for all of 市西街道 (洪山社区, 南关社区)
OVER_LIMIT = 3 * 1024 * 1024  # the pages' form limit is 2 MiB (service/pages/common.MAX_FORM)


class _Stay(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # a 303 is the answer itself: its Location is checked
        return None


class Client:
    """A browser's session over plain HTTP: the cookie from POST /login, the CSRF token from a form."""

    def __init__(self, base: str, name: str, password: str | None):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
                                                  _Stay())
        if name:
            status, _body, headers = self.post("/login", {"name": name, "password": password})
            assert status == 303, _body
            assert "/login" not in headers["Location"]

    def send(self, method: str, path: str, data: bytes | None = None, content_type: str | None = None,
             headers: dict | None = None):
        sent = {**({"Content-Type": content_type} if content_type else {}), **(headers or {})}
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=sent)
        try:
            with self.opener.open(request, timeout=60) as response:
                return response.status, response.read().decode(), response.headers
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode("utf-8", "replace"), exc.headers

    def get(self, path: str):
        return self.send("GET", path)

    def post(self, path: str, fields: dict | list):
        return self.send("POST", path, urllib.parse.urlencode(fields).encode(), "application/x-www-form-urlencoded")

    def post_multipart(self, path: str, fields: list[tuple[str, str]], file: tuple[str, bytes] | None = None):
        """A multipart form as a browser sends it: text fields, and the file as `attachment`."""
        boundary = uuid.uuid4().hex
        parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
                 for k, v in fields]
        if file:
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="attachment"; filename="{file[0]}"\r\n'
                         f"Content-Type: application/octet-stream\r\n\r\n".encode() + file[1] + b"\r\n")
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        return self.send("POST", path, body, f"multipart/form-data; boundary={boundary}")

    def csrf(self) -> str:
        status, body, _ = self.get("/apply")
        assert status == 200, body
        return re.search(r'name="csrf" value="([^"]+)"', body).group(1)

    def json(self, path: str):
        status, body, _ = self.get(path)
        assert status == 200, body
        return json.loads(body)


def filing(csrf: str | None, **changes) -> list[tuple[str, str]]:
    """The form's fields for a funded off-list task for 洪山社区, with `changes`."""
    fields = {"csrf": csrf, "department": DEPARTMENT, "level": "district", "role": "department", "city": "bijie",
              "date": "2026-05-11", "kind": "task", "matter": "社区防汛物资清点", "community": "QX-001",
              "amount": "50000", "source": "区财政", "document": "七财发〔2026〕30号", "funding_kind": "funds",
              "personnel": "0", **changes}
    return [(k, v) for k, v in fields.items() if v is not None]


def logged_rows(demo) -> int:
    return Client(demo.base, "admin", demo.password).json("/api/v1/log/verify")["checked"]


def text_of(body: str, ident: str) -> str:
    found = re.search(rf'<(\w+)[^>]*\bid="{ident}"[^>]*>(.*?)</\1>', body, re.DOTALL)
    assert found, f"no #{ident}"
    return html.unescape(re.sub(r"<[^>]+>", "", found.group(2))).strip()


def request_rows(body: str) -> list[str]:
    """The decision ids /requests links to, in the order shown."""
    table = re.search(r'<table[^>]*id="requests".*?</table>', body, re.DOTALL)
    return re.findall(r'href="/decisions/([^"]+)"', table.group(0)) if table else []


# -- in Chromium ----------------------------------------------------------------------------------
def test_department_files_a_funded_off_list_task_and_lands_on_its_decision(demo, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    notice = tmp_path / "七财发〔2026〕30号.txt"
    notice.write_bytes("关于下达社区防汛物资清点工作经费的通知\n".encode())
    login(browser, demo.base, "qxg-emergency", demo.password)
    assert browser.current_url.endswith("/apply")  # a department's home
    department = browser.find_element(By.ID, "department")
    assert department.get_attribute("value") == DEPARTMENT and department.get_attribute("readonly")
    assert Select(browser.find_element(By.ID, "city")).first_selected_option.text == "毕节市"
    suggested = [o.get_attribute("value") for o in browser.find_elements(By.CSS_SELECTOR, "datalist#catalogue option")]
    assert "社区矫正" in suggested  # the city's catalogue

    browser.find_element(By.ID, "matter").send_keys("社区防汛物资清点")
    browser.find_element(By.CSS_SELECTOR, "input[name=street][value*='市西街道']").click()
    browser.find_element(By.ID, "amount").send_keys("50000")
    browser.find_element(By.ID, "source").send_keys("区财政")
    browser.find_element(By.ID, "document").send_keys("七财发〔2026〕30号")
    browser.find_element(By.ID, "attachment").send_keys(str(notice))
    follow(browser, browser.find_element(By.ID, "submit"))
    assert "/decisions/" in browser.current_url, browser.find_element(By.TAG_NAME, "main").text

    decision_id = browser.current_url.rsplit("/", 1)[1]
    # Bijie: off its partial lists: needs approval under the opinions text (BJ-ADM-02, in force), not advisory
    assert "须经审批" in browser.find_element(By.ID, "outcome").text and "参考意见" not in browser.find_element(By.ID, "outcome").text
    main = browser.find_element(By.TAG_NAME, "main").text
    assert "社区防汛物资清点" in main and DEPARTMENT in main
    assert "洪山社区" in main and "南关社区" in main  # all of 市西街道, from the registry
    assert "不能因此拒绝;须经区(县)社区工作领导协调机构审批" in main  # LIST_PARTIAL, with its clause
    assert "为征求意见稿" not in main  # no SOURCE_DRAFT: the decision rests on no draft
    quotes = [q.text for q in browser.find_elements(By.CSS_SELECTOR, ".card blockquote")]
    assert any("应按程序报批" in q and "权随责走、费随事转" in q for q in quotes)  # BJ-ADM-02 quoted verbatim
    screenshot(browser, "apply-department")

    # the file itself is not kept: its name, size and sha256 are logged with the funding
    browser.get(f"{demo.base}/api/v1/decisions/{decision_id}")
    view = json.loads(browser.find_element(By.TAG_NAME, "body").text)
    files = [a for a in view["attachments"] if a["kind"] == "file"]
    assert files == [{"amount": "50000", "source": "区财政", "document": "七财发〔2026〕30号", "kind": "file",
                      "path": notice.name, "size": notice.stat().st_size, "position": 1,
                      "sha256": hashlib.sha256(notice.read_bytes()).hexdigest()}]
    assert view["request"]["id"].startswith("web-20")

    browser.get(demo.base + "/requests")
    first = browser.find_element(By.CSS_SELECTOR, "table#requests tbody tr")
    assert "社区防汛物资清点" in first.text and "须经审批" in first.text and "待审批" in first.text
    follow(browser, first.find_element(By.CSS_SELECTOR, f"a[href='/decisions/{decision_id}']"))
    assert browser.current_url.endswith(f"/decisions/{decision_id}")


def test_an_upload_over_the_limit_is_refused_with_a_clear_message_in_chromium(demo, browser, tmp_path):
    from selenium.webdriver.common.by import By


    big = tmp_path / "扫描件.pdf"
    big.write_bytes(b"%PDF" + b"\0" * OVER_LIMIT)
    before = logged_rows(demo)
    login(browser, demo.base, "qxg-emergency", demo.password)
    browser.get(demo.base + "/apply")
    browser.find_element(By.ID, "matter").send_keys("社区防汛物资清点")
    browser.find_element(By.CSS_SELECTOR, "input[name=community][value='QX-001']").click()
    browser.find_element(By.ID, "attachment").send_keys(str(big))
    follow(browser, browser.find_element(By.ID, "submit"))  # the 413 page, not a reset connection
    problem = browser.find_element(By.CSS_SELECTOR, ".problem").text
    assert problem.startswith("附件:文件过大") and "2.0 MiB" in problem
    assert logged_rows(demo) == before


# -- over HTTP ------------------------------------------------------------------------------------
def test_a_form_without_its_csrf_token_is_refused_and_nothing_is_logged(demo):
    clerk = Client(demo.base, "qxg-emergency", demo.password)
    before = logged_rows(demo)
    status, body, _ = clerk.post_multipart("/apply", filing(None))
    assert status == 403 and "csrf" in body
    status, body, _ = clerk.post_multipart("/apply", filing("not-the-token"))
    assert status == 403
    assert logged_rows(demo) == before


def test_a_department_cannot_file_for_another_department(demo):
    clerk = Client(demo.base, "qxg-emergency", demo.password)
    before = logged_rows(demo)
    status, body, _ = clerk.post_multipart("/apply", filing(clerk.csrf(), department="大方县民政局"))
    assert status == 403
    assert "大方县民政局" in html.unescape(body)
    assert logged_rows(demo) == before


def test_an_empty_matter_brings_the_form_back_naming_the_field(demo):
    clerk = Client(demo.base, "qxg-emergency", demo.password)
    before = logged_rows(demo)
    status, body, _ = clerk.post_multipart("/apply", filing(clerk.csrf(), matter="", street=STREET, amount="12345.5"))
    assert status == 422
    assert text_of(body, "problem").startswith("事项名称:")
    assert 'value="12345.5"' in body  # the values are kept
    assert re.search(r'name="community" value="QX-001" checked', body)
    assert re.search(r'name="street" value="\[&#34;七星关区&#34;, &#34;市西街道&#34;\]" checked', body)
    assert logged_rows(demo) == before


def test_other_bad_fields_are_named_in_chinese(demo):
    clerk = Client(demo.base, "qxg-emergency", demo.password)
    before = logged_rows(demo)
    for changes, field in [({"amount": "五万"}, "经费金额"), ({"source": ""}, "经费来源"),
                           ({"community": None}, "目标社区"), ({"community": "QX-999"}, "目标社区"),
                           ({"date": "2026-13-01"}, "申请日期"), ({"personnel": "-1"}, "下派人员"),
                           ({"date": "2001-01-01"}, "申请日期"), ({"kind": "parade"}, "事项类型")]:
        status, body, _ = clerk.post_multipart("/apply", filing(clerk.csrf(), **changes))
        assert status == 422, (changes, body)
        assert text_of(body, "problem").startswith(field), (changes, text_of(body, "problem"))
    assert logged_rows(demo) == before


def test_an_upload_over_the_limit_is_refused_and_nothing_is_logged(demo):
    clerk = Client(demo.base, "qxg-emergency", demo.password)
    before = logged_rows(demo)
    status, body, _ = clerk.post_multipart("/apply", filing(clerk.csrf()), ("scan.pdf", b"\0" * OVER_LIMIT))
    assert status == 413
    assert "文件过大" in html.unescape(body)
    assert logged_rows(demo) == before


def test_admin_files_for_any_department_and_reads_every_request(demo):
    admin = Client(demo.base, "admin", demo.password)
    status, body, _ = admin.get("/apply")
    assert status == 200 and 'id="department" name="department" value=""' in body
    assert not re.search(r'<input[^>]*id="department"[^>]*readonly', body)
    status, _body, headers = admin.post_multipart("/apply", filing(
        admin.csrf(), department="大方县民政局", matter="社区养老服务需求摸排", community="DF-001",
        amount="８，０００", source="县财政", document="大财发〔2026〕9号"))  # typed on a Chinese keyboard
    assert status == 303 and headers["Location"].startswith("/decisions/")
    decision_id = headers["Location"].rsplit("/", 1)[1]
    filed = admin.json(f"/api/v1/decisions/{decision_id}")["request"]
    assert filed["department"]["name"] == "大方县民政局" and filed["funding"]["amount"] == "8000"

    status, body, _ = admin.get("/requests?department=" + urllib.parse.quote("大方县民政局"))
    assert status == 200 and request_rows(body)[0] == decision_id
    assert DEPARTMENT not in body.split('id="requests"')[1]  # one department's
    assert decision_id in request_rows(admin.get("/requests")[1])  # all of them
    # a department sees its own only, whatever it asks for
    clerk = Client(demo.base, "qxg-emergency", demo.password)
    assert decision_id not in request_rows(clerk.get("/requests?department=" + urllib.parse.quote("大方县民政局"))[1])


def test_requests_are_newest_first_a_page_at_a_time(demo):
    clerk = Client(demo.base, "qxg-emergency", demo.password)
    token = clerk.csrf()
    for i in range(52):  # more than a page, through the JSON API with the same session
        request = {"id": f"page-{i:03d}", "city": "bijie", "date": "2026-05-11", "kind": "task",
                   "department": {"name": DEPARTMENT}, "matter": f"社区走访登记{i}",
                   "communities": [{"code": "QX-002", "name": "南关社区"}]}
        status, body, _ = clerk.send("POST", "/api/v1/evaluate", json.dumps(request).encode(), "application/json",
                                     {"X-CSRF-Token": token})
        assert status == 200, body
    status, first, _ = clerk.get("/requests")
    shown = request_rows(first)
    assert status == 200 and len(shown) == 50
    assert "page-051" in first.split('id="requests"')[1][:1500]  # the newest first
    later = html.unescape(re.search(r'href="([^"]+)" id="later"', first).group(1))
    status, second, _ = clerk.get(later)
    rest = request_rows(second)
    assert status == 200 and rest and not set(rest) & set(shown)
    assert "demo-001" in second  # the oldest, on the last page
    assert not re.search(r'id="later"', second)


def test_the_pages_are_for_departments_and_admins(demo):
    status, _body, headers = Client(demo.base, "", None).get("/apply")
    assert status == 303 and headers["Location"].startswith("/login")
    community = Client(demo.base, "hongshan", demo.password)
    assert community.get("/apply")[0] == 403
    assert community.get("/requests")[0] == 403
    assert Client(demo.base, "qxg-emergency", demo.password).get("/requests?before=x")[0] == 422
