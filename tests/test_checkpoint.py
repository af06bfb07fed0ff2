"""Anchors outside the database (issue 11): a signed checkpoint catches what the hash chain alone
cannot — whoever runs the database rewriting rows and recomputing every later hash, cutting the
tail and fixing the head, wiping everything, or slipping in a correctly chained, back-dated act.
Each attack is done here as that person would, with SQL on the real SQLite file or PostgreSQL
schema; plain `log verify` is shown to pass where it cannot know, `--against` fails."""
from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from helpers import bijie_request, write_json
from zhunru.cli import cli
from zhunru.log.store import GENESIS, chain_hash, content_digest, normalise_url


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(autouse=True)
def key_file(tmp_path, monkeypatch):
    monkeypatch.setenv("ZHUNRU_SIGNING_KEY", str(tmp_path / "keys" / "signing.key"))


def log_requests(tmp_path, db_url, ids):
    for rid in ids:
        path = write_json(tmp_path / f"{rid}.json", bijie_request(id=rid, matter="入户经济普查",
                                                                   funding={"amount": 80000, "source": "区财政"}))
        assert run("evaluate", path, "--db", db_url).exit_code == 0


def checkpoint(tmp_path, db_url, name="cp.jsonl") -> str:
    done = run("log", "checkpoint", "--db", db_url)
    assert done.exit_code == 0, done.output
    path = tmp_path / name
    with path.open("a", encoding="utf-8") as out:
        out.write(done.output)
    return str(path)


def against(db_url, *files, key=None):
    args = ["log", "verify", "--db", db_url, "--format", "json"]
    for f in files:
        args += ["--against", f]
    if key:
        args += ["--key", key]
    done = run(*args)
    return done.exit_code, json.loads(done.output) if done.output.startswith("{") else done.output


def rechain(db_url, start: int = 1) -> None:
    """What an attacker with the database does after changing rows: recompute every hash from
    `start` on and fix the head, so the chain is perfect again."""
    engine = create_engine(normalise_url(db_url))
    with engine.begin() as conn:
        rows = [dict(r) for r in conn.execute(text("SELECT * FROM zhunru_log ORDER BY seq")).mappings()]
        prev = GENESIS if start == 1 else rows[start - 2]["hash"]
        for row in rows[start - 1:]:
            atts = [dict(a) for a in conn.execute(text("SELECT * FROM zhunru_attachment WHERE entry_seq = :s "
                                                       "ORDER BY position"), {"s": row["seq"]}).mappings()]
            row["prev_hash"] = prev
            row["hash"] = prev = chain_hash(row["seq"], prev, content_digest(row, atts))
            conn.execute(text("UPDATE zhunru_log SET prev_hash = :p, hash = :h WHERE seq = :s"),
                         {"p": row["prev_hash"], "h": row["hash"], "s": row["seq"]})
        last = rows[-1]["seq"] if rows else 0
        conn.execute(text("UPDATE zhunru_head SET seq = :s, hash = :h"), {"s": last, "h": prev})
    engine.dispose()


def sql(db_url, statement: str, **params) -> None:
    engine = create_engine(normalise_url(db_url))
    with engine.begin() as conn:
        conn.execute(text(statement), params)
    engine.dispose()


def test_a_rewrite_a_cut_and_a_wipe_fail_against_a_checkpoint(tmp_path, db_url):
    log_requests(tmp_path, db_url, ["a", "b", "c"])
    cp = checkpoint(tmp_path, db_url)
    key = run("log", "key").output.strip()
    assert len(key) == 64
    log_requests(tmp_path, db_url, ["d", "e"])
    assert against(db_url, cp, key=key) == (0, {"ok": True, "checked": 5, "problem": None, "checkpoints": 1})
    fast = run("log", "verify", "--since-checkpoint", "--db", db_url)
    assert fast.exit_code == 0 and "rows after the checkpoint at row 3 read" in fast.output

    # rewrite: row 2 (inside the checkpoint) rejected → admitted, every later hash recomputed
    sql(db_url, "UPDATE zhunru_log SET outcome = 'admitted' WHERE seq = 2")
    rechain(db_url, 2)
    assert run("log", "verify", "--db", db_url).exit_code == 0  # the chain alone cannot tell
    code, answer = against(db_url, cp)
    assert code == 1 and "row 3 no longer carries the hash it had" in answer["problem"]
    since = run("log", "verify", "--since-checkpoint", "--db", db_url)
    assert since.exit_code == 1 and "does not carry the hash of the checkpoint" in since.output


def test_truncation_wipe_and_back_dating(tmp_path, db_url):
    log_requests(tmp_path, db_url, ["a", "b", "c", "d"])
    cp = checkpoint(tmp_path, db_url)
    assert against(db_url, cp)[0] == 0

    # a correctly chained row appended later but dated 2021
    log_requests(tmp_path, db_url, ["late"])
    sql(db_url, "UPDATE zhunru_log SET created_at = '2021-06-01T08:00:00.000000+00:00' WHERE seq = 5")
    rechain(db_url, 5)
    assert run("log", "verify", "--db", db_url).exit_code == 0
    code, answer = against(db_url, cp)
    assert code == 1 and "row 5: dated 2021-06-01T08:00:00, before the checkpoint" in answer["problem"]

    # the tail cut and the head fixed
    sql(db_url, "DELETE FROM zhunru_target WHERE decision_seq >= 3")
    sql(db_url, "DELETE FROM zhunru_attachment WHERE entry_seq >= 3")
    sql(db_url, "DELETE FROM zhunru_log WHERE seq >= 3")
    rechain(db_url, 1)
    code, answer = against(db_url, cp)
    assert code == 1 and "the log had 4 rows then and has 2 now" in answer["problem"]

    # everything wiped
    for table in ("zhunru_target", "zhunru_carried", "zhunru_attachment", "zhunru_log", "zhunru_head"):
        sql(db_url, f"DELETE FROM {table}")
    assert "intact: 0 rows" in run("log", "verify", "--db", db_url).output
    code, answer = against(db_url, cp)
    assert code == 1 and "has 0 now" in answer["problem"]


def test_forged_and_foreign_checkpoints(tmp_path, db_url, monkeypatch):
    log_requests(tmp_path, db_url, ["a", "b"])
    cp = json.loads(open(checkpoint(tmp_path, db_url), encoding="utf-8").read())
    key = run("log", "key").output.strip()
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(dict(cp, count=1)), encoding="utf-8")  # the statement changed, not re-signed
    code, answer = against(db_url, str(forged))
    assert code == 2 and "the signature of the checkpoint at row 1 does not hold" in answer
    # a checkpoint signed by another key (the attacker's) is refused when the key is pinned
    monkeypatch.setenv("ZHUNRU_SIGNING_KEY", str(tmp_path / "attacker.key"))
    theirs = checkpoint(tmp_path, db_url, "theirs.jsonl")
    assert against(db_url, theirs)[0] == 0
    code, answer = against(db_url, theirs, key=key)
    assert code == 1 and "not a trusted key" in answer["problem"]


def test_bad_checkpoint_files_are_one_line(tmp_path, sqlite_url):
    log_requests(tmp_path, sqlite_url, ["a"])
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    (tmp_path / "partial.json").write_text('{"count": 1}', encoding="utf-8")
    (tmp_path / "big.json").write_bytes(b" " * (1024 * 1024 + 10))
    for source, message in [(fifo, "is not a file"), ("/dev/zero", "is not a file"),
                            (tmp_path / "missing.json", "is not a file"), (tmp_path / "bad.json", "not JSON"),
                            (tmp_path / "partial.json", "missing 'head'"), (tmp_path / "big.json", "over 1048576 bytes")]:
        done = run("log", "verify", "--against", source, "--db", sqlite_url)
        assert done.exit_code == 2 and message in done.output and done.output.count("\n") == 1, (source, done.output)
    done = run("log", "verify", "--key", "xyz", "--db", sqlite_url)
    assert done.exit_code == 2 and "--key: a public key is 64 hex digits" in done.output
    no_key = run("log", "verify", "--since-checkpoint", "--db", sqlite_url)
    assert no_key.exit_code == 2 and "no signing key" in no_key.output


def test_notices_and_the_publication_carry_the_checkpoint_and_a_notice_is_checked(tmp_path, sqlite_url):
    unfunded = write_json(tmp_path / "u.json", bijie_request(
        id="u", matter="入户经济普查", communities=[{"name": "洪山社区", "district": "七星关区", "population": 1}]))
    assert run("evaluate", unfunded, "--db", sqlite_url).exit_code == 0
    cp = json.loads(run("log", "checkpoint", "--db", sqlite_url).output)
    notice = tmp_path / "notice.html"
    assert run("notice", "u", "--out", notice, "--db", sqlite_url).exit_code == 0
    page = notice.read_text(encoding="utf-8")
    assert cp["signature"] in page and "签名检查点:日志前 1 条" in page
    ok = run("notice", "verify", notice, "--db", sqlite_url)
    assert ok.exit_code == 0 and "notice matches the log: decision" in ok.output

    forged = tmp_path / "forged.html"
    forged.write_text(page.replace('data-seq="1"', 'data-seq="7"'), encoding="utf-8")
    bad = run("notice", "verify", forged, "--db", sqlite_url, "--format", "json")
    assert bad.exit_code == 1 and "the notice says row 7" in json.loads(bad.output)["problem"]
    (tmp_path / "other.html").write_text("<html>hello</html>", encoding="utf-8")
    for source, message in [(tmp_path / "other.html", "is not a notice zhunru printed"), ("/dev/zero", "is not a file")]:
        done = run("notice", "verify", source, "--db", sqlite_url)
        assert done.exit_code == 2 and message in done.output, done.output
    # the decision rewritten in the database (and the chain recomputed): the printed notice shows it
    sql(sqlite_url, "UPDATE zhunru_log SET department = '某局' WHERE seq = 1")
    rechain(sqlite_url, 1)
    stale = run("notice", "verify", notice, "--db", sqlite_url)
    assert stale.exit_code == 1 and "the notice says row 1, hash" in stale.output

    assert run("publish", "--district", "七星关区", "--out", tmp_path / "site", "--db", sqlite_url).exit_code == 0
    published = json.loads((tmp_path / "site" / "admitted.json").read_text(encoding="utf-8"))
    assert published["checkpoint"]["signature"] == cp["signature"]
    assert cp["signature"] in (tmp_path / "site" / "admitted.html").read_text(encoding="utf-8")
