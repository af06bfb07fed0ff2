"""予以公布 over HTTP (public): the page, the CSV and the XLSX of a district's admitted list, with
the withdrawn matters; cells a spreadsheet would run are written as text (SQLite and PostgreSQL)."""
from __future__ import annotations

import io
import json
import urllib.parse
import urllib.request

import pytest

from helpers import REPO
from web import Server, add_account, call, zhunru

DRILL = json.loads((REPO / "examples" / "district" / "drill.json").read_text(encoding="utf-8"))
HOSTILE = ["=1+1", "+cmd|' /C calc'!A0", "@SUM(A1)", "-2+3", "=HYPERLINK(\"http://x\",\"y\")"]


def fetch(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status, response.headers.get("content-type", ""), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("content-type", ""), exc.read()


@pytest.fixture
def district(db_url):
    assert zhunru("community", "import", str(REPO / "examples" / "district" / "communities.csv"),
                  "--db", db_url).returncode == 0
    admin = add_account(db_url, "admin", "admin")
    server = Server(["--db", db_url])
    for i, matter in enumerate(HOSTILE):
        request = dict(DRILL, id=f"h-{i}", matter=matter, department={**DRILL["department"], "name": matter})
        decision = call(server.base, "POST", "/api/v1/evaluate", request, token=admin)[1]
        assert decision["outcome"] == "needs_approval", decision
        assert call(server.base, "POST", f"/api/v1/decisions/h-{i}/approve", {"note": matter}, token=admin)[0] == 200
    assert call(server.base, "POST", "/api/v1/decisions/h-0/withdraw", {"note": "经费未到位"}, token=admin)[0] == 200
    yield server.base
    server.stop()


def test_the_admitted_list_as_page_csv_and_xlsx(district):
    from openpyxl import load_workbook

    query = "district=" + urllib.parse.quote("七星关区")
    status, kind, body = fetch(f"{district}/published?{query}")
    page = body.decode()
    assert status == 200 and "七星关区社区工作事项准入清单" in page and "共 4 项,已撤销 1 项" in page
    assert "=HYPERLINK(&#34;http://x&#34;,&#34;y&#34;)" in page or "=HYPERLINK(&quot;" in page  # escaped, shown as text
    assert "经费未到位" in page and 'id="withdrawn"' in page

    status, kind, body = fetch(f"{district}/published.csv?{query}")
    assert status == 200 and kind.startswith("text/csv") and body.startswith("\ufeff".encode())
    text = body.decode("utf-8-sig")
    for matter in HOSTILE[1:]:
        assert f"'{matter}" in text.replace('""', '"'), matter  # neutralised with a leading apostrophe
    assert "'=1+1" not in text  # withdrawn: not on the list

    status, kind, body = fetch(f"{district}/published.xlsx?{query}")
    assert status == 200 and "spreadsheetml" in kind
    sheet = load_workbook(io.BytesIO(body)).active
    cells = [c for row in sheet.iter_rows() for c in row if c.value in HOSTILE]
    assert len(cells) >= 8 and all(c.data_type == "s" for c in cells)  # text, never a formula
    assert not any(c.data_type == "f" for row in sheet.iter_rows() for c in row)

    assert fetch(f"{district}/published.csv")[0] == 422
    status, _, body = fetch(f"{district}/published?{query}&start=2021-13-01")
    assert status == 422 and "start: &#39;2021-13-01&#39; is not a date" in body.decode()
