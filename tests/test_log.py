"""The decision log on a real SQLite file and on the real PostgreSQL server: append, list,
show, verify — and `log verify` catches a changed byte, a deleted row and swapped rows."""
from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager

import pytest
from click.testing import CliRunner

from helpers import REPO, bijie_request, write_json
from zhunru.cli import cli

BATCH = REPO / "examples" / "requests" / "bijie.jsonl"


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request):
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


@contextmanager
def connect(url: str):
    """A plain DB-API connection to the log, behind zhunru's back (as a tamperer would)."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            yield conn
            conn.commit()
        finally:
            conn.close()
    else:
        import psycopg

        with psycopg.connect(url) as conn:
            yield conn


def execute(url: str, sql: str, params=()):
    if not url.startswith("sqlite"):
        sql = sql.replace("?", "%s")
    with connect(url) as conn:
        cur = conn.execute(sql, params)
        return cur.fetchall() if cur.description else None


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def fill(db: str, tmp_path) -> int:
    """The example batch, then one request with a funding file attached. Returns the row count."""
    result = invoke("evaluate", "--batch", BATCH, "--db", db)
    assert result.exit_code == 0, result.output
    doc = tmp_path / "notice.pdf"
    doc.write_bytes(b"appropriation notice")
    request = write_json(tmp_path / "r.json", bijie_request(
        id="with-file", matter="入户经济普查", funding={"amount": 80000, "source": "区财政", "document": "七财发〔2021〕9号"}))
    result = invoke("evaluate", request, "--attach", doc, "--db", db)
    assert result.exit_code == 0, result.output
    count = len(BATCH.read_text(encoding="utf-8").splitlines()) + 1
    assert execute(db, "SELECT count(*) FROM zhunru_log")[0][0] == count
    return count


def verify(db: str):
    result = invoke("log", "verify", "--db", db, "--format", "json")
    return result.exit_code, json.loads(result.stdout)


def test_append_list_show_verify(db, tmp_path):
    count = fill(db, tmp_path)
    code, report = verify(db)
    assert (code, report) == (0, {"ok": True, "checked": count, "problem": None})
    text = invoke("log", "verify", "--db", db)
    assert text.exit_code == 0 and f"{count} rows" in text.stdout

    listed = json.loads(invoke("log", "list", "--db", db, "--format", "json", "--limit", 100).stdout)
    assert [r["seq"] for r in listed] == list(range(count, 0, -1))  # newest first
    rejected = json.loads(invoke("log", "list", "--db", db, "--format", "json", "--outcome", "rejected").stdout)
    assert rejected and all(r["outcome"] == "rejected" for r in rejected)

    shown = json.loads(invoke("log", "show", "with-file", "--db", db, "--format", "json").stdout)
    assert shown["request_id"] == "with-file" and shown["payload"]["outcome"] == "needs_approval"
    assert [a["kind"] for a in shown["attachments"]] == ["funds", "file"]
    by_seq = json.loads(invoke("log", "show", "1", "--db", db, "--format", "json").stdout)
    assert by_seq["seq"] == 1 and by_seq["prev_hash"] == "0" * 64
    human = invoke("log", "show", "with-file", "--db", db)
    assert human.exit_code == 0 and "notice.pdf" in human.stdout and "须经审批" in human.stdout


def test_chain_links_rows(db, tmp_path):
    fill(db, tmp_path)
    chain = execute(db, "SELECT seq, prev_hash, hash FROM zhunru_log ORDER BY seq")
    for (_, _, before), (_, prev, _) in zip(chain, chain[1:]):
        assert prev == before


def _flip(text: str, position: int) -> str:
    ch = text[position]
    return text[:position] + ("1" if ch != "1" else "2") + text[position + 1:]


@pytest.mark.parametrize("column", ["payload_json", "request_json", "outcome", "ruleset_sha256", "created_at"])
def test_changed_byte_is_caught(db, tmp_path, column):
    fill(db, tmp_path)
    target = 5
    value = execute(db, f"SELECT {column} FROM zhunru_log WHERE seq = ?", (target,))[0][0]
    execute(db, f"UPDATE zhunru_log SET {column} = ? WHERE seq = ?", (_flip(value, len(value) // 2), target))
    code, report = verify(db)
    assert code == 1 and not report["ok"]
    assert report["problem"].startswith(f"row {target} ")
    assert report["checked"] == target - 1
    text = invoke("log", "verify", "--db", db)
    assert text.exit_code == 1 and f"row {target} " in text.stdout


def test_changed_attachment_amount_is_caught(db, tmp_path):
    count = fill(db, tmp_path)
    execute(db, "UPDATE zhunru_attachment SET amount = ? WHERE entry_seq = ? AND kind = ?", ("90000", count, "funds"))
    code, report = verify(db)
    assert code == 1 and report["problem"].startswith(f"row {count} ")


def test_changed_attachment_sha256_is_caught(db, tmp_path):
    count = fill(db, tmp_path)
    sha = execute(db, "SELECT sha256 FROM zhunru_attachment WHERE kind = ?", ("file",))[0][0]
    execute(db, "UPDATE zhunru_attachment SET sha256 = ? WHERE kind = ?", (_flip(sha, 0), "file"))
    code, report = verify(db)
    assert code == 1 and report["problem"].startswith(f"row {count} ")


def test_deleted_attachment_is_caught(db, tmp_path):
    fill(db, tmp_path)
    execute(db, "DELETE FROM zhunru_attachment WHERE kind = ?", ("file",))
    assert verify(db)[0] == 1


def test_deleted_row_is_caught(db, tmp_path):
    fill(db, tmp_path)
    execute(db, "DELETE FROM zhunru_log WHERE seq = ?", (4,))
    code, report = verify(db)
    assert code == 1 and report["checked"] == 3
    assert "row 5 " in report["problem"]


def test_deleted_last_row_is_caught(db, tmp_path):
    count = fill(db, tmp_path)
    execute(db, "DELETE FROM zhunru_attachment WHERE entry_seq = ?", (count,))
    execute(db, "DELETE FROM zhunru_log WHERE seq = ?", (count,))
    code, report = verify(db)
    assert code == 1 and report["checked"] == count - 1
    assert f"row {count - 1}" in report["problem"]


def test_swapped_rows_are_caught(db, tmp_path):
    fill(db, tmp_path)
    # rows 3 and 4 carry no attachments, so the swap needs no foreign-key juggling
    assert execute(db, "SELECT count(*) FROM zhunru_attachment WHERE entry_seq IN (3, 4)")[0][0] == 0
    execute(db, "UPDATE zhunru_log SET seq = -1 WHERE seq = 3")
    execute(db, "UPDATE zhunru_log SET seq = 3 WHERE seq = 4")
    execute(db, "UPDATE zhunru_log SET seq = 4 WHERE seq = -1")
    code, report = verify(db)
    assert code == 1 and report["checked"] == 2 and report["problem"].startswith("row 3 ")


def test_rehashed_row_still_breaks_the_link(db, tmp_path):
    """A tamperer who also recomputes the changed row's own hash breaks the next row's link."""
    from zhunru.log.store import HASHED_FIELDS, chain_hash, content_digest

    fill(db, tmp_path)
    cols = ("seq", "prev_hash", *HASHED_FIELDS)
    row = dict(zip(cols, execute(db, f"SELECT {', '.join(cols)} FROM zhunru_log WHERE seq = 3")[0]))
    row["outcome"] = "admitted"
    rehashed = chain_hash(3, row["prev_hash"], content_digest(row, []))
    execute(db, "UPDATE zhunru_log SET outcome = ?, hash = ? WHERE seq = 3", ("admitted", rehashed))
    code, report = verify(db)
    assert code == 1 and report["problem"].startswith("row 4 ") and "previous-hash" in report["problem"]


def test_empty_log_verifies(db):
    code, report = verify(db)
    assert (code, report["checked"]) == (0, 0)


def test_append_is_all_or_nothing(sqlite_url):
    """A record whose attachment cannot be stored leaves no row behind (one transaction)."""
    from zhunru.log.store import DecisionLog, Record

    log = DecisionLog(sqlite_url)
    try:
        good = {"entry_id": "e1", "entry_type": "decision", "request_id": "r1", "decision_key": "r1",
                "created_at": "2021-05-01T00:00:00", "city": "bijie", "ruleset": "bijie@2017.1",
                "ruleset_sha256": "0" * 64, "outcome": "admitted", "request_json": "{}", "payload_json": "{}"}
        bad_attachment = {"amount": "1", "source": None}  # source is NOT NULL
        with pytest.raises(Exception) as info:
            log.append([Record(good), Record({**good, "entry_id": "e2", "request_id": "r2", "decision_key": "r2"},
                                             [bad_attachment])])
        assert getattr(info.value, "exit_code", None) == 4
        assert log.count() == 0
        log.append([Record(good)])
        assert log.count() == 1 and log.verify() == (1, None)
    finally:
        log.close()
