"""Accounts, roles and scope over real HTTP (`zhunru serve` in a subprocess, SQLite and
PostgreSQL): every forbidden act is refused — 401 without an account, 403 outside the role or
district, without the CSRF token or with an expired session — and nothing is logged; an act
that is allowed stores the authenticated account in its hashed log row."""
from __future__ import annotations

import http.cookiejar
import json
import re
import sqlite3
import urllib.error
import urllib.parse
import urllib.request

import pytest

from helpers import REPO
from web import Server, add_account, call, zhunru

DRILL = json.loads((REPO / "examples" / "district" / "drill.json").read_text(encoding="utf-8"))  # 七星关区, needs approval
PASSWORD = "correct-horse-1"


@pytest.fixture
def office(db_url):
    """A district office's database: the example registry, one account of each kind, a token each."""
    done = zhunru("community", "import", str(REPO / "examples" / "district" / "communities.csv"), "--db", db_url)
    assert done.returncode == 0, done.stderr
    tokens = {
        "qxg": add_account(db_url, "qxg", "approver", "七星关区"),
        "df": add_account(db_url, "df", "approver", "大方县"),
        "dept": add_account(db_url, "dept", "department", "七星关区应急管理局"),
        "other-dept": add_account(db_url, "other-dept", "department", "七星关区统计局"),
        "hongshan": add_account(db_url, "hongshan", "community", "QX-001"),
        "audit": add_account(db_url, "audit", "auditor"),
    }
    server = Server(["--db", db_url])
    yield server.base, tokens, db_url
    server.stop()


def rows(base, tokens) -> int:
    """Rows logged since the office was set up (its registry import is row 1 of the chain)."""
    return call(base, "GET", "/api/v1/log/verify", token=tokens["audit"])[1]["checked"] - 1


def test_each_role_does_its_job_and_nothing_else(office):
    base, tokens, db_url = office
    # filing: only the request's own department (or an admin); nobody anonymous
    assert call(base, "POST", "/api/v1/evaluate", DRILL)[0] == 401
    assert call(base, "POST", "/api/v1/evaluate", DRILL, token="zr_forged")[0] == 401
    for who in ("other-dept", "qxg", "hongshan", "audit"):
        status, answer = call(base, "POST", "/api/v1/evaluate", DRILL, token=tokens[who])
        assert status == 403 and answer["error"]["message"], (who, answer)
    assert rows(base, tokens) == 0
    status, decision = call(base, "POST", "/api/v1/evaluate", DRILL, token=tokens["dept"])
    assert status == 200 and decision["outcome"] == "needs_approval"
    ident = decision["decision_id"]

    # the queue: an approver sees its own district's requests only
    assert [i["request_id"] for i in call(base, "GET", "/api/v1/queue", token=tokens["qxg"])[1]] == ["qx-2021-007"]
    assert call(base, "GET", "/api/v1/queue", token=tokens["df"])[1] == []
    assert call(base, "GET", "/api/v1/queue", token=tokens["dept"])[0] == 403

    # acting: never a department, a community or an auditor; never another district's approver
    for who in ("dept", "hongshan", "audit", "df"):
        status, answer = call(base, "POST", f"/api/v1/decisions/{ident}/approve", {"note": "x"}, token=tokens[who])
        assert status == 403, (who, answer)
    assert call(base, "POST", f"/api/v1/decisions/{ident}/approve", {}, token=None)[0] == 401
    assert rows(base, tokens) == 1
    assert call(base, "POST", "/api/v1/decisions/nope/approve", {}, token=tokens["qxg"])[0] == 404
    assert call(base, "POST", f"/api/v1/decisions/{ident}/refuse", {}, token=tokens["qxg"])[0] == 422  # no reason
    status, act = call(base, "POST", f"/api/v1/decisions/{ident}/approve", {"note": "经费已到位"}, token=tokens["qxg"])
    assert status == 200 and act["actor"] == {"account": "qxg", "role": "approver", "scope": "七星关区", "via": "api"}
    status, again = call(base, "POST", f"/api/v1/decisions/{ident}/refuse", {"note": "x"}, token=tokens["qxg"])
    assert status == 409 and "already approved" in again["error"]["message"]

    # the act's account is in the hashed row: the log verifies, and the decision shows who acted
    assert call(base, "GET", "/api/v1/log/verify", token=tokens["audit"])[1] == {"ok": True, "checked": 3, "problem": None}  # with the import
    assert call(base, "GET", "/api/v1/log/verify", token=tokens["dept"])[0] == 403
    shown = call(base, "GET", f"/api/v1/decisions/{ident}", token=tokens["hongshan"])[1]
    assert shown["act"]["actor"]["account"] == "qxg" and shown["act"]["by"] == "qxg"
    assert call(base, "GET", "/api/v1/me", token=tokens["df"])[1] == {
        "name": "df", "role": "approver", "scope": "大方县", "display": "df"}

    # a disabled account's token stops working at once
    assert zhunru("user", "disable", "dept", "--db", db_url).returncode == 0
    assert call(base, "GET", "/api/v1/me", token=tokens["dept"])[0] == 401


class Browser:
    """A cookie-keeping HTTP client: what a browser sends, without a browser."""

    def __init__(self, base: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), NoRedirect)

    def send(self, method: str, path: str, form: dict | None = None) -> tuple[int, str, str]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        try:
            with self.opener.open(request, timeout=60) as response:
                return response.status, response.read().decode(), response.headers.get("location", "")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(), exc.headers.get("location", "")

    def login(self, name: str, password: str = PASSWORD) -> int:
        return self.send("POST", "/login", {"name": name, "password": password})[0]

    def csrf(self, path: str) -> str:
        return re.search(r'name="csrf" value="([^"]+)"', self.send("GET", path)[1]).group(1)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_a_session_needs_its_csrf_token_and_expires(office):
    base, tokens, db_url = office
    ident = call(base, "POST", "/api/v1/evaluate", DRILL, token=tokens["dept"])[1]["decision_id"]
    clerk = Browser(base)
    assert clerk.send("GET", "/queue")[0] == 303  # to the login page
    assert clerk.login("qxg", "wrong password") == 401
    assert clerk.login("qxg") == 303
    cookie = next(c for c in clerk.jar if c.name == "zhunru_session")
    assert cookie.has_nonstandard_attr("HttpOnly") and cookie.get_nonstandard_attr("SameSite", "").lower() == "lax"
    status, page, _ = clerk.send("GET", "/queue")
    assert status == 200 and "qx-2021-007" in page

    # a forged form (no token, another session's token) does nothing
    assert clerk.send("POST", f"/decisions/{ident}/approve", {"note": "x"})[0] == 403
    other = Browser(base)
    assert other.login("df") == 303
    assert clerk.send("POST", f"/decisions/{ident}/approve", {"note": "x", "csrf": other.csrf("/queue")})[0] == 403
    # another district's approver with its own valid token: still 403
    assert other.send("POST", f"/decisions/{ident}/approve", {"csrf": other.csrf("/queue")})[0] == 403
    assert rows(base, tokens) == 1

    # an expired session is no session
    if db_url.startswith("sqlite"):
        with sqlite3.connect(db_url.split(":///", 1)[1]) as db:
            db.execute("UPDATE zhunru_session SET expires_at = '2000-01-01T00:00:00+00:00' WHERE account = 'qxg'")
    else:
        import psycopg

        with psycopg.connect(db_url.replace("postgresql+psycopg", "postgresql")) as db:
            db.execute("UPDATE zhunru_session SET expires_at = '2000-01-01T00:00:00+00:00' WHERE account = 'qxg'")
    token = re.search(r'name="csrf" value="([^"]+)"', clerk.send("GET", f"/decisions/{ident}")[1] or "")
    assert token is None  # logged out: the page offers no form
    assert clerk.send("POST", f"/decisions/{ident}/approve", {"note": "x", "csrf": "anything"})[0] == 403
    assert rows(base, tokens) == 1

    # logged in again, with the form's token: the approval is logged with the account
    assert clerk.login("qxg") == 303
    status, _, location = clerk.send("POST", f"/decisions/{ident}/approve",
                                     {"note": "同意", "csrf": clerk.csrf(f"/decisions/{ident}")})
    assert status == 303 and location.startswith("/queue?done="), _
    act = call(base, "GET", f"/api/v1/decisions/{ident}", token=tokens["audit"])[1]["act"]
    assert act["actor"] == {"account": "qxg", "role": "approver", "scope": "七星关区", "via": "web"}


def test_wrong_passwords_lock_the_account(office):
    base, tokens, _ = office
    clerk = Browser(base)
    assert [clerk.login("qxg", f"wrong-{i}") for i in range(5)] == [401] * 5
    assert clerk.login("qxg") == 429  # the right password, too late: locked for 15 minutes
    assert clerk.login("nobody") == 401  # an unknown name looks like a wrong password
    assert Browser(base).login("df") == 303


def test_user_commands(sqlite_url):
    add = ["user", "add", "qxg", "--role", "approver", "--scope", "七星关区", "--display", "七星关区社区办 张三",
           "--password-stdin", "--db", sqlite_url]
    assert zhunru(*add, stdin=PASSWORD + "\n").returncode == 0
    again = zhunru(*add, stdin=PASSWORD + "\n")
    assert again.returncode == 2 and again.stderr == "zhunru: error: NAME: an account 'qxg' already exists (zhunru user list)\n"
    for args, stdin, message in [
        (["user", "add", "a", "--role", "approver", "--password-stdin"], PASSWORD + "\n", "--scope: an approver account needs"),
        (["user", "add", "a", "--role", "auditor", "--scope", "x", "--password-stdin"], PASSWORD + "\n", "--scope: an auditor account has no scope"),
        (["user", "add", "a", "--role", "admin", "--password-stdin"], "short\n", "password: at least 10 characters"),
        (["user", "add", "a", "--role", "admin", "--password-stdin"], "", "--password-stdin: nothing on standard input"),
        (["user", "add", "a", "--role", "admin"], PASSWORD + "\n", "password: not a terminal; pipe it with --password-stdin"),
        (["user", "add", "a b", "--role", "admin", "--password-stdin"], PASSWORD + "\n", "NAME: an account name is"),
        (["user", "disable", "nobody"], None, "NAME: no account 'nobody'"),
        (["user", "token", "nobody"], None, "NAME: no account 'nobody'"),
    ]:
        done = zhunru(*args, "--db", sqlite_url, stdin=stdin or "")
        assert done.returncode == 2 and done.stderr.startswith(f"zhunru: error: {message}"), (args, done.stderr)
        assert done.stderr.count("\n") == 1
    listed = json.loads(zhunru("user", "list", "--format", "json", "--db", sqlite_url).stdout)
    assert [(a["name"], a["role"], a["scope"], a["disabled"]) for a in listed] == [("qxg", "approver", "七星关区", False)]
    token = zhunru("user", "token", "qxg", "--label", "OA", "--db", sqlite_url).stdout.strip()
    assert token.startswith("zr_") and len(token) > 40
    with sqlite3.connect(sqlite_url.split(":///", 1)[1]) as db:  # only hashes are stored
        stored = db.execute("SELECT password_hash FROM zhunru_account").fetchone()[0]
        assert stored.startswith("$argon2id$") and PASSWORD not in stored
        assert token not in str(db.execute("SELECT * FROM zhunru_token").fetchall())
    assert zhunru("user", "passwd", "qxg", "--password-stdin", "--db", sqlite_url, stdin="another-password\n").returncode == 0
    assert zhunru("user", "disable", "qxg", "--db", sqlite_url).returncode == 0
    assert json.loads(zhunru("user", "list", "--format", "json", "--db", sqlite_url).stdout)[0]["disabled"] is True
    disabled = zhunru("approve", "x", "--as", "qxg", "--db", sqlite_url)
    assert disabled.returncode == 2 and "--as: account 'qxg' is disabled" in disabled.stderr


def test_the_refusal_notice_over_the_api(office):
    base, tokens, _ = office
    survey = json.loads((REPO / "examples" / "district" / "survey.json").read_text(encoding="utf-8"))
    survey["department"]["name"] = "七星关区应急管理局"  # the clerk's own department
    decision = call(base, "POST", "/api/v1/evaluate", survey, token=tokens["dept"])[1]
    # Bijie's lists are partial: the unfunded survey is not refused for its absence, it waits for the
    # district body; until it is funded and approved the community need not take it on (grounds unfunded)
    assert decision["outcome"] == "needs_approval"
    ident = decision["decision_id"]
    status, data = call(base, "GET", f"/api/v1/decisions/{ident}/notice?format=json", token=tokens["hongshan"])
    assert status == 200 and data["grounds"] == "unfunded" and re.fullmatch(r"准入告〔\d{4}〕2号", data["number"])
    assert "洪山社区居民委员会" in data["issuer"]
    status, page = call(base, "GET", f"/api/v1/decisions/{ident}/notice", token=tokens["hongshan"])
    assert status == 200 and "(盖章)" in page and "不予准入告知书" in page
    request = urllib.request.Request(f"{base}/api/v1/decisions/{ident}/notice?format=pdf",
                                     headers={"Authorization": f"Bearer {tokens['audit']}"})
    with urllib.request.urlopen(request, timeout=120) as response:
        assert response.headers["content-type"] == "application/pdf" and response.read(5) == b"%PDF-"
    assert call(base, "GET", f"/api/v1/decisions/{ident}/notice")[0] == 401
    admitted = call(base, "POST", "/api/v1/evaluate", DRILL, token=tokens["dept"])[1]["decision_id"]
    status, answer = call(base, "GET", f"/api/v1/decisions/{admitted}/notice", token=tokens["audit"])
    assert status == 422 and "awaits the district body's decision" in answer["error"]["message"]


def test_search_publication_and_report_over_the_api(office):
    base, tokens, _ = office
    survey = json.loads((REPO / "examples" / "district" / "survey.json").read_text(encoding="utf-8"))
    survey["department"]["name"] = "七星关区应急管理局"
    for i in range(3):
        assert call(base, "POST", "/api/v1/evaluate", dict(DRILL, id=f"d-{i}"), token=tokens["dept"])[0] == 200
    assert call(base, "POST", "/api/v1/evaluate", survey, token=tokens["dept"])[0] == 200
    assert call(base, "POST", "/api/v1/decisions/d-0/approve", {}, token=tokens["qxg"])[0] == 200
    # the unfunded survey waits too (Bijie's lists are partial); the district body refuses it
    assert call(base, "POST", "/api/v1/decisions/qx-2021-009/refuse", {"note": "未附经费或人员"},
                token=tokens["qxg"])[0] == 200

    page = call(base, "GET", "/api/v1/decisions?limit=2", token=tokens["audit"])[1]
    assert [d["request_id"] for d in page["decisions"]] == ["qx-2021-009", "d-2"] and page["next_before"]
    rest = call(base, "GET", f"/api/v1/decisions?limit=2&before={page['next_before']}", token=tokens["audit"])[1]
    assert [d["request_id"] for d in rest["decisions"]] == ["d-1", "d-0"]
    assert rest["decisions"][1]["state"] == "in_effect" and rest["decisions"][0]["state"] == "pending"
    waiting = call(base, "GET", "/api/v1/decisions?outcome=needs_approval&city=" + urllib.parse.quote("毕节"),
                   token=tokens["audit"])[1]["decisions"]
    assert [d["request_id"] for d in waiting] == ["qx-2021-009", "d-2", "d-1", "d-0"]
    assert call(base, "GET", "/api/v1/decisions?outcome=rejected", token=tokens["audit"])[1]["decisions"] == []
    east = call(base, "GET", "/api/v1/decisions?community=QX-003", token=tokens["audit"])[1]["decisions"]
    assert [d["request_id"] for d in east] == ["qx-2021-009"]  # 市东街道: only the survey of all 七星关区
    mine = call(base, "GET", "/api/v1/decisions", token=tokens["hongshan"])[1]["decisions"]
    assert len(mine) == 4  # QX-001 is in every one of them
    assert call(base, "GET", "/api/v1/decisions", token=tokens["other-dept"])[1]["decisions"] == []
    assert call(base, "GET", "/api/v1/decisions?outcome=maybe", token=tokens["audit"])[0] == 422
    assert call(base, "GET", "/api/v1/decisions")[0] == 401

    published = call(base, "GET", "/api/v1/publication?district=" + urllib.parse.quote("七星关区"))[1]  # public
    assert published["total"] == 1 and published["items"][0]["request_id"] == "d-0"
    assert call(base, "GET", "/api/v1/publication")[0] == 422

    report = call(base, "GET", "/api/v1/report", token=tokens["qxg"])[1]
    assert report["district"] == "七星关区" and report["districts"][0]["commissioned"] == 1
    assert report["districts"][0]["pending"] == 2 and report["districts"][0]["refused"] == 1
    assert call(base, "GET", "/api/v1/report", token=tokens["dept"])[0] == 403
    status, spec = call(base, "GET", "/openapi.json")
    for path in ("/api/v1/decisions", "/api/v1/publication", "/api/v1/report", "/api/v1/decisions/{ident}/approve",
                 "/api/v1/decisions/{ident}/withdraw", "/api/v1/decisions/{ident}/notice", "/api/v1/queue"):
        assert path in spec["paths"], path
