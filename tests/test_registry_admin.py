"""Registry management: XLSX import beside CSV, editing and retiring a community, every change
recorded (zhunru_community_change), on the CLI (the console script as a subprocess, SQLite and
PostgreSQL) and on the /registry page of `zhunru serve` (HTTP with a session and its CSRF token;
one run in Chromium). A database made before `retired_at` existed opens and gains the column."""
from __future__ import annotations

import datetime as dt
import html
import io
import json
import re
import urllib.error
import urllib.request
import uuid
import zipfile

import pytest
import web
from helpers import REPO
from test_roles import Browser
from web import Server, add_account, screenshot, zhunru
from web import click_and_wait as follow

browser = web.browser  # web.py's Chromium fixture

EXAMPLE = REPO / "examples" / "district" / "communities.csv"  # QX-001..003 of 七星关区
PATROL = json.loads((REPO / "examples" / "district" / "patrol.json").read_text(encoding="utf-8"))  # names QX-003
HEADER = ["社区名称", "社区代码", "区县", "街道", "人口", "户数"]


def xlsx(rows: list[list], header: list | None = None) -> bytes:
    """A workbook as an office saves it: the header row, then `rows`, on the first sheet."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(header or HEADER)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def write(path, data: bytes):
    path.write_bytes(data)
    return str(path)


def ok_json(*args: str, db: str):
    done = zhunru(*args, "--format", "json", "--db", db)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def one_line_error(done, *expected: str) -> str:
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.startswith("zhunru: error: ") and done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stderr
    for text in expected:
        assert text in done.stderr, done.stderr
    return done.stderr


def listed(db: str, *extra: str) -> dict:
    return {r["code"]: r for r in ok_json("community", "list", "--retired", *extra, db=db)}


# -- the CLI ------------------------------------------------------------------------------------
def test_xlsx_import_edit_retire_and_history(tmp_path, db_url):
    assert zhunru("community", "import", str(EXAMPLE), "--db", db_url).returncode == 0
    book = write(tmp_path / "名册.xlsx", xlsx([["新村社区", "QX-004", "七星关区", "市东街道", 900, 300],
                                              ["南关社区", "QX-002", "七星关区", "市西街道", 5300.0, "1,800"]]))
    result = ok_json("community", "import", book, db=db_url)
    assert (result["added"], result["updated"], result["unchanged"]) == (1, 1, 0)
    assert result["codes"] == {"added": ["QX-004"], "updated": ["QX-002"]}
    rows = listed(db_url)
    assert (rows["QX-002"]["population"], rows["QX-002"]["households"]) == (5300, 1800)
    assert rows["QX-004"]["street"] == "市东街道" and rows["QX-004"]["retired_at"] is None
    again = ok_json("community", "import", book, db=db_url)  # re-importing changes nothing
    assert (again["added"], again["updated"], again["unchanged"]) == (0, 0, 2)

    # edit: one line naming the option for a bad value; an unknown code; nothing to change
    edited = ok_json("community", "edit", "QX-001", "--population", "8400", "--name", "洪山社区", db=db_url)
    assert edited == {"code": "QX-001", "changes": [{"field": "population", "old": 8200, "new": 8400}]}
    one_line_error(zhunru("community", "edit", "QX-001", "--households", "many", "--db", db_url),
                   "--households: 'many' is not a whole number ≥ 0")
    one_line_error(zhunru("community", "edit", "QX-001", "--name", "all", "--db", db_url), "--name: 'all' is reserved")
    one_line_error(zhunru("community", "edit", "QX-404", "--population", "1", "--db", db_url),
                   "CODE: no community 'QX-404'")
    one_line_error(zhunru("community", "edit", "QX-001", "--db", db_url), "CODE: nothing to change")
    assert listed(db_url)["QX-001"]["population"] == 8400

    # a request decided before the retirement stays readable in the log
    before = dict(PATROL, id="patrol-before")
    logged = zhunru("evaluate", write(tmp_path / "before.json", json.dumps(before).encode()), "--db", db_url)
    assert logged.returncode == 0, logged.stderr

    today = dt.date.today().isoformat()
    retired = ok_json("community", "retire", "QX-003", "--on", today, db=db_url)
    assert retired["retired_at"] == today and retired["name"] == "东门社区"
    one_line_error(zhunru("community", "retire", "QX-003", "--db", db_url), "already retired")
    one_line_error(zhunru("community", "retire", "QX-003", "--on", "soon", "--db", db_url), "--on: 'soon'")
    assert "QX-003" not in {r["code"] for r in ok_json("community", "list", db=db_url)}
    assert listed(db_url)["QX-003"]["retired_at"] == today

    # a request naming the retired community, by code or by name, is refused naming communities[0]
    for i, community in enumerate(({"code": "QX-003"}, {"name": "東門社區"})):
        request = dict(PATROL, id=f"patrol-after-{i}", communities=[community])
        refused = zhunru("evaluate", write(tmp_path / f"after{i}.json", json.dumps(request).encode()), "--db", db_url)
        one_line_error(refused, "communities[0]: community QX-003 (东门社区) was retired on")
    # `all` of its street leaves it out
    street = dict(PATROL, id="patrol-street", communities=[{"name": "all", "street": "市东街道"}])
    done = zhunru("evaluate", write(tmp_path / "street.json", json.dumps(street).encode()), "--db", db_url)
    assert done.returncode == 0, done.stderr
    shown = ok_json("log", "show", "patrol-street", db=db_url)
    assert [c["code"] for c in shown["request"]["communities"]] == ["QX-004"]
    assert ok_json("log", "show", "patrol-before", db=db_url)["request"]["communities"][0]["code"] == "QX-003"
    assert zhunru("log", "verify", "--db", db_url).returncode == 0

    restored = ok_json("community", "retire", "QX-003", "--undo", db=db_url)
    assert restored["retired_at"] is None and restored["was_retired_at"] == today

    history = ok_json("community", "history", "QX-003", db=db_url)
    assert [(c["action"], c["field"], c["old_value"], c["new_value"]) for c in history] == [
        ("restore", "retired_at", today, None), ("retire", "retired_at", None, today),
        ("import", None, None, json.dumps({"name": "东门社区", "district": "七星关区", "street": "市东街道",
                                           "population": 3333, "households": 1111}, ensure_ascii=False))]
    assert all(c["actor"].startswith("console:") and c["at"] for c in history)
    everything = ok_json("community", "history", db=db_url)
    assert [(c["code"], c["field"], c["old_value"], c["new_value"]) for c in everything
            if c["action"] in ("edit", "import") and c["field"]] == [
        ("QX-001", "population", "8200", "8400"), ("QX-002", "households", "1750", "1800"),
        ("QX-002", "population", "5100", "5300")]
    text = zhunru("community", "history", "QX-001", "--db", db_url)
    assert text.returncode == 0 and "修改" in text.stdout and "8200\t8400" in text.stdout
    one_line_error(zhunru("community", "history", "NOPE", "--db", db_url), "CODE: no community 'NOPE'")


def _zip_bomb() -> bytes:
    """A small zip whose parts unpack to 200 MiB of zeros (with the parts an XLSX has)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        with archive.open("xl/worksheets/sheet1.xml", "w") as part:
            block = b"\0" * (1 << 20)
            for _ in range(200):
                part.write(block)
    return out.getvalue()


def bad_files() -> list[tuple[str, bytes, str]]:
    good = xlsx([["洪山社区", "QX-001", "七星关区", "市西街道", 8200, 2900]])
    return [
        ("corrupt.xlsx", good[:len(good) // 2], "not a readable XLSX workbook (a damaged or incomplete zip file)"),
        ("renamed.xlsx", EXAMPLE.read_bytes(), ("not a readable XLSX workbook (not a zip file; a CSV or another file "
                                               "renamed .xlsx?)")),
        ("cell.xlsx", xlsx([["洪山社区", "QX-001", "七星关区", "市西街道", 8200, 2900],
                            ["南关社区", "QX-002", "七星关区", "市西街道", "many", 1750]]),
         "row 3, column population: 'many' is not a whole number ≥ 0"),
        ("fraction.xlsx", xlsx([["洪山社区", "QX-001", "七星关区", "市西街道", 8200.5, 2900]]),
         "row 2, column population: 8200.5 is not a whole number ≥ 0"),
        ("twice.xlsx", xlsx([["a", "QX-1", "d", "s", 1, 1], ["b", "QX-1", "d", "s", 1, 1]]),
         "row 3, column code: 'QX-1' already on row 2"),
        ("empty-cell.xlsx", xlsx([["a", None, "d", "s", 1, 1]]), "row 2, column code: empty"),
        ("header.xlsx", xlsx([["a", "QX-1", "d", "s", 1, 1]], ["名称", "代码", "区县", "街道", "人口", "电话"]),
         "row 1: missing column(s) households"),
        ("bomb.xlsx", _zip_bomb(), "over the limit of"),
        ("not-a-workbook.xlsx", _zip_of({"hello.txt": "hi"}), "a zip file without xl/workbook.xml"),
        ("broken-xml.xlsx", _zip_of({"[Content_Types].xml": "<Types", "xl/workbook.xml": "<<<"}),
         "not a readable XLSX workbook"),
        ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 512, "an old Excel .xls workbook"),
    ]


def _zip_of(parts: dict) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return out.getvalue()


def test_a_bad_xlsx_is_one_line_exit_2_and_nothing_is_written(tmp_path, db_url):
    for name, data, message in bad_files():
        path = write(tmp_path / name, data)
        one_line_error(zhunru("community", "import", path, "--db", db_url), f"{path}: ", message)
    assert ok_json("community", "list", "--retired", db=db_url) == []
    assert ok_json("community", "history", db=db_url) == []
    # XLSX told by content, not by name: a workbook named .csv is read as the workbook it is
    named_csv = write(tmp_path / "really.csv", xlsx([["洪山社区", "QX-001", "七星关区", "市西街道", 8200, 2900]]))
    assert ok_json("community", "import", named_csv, db=db_url)["added"] == 1


def test_parse_xlsx_edge_cases(monkeypatch):
    from zhunru.errors import InputError
    from zhunru.office import registry

    # a header below an empty row, English headers in another order, blank rows skipped, numbers as text
    rows = registry.parse_xlsx(xlsx([["code", "name", "district", "street", "population", "households"],
                                     ["QX-1", "a", "d", "s", "8,200", None], [None] * 6,
                                     [1001, "b", "d", "s", 7, 3.0]], [None] * 6))
    assert rows == [{"name": "a", "code": "QX-1", "district": "d", "street": "s", "population": 8200, "households": None},
                    {"name": "b", "code": "1001", "district": "d", "street": "s", "population": 7, "households": 3}]
    with pytest.raises(InputError, match=r"row 3, column G: a value beyond the header's columns"):
        registry.parse_xlsx(xlsx([["a", "QX-1", "d", "s", 1, 1], ["b", "QX-2", "d", "s", 1, 1, "extra"]]))
    with pytest.raises(InputError, match=r"no communities \(only a header\)"):
        registry.parse_xlsx(xlsx([]))
    monkeypatch.setattr(registry, "MAX_ROWS", 3)
    with pytest.raises(InputError, match=r"row 5: more than 3 communities in one file"):
        registry.parse_xlsx(xlsx([["a", f"QX-{i}", "d", "s", 1, 1] for i in range(4)]))
    with pytest.raises(InputError, match=r"row 5: more than 3 communities in one file"):
        registry.parse_csv(b"name,code,district,street,population,households\n"
                           + "".join(f"a,QX-{i},d,s,1,1\n" for i in range(4)).encode())
    # the Chinese line a page shows names the row, the column's letter and its name
    with pytest.raises(registry.RegistryError) as err:
        registry.parse_file(xlsx([["a", "QX-1", "d", "s", "many", 1]]), "名册.xlsx")
    assert err.value.zh == "第 2 行 E 列“人口”:“many”不是大于等于 0 的整数"
    template = registry.parse_xlsx(registry.template_xlsx("大方县"))
    assert template == [{"name": "洪山社区", "code": "QX-001", "district": "大方县", "street": "市西街道",
                         "population": 8200, "households": 2900}]


OLD_TABLE = {  # zhunru_community as the code before `retired_at` created it
    "sqlite": "CREATE TABLE zhunru_community (id INTEGER NOT NULL PRIMARY KEY, code VARCHAR(64) NOT NULL UNIQUE, "
              "name VARCHAR(200) NOT NULL, district VARCHAR(200) NOT NULL, street VARCHAR(200) NOT NULL, "
              "population INTEGER, households INTEGER, updated_at VARCHAR(40) NOT NULL)",
    "pg": "CREATE TABLE zhunru_community (id SERIAL PRIMARY KEY, code VARCHAR(64) NOT NULL UNIQUE, "
          "name VARCHAR(200) NOT NULL, district VARCHAR(200) NOT NULL, street VARCHAR(200) NOT NULL, "
          "population INTEGER, households INTEGER, updated_at VARCHAR(40) NOT NULL)",
}


def test_a_registry_made_before_retired_at_opens_and_gains_the_column(tmp_path, db_url):
    from sqlalchemy import create_engine, inspect
    from sqlmodel import Session, select
    from zhunru.log.store import DecisionLog, normalise_url
    from zhunru.office.registry import CommunityRow

    DecisionLog(db_url).close()  # the log's own tables, as today's code makes them
    engine = create_engine(normalise_url(db_url))
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(OLD_TABLE["sqlite" if db_url.startswith("sqlite") else "pg"])
            conn.exec_driver_sql("INSERT INTO zhunru_community (code, name, district, street, population, households, "
                                 "updated_at) VALUES ('QX-001', '洪山社区', '七星关区', '市西街道', 8200, 2900, "
                                 "'2021-01-01T00:00:00+00:00')")
        # other modules read the table with the model before anything upgrades it (the queue's
        # district lookup): the new column is deferred, so that still works
        with Session(engine) as session:
            assert [r.district for r in session.exec(select(CommunityRow))] == ["七星关区"]
        assert ok_json("community", "list", db=db_url) == [
            {"name": "洪山社区", "code": "QX-001", "district": "七星关区", "street": "市西街道", "population": 8200,
             "households": 2900, "updated_at": "2021-01-01T00:00:00+00:00", "retired_at": None}]
        inspector = inspect(engine)
        assert "retired_at" in {c["name"] for c in inspector.get_columns("zhunru_community")}
        assert inspector.has_table("zhunru_community_change")
    finally:
        engine.dispose()
    assert ok_json("community", "retire", "QX-001", "--on", "2030-01-01", db=db_url)["retired_at"] == "2030-01-01"
    assert zhunru("community", "import", str(EXAMPLE), "--db", db_url).returncode == 0  # new rows get their ids
    assert sorted(listed(db_url)) == ["QX-001", "QX-002", "QX-003"]
    assert listed(db_url)["QX-001"]["retired_at"] == "2030-01-01"  # an import keeps a retirement
    # a retirement dated later has not happened yet: the community still takes requests today
    assert "QX-001" in {r["code"] for r in ok_json("community", "list", db=db_url)}


# -- the page, over HTTP ------------------------------------------------------------------------
def stored(db_url: str) -> dict:
    """The registry as stored, retired communities too (read in process: the CLI has its own tests above)."""
    from zhunru.office.registry import CommunityRegistry

    registry = CommunityRegistry(db_url)
    try:
        return {r.code: r.as_dict() for r in registry.list(retired=True)}
    finally:
        registry.close()


def changes(db_url: str, code: str | None = None) -> list[dict]:
    from zhunru.office.registry import CommunityRegistry

    registry = CommunityRegistry(db_url)
    try:
        return registry.history(code)
    finally:
        registry.close()

class Clerk(Browser):
    """test_roles.Browser with a multipart upload, as a browser posts a file."""

    def upload(self, path: str, name: str, data: bytes, csrf: str | None) -> tuple[int, str, str]:
        boundary = uuid.uuid4().hex
        parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{csrf}\r\n'.encode()] if csrf else []
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                     "Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        request = urllib.request.Request(self.base + path, data=body, method="POST",
                                         headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        try:
            with self.opener.open(request, timeout=60) as response:
                return response.status, response.read().decode(), response.headers.get("location", "")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(), exc.headers.get("location", "")

    def get_bytes(self, path: str) -> tuple[int, bytes, str]:
        with self.opener.open(urllib.request.Request(self.base + path), timeout=60) as response:
            return response.status, response.read(), response.headers.get("content-type", "")


def problem(page: str) -> str:
    found = re.search(r'id="problem">(.*?)</div>', page, re.DOTALL)
    return html.unescape(found.group(1)) if found else ""


@pytest.fixture
def office(db_url, tmp_path):
    """Two districts' registry, an approver for each, an auditor, a department; `zhunru serve`."""
    df = tmp_path / "df.csv"
    df.write_text("name,code,district,street,population,households\n翠屏社区,DF-001,大方县,顺德街道,6100,2000\n",
                  encoding="utf-8")
    assert zhunru("community", "import", str(EXAMPLE), "--db", db_url).returncode == 0
    assert zhunru("community", "import", str(df), "--db", db_url).returncode == 0
    for name, role, scope in (("qxg", "approver", "七星关区"), ("df", "approver", "大方县"), ("audit", "auditor", None),
                              ("dept", "department", "七星关区应急管理局")):
        add_account(db_url, name, role, scope)
    server = Server(["--db", db_url])
    yield server.base, db_url
    server.stop()


def test_an_approver_manages_its_own_district_only(office):
    base, db_url = office
    clerk = Clerk(base)
    assert clerk.send("GET", "/registry")[0] == 303  # to the login page
    assert clerk.login("qxg") == 303
    status, page, _ = clerk.send("GET", "/registry")
    assert status == 200 and "QX-001" in page and "DF-001" not in page and 'id="upload"' in page
    token = clerk.csrf("/registry")
    recorded = len(changes(db_url))

    # an XLSX of its own district: imported, recorded as the account
    book = xlsx([["新村社区", "QX-004", "七星关区", "市东街道", 900, 300]])
    status, _, location = clerk.upload("/registry/import", "新村.xlsx", book, token)
    assert status == 303 and location.startswith("/registry?done=import"), location
    status, page, _ = clerk.send("GET", location)
    assert "新增 1 个" in page and "QX-004" in page
    assert stored(db_url)["QX-004"]["population"] == 900
    latest = changes(db_url, "QX-004")
    assert [(c["action"], c["actor"]) for c in latest] == [("import", "qxg")]

    # refused, nothing written: no CSRF token (403), another district's row (403), a bad cell (422)
    before = stored(db_url)
    assert clerk.upload("/registry/import", "x.xlsx", xlsx([["甲社区", "QX-005", "七星关区", "市东街道", 1, 1]]),
                        None)[0] == 403
    assert clerk.upload("/registry/import", "x.xlsx", xlsx([["甲社区", "QX-005", "七星关区", "市东街道", 1, 1]]),
                        "forged")[0] == 403
    status, page, _ = clerk.upload("/registry/import", "df.xlsx", xlsx([["甲社区", "QX-005", "七星关区", "市东街道", 1, 1],
                                                                        ["乙社区", "DF-002", "大方县", "顺德街道", 1, 1]]),
                                   token)
    assert status == 403 and "第 3 行" in page and "大方县" in page
    status, page, _ = clerk.upload("/registry/import", "df.xlsx", xlsx([["翠屏社区", "DF-001", "七星关区", "x", 1, 1]]),
                                   token)  # another district's code, moved into its own: still 403
    assert status == 403 and "DF-001" in page
    status, page, _ = clerk.upload("/registry/import", "bad.xlsx", xlsx([["甲社区", "QX-005", "七星关区", "市东街道", 1, 1],
                                                                         ["乙社区", "QX-006", "七星关区", "市东街道", "很多", 1]]),
                                   token)
    assert status == 422 and problem(page).startswith("bad.xlsx:第 3 行 E 列“人口”:“很多”不是大于等于 0 的整数")
    status, page, _ = clerk.upload("/registry/import", "renamed.xlsx", EXAMPLE.read_bytes(), token)
    assert status == 422 and "不是可以读取的 XLSX 工作簿" in problem(page)
    assert stored(db_url) == before

    # editing another district's community: 403, nothing changes; its own: recorded as the account
    edit = {"csrf": token, "code": "DF-001", "name": "翠屏社区", "district": "大方县", "street": "顺德街道",
            "population": "1", "households": "1"}
    assert clerk.send("POST", "/registry/edit", edit)[0] == 403
    assert clerk.send("GET", "/registry?edit=DF-001")[0] == 403
    assert clerk.send("POST", "/registry/retire", {"csrf": token, "code": "DF-001", "on": "2026-01-01"})[0] == 403
    own = {"csrf": token, "code": "QX-001", "name": "洪山社区", "district": "七星关区", "street": "市西街道",
           "population": "8300", "households": "2900"}
    assert clerk.send("POST", "/registry/edit", {**own, "csrf": "forged"})[0] == 403
    assert clerk.send("POST", "/registry/edit", {**own, "district": "大方县"})[0] == 403  # moving it out
    status, page, _ = clerk.send("POST", "/registry/edit", {**own, "households": "-3"})
    assert status == 422 and problem(page) == "户数:“-3”不是大于等于 0 的整数" and 'value="-3"' in page
    assert stored(db_url) == before
    assert len(changes(db_url)) == recorded + 1  # the one import above
    status, _, location = clerk.send("POST", "/registry/edit", own)
    assert status == 303 and "done=edit" in location
    assert stored(db_url)["QX-001"]["population"] == 8300
    assert changes(db_url, "QX-001")[0] | {"at": None, "id": None} == {
        "id": None, "code": "QX-001", "district": "七星关区", "action": "edit", "field": "population",
        "old_value": "8200", "new_value": "8300", "actor": "qxg", "at": None}

    # retiring with a date; the page lists it apart
    status, page, _ = clerk.send("POST", "/registry/retire", {"csrf": token, "code": "QX-003", "on": "2026-02-30"})
    assert status == 422 and problem(page).startswith("撤销日期:")
    status, _, location = clerk.send("POST", "/registry/retire", {"csrf": token, "code": "QX-003", "on": "2021-06-01"})
    assert status == 303, location
    page = clerk.send("GET", location)[1]
    retired = re.search(r'<table[^>]*id="retired".*?</table>', page, re.DOTALL).group(0)
    assert "QX-003" in retired and "2021-06-01" in retired
    assert stored(db_url)["QX-003"]["retired_at"] == "2021-06-01"

    # the other district's community is as it was; its approver sees it, and none of 七星关区's
    assert stored(db_url)["DF-001"]["population"] == 6100
    other = Clerk(base)
    assert other.login("df") == 303
    page = other.send("GET", "/registry")[1]
    assert "DF-001" in page and "QX-001" not in page

    # an auditor reads, changes nothing; a department does not see the registry
    auditor = Clerk(base)
    assert auditor.login("audit") == 303
    status, page, _ = auditor.send("GET", "/registry")
    assert status == 200 and "DF-001" in page and "QX-001" in page and 'id="upload"' not in page
    assert auditor.send("POST", "/registry/edit", {**own, "csrf": auditor.csrf("/registry")})[0] == 403
    department = Clerk(base)
    assert department.login("dept") == 303
    assert department.send("GET", "/registry")[0] == 403


def test_the_template_and_the_upload_limit(office):
    base, db_url = office
    clerk = Clerk(base)
    assert clerk.login("df") == 303
    status, data, kind = clerk.get_bytes("/registry/template.xlsx")
    assert status == 200 and kind.startswith("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
    assert [list(r) for r in sheet.iter_rows(values_only=True)] == [HEADER, ["洪山社区", "QX-001", "大方县", "市西街道",
                                                                             8200, 2900]]
    # the template filled in (its example row is of the approver's own district) imports as it is
    filled = xlsx([["洪山社区", "DF-101", "大方县", "市西街道", 8200, 2900]])
    status, _, location = clerk.upload("/registry/import", "模板.xlsx", filled, clerk.csrf("/registry"))
    assert status == 303, location
    assert stored(db_url)["DF-101"]["district"] == "大方县"
    before = stored(db_url)
    status, page, _ = clerk.upload("/registry/import", "big.csv", b"x" * (17 * 1024 * 1024), clerk.csrf("/registry"))
    assert status == 413 and "名册文件不能超过 16 MiB" in problem(page)
    assert stored(db_url) == before


# -- in Chromium --------------------------------------------------------------------------------

def test_the_registry_page_in_chromium(sqlite_url, browser, tmp_path):
    from selenium.webdriver.common.by import By

    assert zhunru("community", "import", str(EXAMPLE), "--db", sqlite_url).returncode == 0
    add_account(sqlite_url, "qxg", "approver", "七星关区")
    server = Server(["--db", sqlite_url])
    try:
        browser.get(server.base + "/login")
        browser.find_element(By.ID, "name").send_keys("qxg")
        browser.find_element(By.ID, "password").send_keys("correct-horse-1")
        follow(browser, browser.find_element(By.CSS_SELECTOR, "form[action='/login'] button[type=submit]"))
        browser.get(server.base + "/registry")
        assert "社区名册" in browser.title

        # upload a workbook through the form
        book = write(tmp_path / "新村.xlsx", xlsx([["新村社区", "QX-004", "七星关区", "市东街道", 900, 300]]))
        browser.find_element(By.ID, "file").send_keys(book)
        follow(browser, browser.find_element(By.CSS_SELECTOR, "#upload button[type=submit]"))
        assert "新增 1 个" in browser.find_element(By.ID, "done").text

        # a bad file: the page again, one line in Chinese naming the row
        bad = write(tmp_path / "bad.xlsx", xlsx([["乙社区", "QX-006", "七星关区", "市东街道", "很多", 1]]))
        browser.find_element(By.ID, "file").send_keys(bad)
        follow(browser, browser.find_element(By.CSS_SELECTOR, "#upload button[type=submit]"))
        assert "第 2 行 E 列“人口”" in browser.find_element(By.ID, "problem").text

        # edit one community, then retire another with a date
        follow(browser, browser.find_element(By.CSS_SELECTOR, "#c-QX-002 a.edit-link"))
        field = browser.find_element(By.ID, "f-population")
        field.clear()
        field.send_keys("5200")
        follow(browser, browser.find_element(By.CSS_SELECTOR, "#edit button[type=submit]"))
        assert "已修改社区 QX-002" in browser.find_element(By.ID, "done").text
        follow(browser, browser.find_element(By.CSS_SELECTOR, "#c-QX-003 a.edit-link"))
        browser.execute_script("document.getElementById('f-on').value = '2021-06-01'")
        follow(browser, browser.find_element(By.CSS_SELECTOR, "#retire button[type=submit]"))
        assert "已撤销社区 QX-003" in browser.find_element(By.ID, "done").text
        assert "QX-003" in browser.find_element(By.ID, "retired").text
        history = browser.find_element(By.ID, "history").text
        assert "5100 → 5200" in history and "qxg" in history
        browser.set_window_size(1280, browser.execute_script("return document.body.scrollHeight") + 120)
        screenshot(browser, "registry")  # the whole page
    finally:
        server.stop()
    rows = stored(sqlite_url)
    assert (rows["QX-002"]["population"], rows["QX-003"]["retired_at"], rows["QX-004"]["households"]) == (
        5200, "2021-06-01", 300)
