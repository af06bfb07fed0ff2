"""Batches over HTTP: JSON Lines and the XLSX template through the API and the 批量导入 page.
Every row is checked first: a bad row or another department's row is a 4xx naming it and
nothing is logged; the page shows progress and the outcomes (SQLite and PostgreSQL)."""
from __future__ import annotations

import io
import json
import urllib.request

import pytest

from helpers import REPO
from web import Server, add_account, browser, call, click_and_wait, login, screenshot, zhunru  # noqa: F401

DEPT = {"name": "七星关区应急管理局", "level": "district"}


def line(i: int, **overrides) -> dict:
    return {"id": f"b-{i}", "city": "bijie", "date": "2021-05-01", "department": DEPT, "kind": "task",
            "matter": "社区应急演练组织", "communities": [{"code": "QX-001"}],
            "funding": {"amount": 100, "source": "区财政"}, **overrides}


def jsonl(rows) -> bytes:
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode()


def sheet(rows: list[list]) -> bytes:
    from openpyxl import Workbook, load_workbook

    from zhunru.office.batch import template

    book = load_workbook(io.BytesIO(template()))
    ws = book.active
    ws.delete_rows(2)
    for r in rows:
        ws.append(r)
    out = io.BytesIO()
    book.save(out)
    assert Workbook  # the template is a real workbook openpyxl reads back
    return out.getvalue()


def post(base: str, body: bytes, token: str, kind: str = "application/x-ndjson") -> tuple[int, dict]:
    return call(base, "POST", "/api/v1/evaluate/batch", body, token=token, headers={"Content-Type": kind})


@pytest.fixture
def office(db_url):
    assert zhunru("community", "import", str(REPO / "examples" / "district" / "communities.csv"),
                  "--db", db_url).returncode == 0
    tokens = {"dept": add_account(db_url, "dept", "department", "七星关区应急管理局", password="correct-horse-1"),
              "audit": add_account(db_url, "audit", "auditor")}
    server = Server(["--db", db_url])
    yield server.base, tokens
    server.stop()


def logged(base, tokens) -> int:
    """Rows logged since the office was set up (its registry import is row 1 of the chain)."""
    return call(base, "GET", "/api/v1/log/verify", token=tokens["audit"])[1]["checked"] - 1


def test_batches_through_the_api(office):
    base, tokens = office
    status, answer = post(base, jsonl([line(1), line(2), line(3, matter="招商引资")]), tokens["dept"])
    assert status == 200 and answer["count"] == 3, answer
    assert [d["request_id"] for d in answer["decisions"]] == ["b-1", "b-2", "b-3"]

    # one bad line, or one row of another department: nothing of the batch is logged
    for body, code, message in [
        (jsonl([line(4), {**line(5), "kind": "parade"}]), 422, "line 2: kind"),
        (jsonl([line(4)]) + b"\n{not json", 400, "line 2: request: not valid JSON"),
        (jsonl([line(4), line(5, department={"name": "七星关区统计局"})]), 403, "line 2: department.name"),
        (b"\n\n", 422, "batch: no requests"),
    ]:
        status, answer = post(base, body, tokens["dept"])
        assert status == code and answer["error"]["message"].startswith(message), answer
    assert logged(base, tokens) == 3
    assert post(base, jsonl([line(6)]), tokens["audit"])[0] == 403

    # the XLSX template, filled in
    rows = [["x-1", "毕节", "2021-05-01", "七星关区应急管理局", "区县", "工作事项", "社区应急演练组织",
             "全部:市西街道", 30000, "区财政", "七财发〔2021〕21号", None, None],
            ["x-2", "毕节", "2021-05-01", "七星关区应急管理局", "区县", "工作事项", "入户经济普查", "QX-003",
             None, None, None, None, None]]
    status, answer = post(base, sheet(rows), tokens["dept"], "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    # x-2 has no funds but Bijie's lists are partial: it waits for the district body too
    assert status == 200 and answer["outcomes"] == {"needs_approval": 2}, answer
    assert [c["code"] for c in call(base, "GET", "/api/v1/decisions/x-1", token=tokens["audit"])[1]["request"]["communities"]] \
        == ["QX-001", "QX-002"]
    bad = [rows[0][:5] + ["游行"] + rows[0][6:]]
    status, answer = post(base, sheet(bad), tokens["dept"])
    assert status == 422 and answer["error"]["message"].startswith("row 2, column F (kind): '游行' is not a kind"), answer
    bad = [rows[0][:8] + ["很多"] + rows[0][9:]]
    status, answer = post(base, sheet(bad), tokens["dept"])
    assert status == 422 and "row 2, column I (amount)" in answer["error"]["message"]
    status, answer = post(base, b"PK\x03\x04not really a zip", tokens["dept"])
    assert status == 422 and answer["error"]["message"].startswith("batch: a damaged XLSX file")
    assert logged(base, tokens) == 5


def test_the_batch_page_shows_progress_and_the_outcomes(office, browser, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By

    base, tokens = office
    login(browser, base, "dept", "correct-horse-1")
    browser.get(base + "/apply/batch")
    with urllib.request.urlopen(base + "/apply/template.xlsx", timeout=30) as response:
        assert response.read(4) == b"PK\x03\x04"
    upload = tmp_path / "batch.jsonl"
    upload.write_bytes(jsonl([line(i) for i in range(250)]))
    browser.find_element(By.ID, "file").send_keys(str(upload))
    click_and_wait(browser, browser.find_element(By.ID, "upload"))
    done = browser.find_element(By.ID, "batch-done").text
    assert "已处理 250 项" in done and "全部已记入日志" in done
    assert len(browser.find_elements(By.CSS_SELECTOR, "#batch-result tbody tr")) == 250
    assert browser.find_elements(By.CSS_SELECTOR, ".progress progress")  # the progress lines were sent
    screenshot(browser, "batch")
    assert logged(base, tokens) == 250

    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(jsonl([line(300), {**line(301), "date": "2021-13-45"}]))
    browser.get(base + "/apply/batch")
    browser.find_element(By.ID, "file").send_keys(str(bad))
    click_and_wait(browser, browser.find_element(By.ID, "upload"))
    assert "line 2: date" in browser.find_element(By.CSS_SELECTOR, "[role=alert]").text
    assert logged(base, tokens) == 250
