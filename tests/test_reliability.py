"""Crash safety, concurrency and a log that cannot be written — with real processes, a real
SQLite file and the real PostgreSQL server.

- kill -9 in the middle of a logged batch: the log verifies, holds no partial decision, and
  running the batch again completes it without logging anything twice;
- four processes writing to one log at once (SQLite, PostgreSQL): nothing lost, one chain;
- disk full and a read-only database: one clear line, exit 4, nothing half-written.
"""
from __future__ import annotations

import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from helpers import bijie_request, run_cli

ZHUNRU = str(Path(sys.executable).with_name("zhunru"))


def batch_file(path: Path, n: int, prefix: str) -> Path:
    """n distinct requests; every other one carries funding (so its decision has an attachment)."""
    matters = ["社区矫正", "入户经济普查", "招商引资", "公共卫生", "居务公开"]
    with path.open("w", encoding="utf-8") as handle:
        for i in range(n):
            extra = {"funding": {"amount": 1000 + i, "source": "区财政", "document": f"财发〔2021〕{i}号"}} if i % 2 else {}
            request = bijie_request(id=f"{prefix}-{i:06d}", matter=matters[i % len(matters)], **extra)
            handle.write(json.dumps(request, ensure_ascii=False) + "\n")
    return path


def sqlite_count(db: Path) -> int:
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as conn:
            return conn.execute("SELECT count(*) FROM zhunru_log").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def assert_no_partial_decision(db: Path) -> None:
    """Every logged decision whose request had funding has its attachment row, and no
    attachment points to a missing row."""
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT seq, request_json FROM zhunru_log").fetchall()
        atts = {seq for (seq,) in conn.execute("SELECT entry_seq FROM zhunru_attachment")}
    seqs = {seq for seq, _ in rows}
    assert atts <= seqs
    for seq, request_json in rows:
        if json.loads(request_json).get("funding"):
            assert seq in atts, f"row {seq}: decision logged without its funding attachment"


def verify(url: str) -> subprocess.CompletedProcess:
    return run_cli("log", "verify", "--db", url, "--format", "json")


def assert_intact(url: str, rows: int) -> None:
    """`log verify` exits 0 and reports an unbroken chain of exactly `rows` rows."""
    check = verify(url)
    assert check.returncode == 0, check.stdout + check.stderr
    assert json.loads(check.stdout) == {"ok": True, "checked": rows, "problem": None}


# -- kill -9 ------------------------------------------------------------------------------
@pytest.mark.slow  # a 30,000-request batch, killed, then run again: ~25 s
def test_kill_9_mid_batch_then_resume(tmp_path):
    n = 30000
    batch = batch_file(tmp_path / "big.jsonl", n, "k9")
    db = tmp_path / "log.sqlite"
    proc = subprocess.Popen([ZHUNRU, "evaluate", "--batch", str(batch), "--db", str(db), "--format", "json"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while sqlite_count(db) == 0:
        assert proc.poll() is None, f"the batch ended before it could be killed: {proc.stderr.read()!r}"
        assert time.monotonic() < deadline, "nothing was logged in time"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    logged = sqlite_count(db)
    assert 0 < logged < n, "the kill must land in the middle of the batch"

    assert_intact(str(db), logged)
    assert_no_partial_decision(db)

    again = subprocess.run([ZHUNRU, "evaluate", "--batch", str(batch), "--db", str(db), "--format", "json"],
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    lines = [json.loads(line) for line in again.stdout.splitlines()]
    assert len(lines) == n
    assert sum(1 for d in lines if d.get("already_logged")) == logged
    assert sqlite_count(db) == n  # every distinct request exactly once
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT count(DISTINCT request_id) FROM zhunru_log").fetchone()[0] == n
    assert_intact(str(db), n)
    assert_no_partial_decision(db)


# -- four writers at once -------------------------------------------------------------------
def run_writers(tmp_path, url: str, writers: int = 4, per_writer: int = 1500) -> None:
    files = [batch_file(tmp_path / f"w{w}.jsonl", per_writer, f"writer{w}") for w in range(writers)]
    procs = [subprocess.Popen([ZHUNRU, "evaluate", "--batch", str(f), "--db", url, "--format", "json"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for f in files]
    # and single-request writers interleaving with the batches
    singles = []
    for w in range(writers):
        path = tmp_path / f"single{w}.json"
        path.write_text(json.dumps(bijie_request(id=f"single-{w}"), ensure_ascii=False), encoding="utf-8")
        singles.append(subprocess.Popen([ZHUNRU, "evaluate", str(path), "--db", url],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    for proc in procs + singles:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
    assert_intact(url, writers * per_writer + writers)


@pytest.mark.slow  # eight processes, 6,004 logged decisions: ~20 s
def test_four_processes_one_sqlite_log(tmp_path):
    db = tmp_path / "shared.sqlite"
    run_writers(tmp_path, str(db))
    assert sqlite_count(db) == 4 * 1500 + 4
    assert_no_partial_decision(db)


@pytest.mark.slow  # eight processes, 6,004 logged decisions: ~20 s
def test_four_processes_one_postgresql_log(tmp_path, pg_url):
    run_writers(tmp_path, pg_url)
    import psycopg

    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(DISTINCT request_id) FROM zhunru_log").fetchone()[0] == 4 * 1500 + 4
        seqs = [s for (s,) in conn.execute("SELECT seq FROM zhunru_log ORDER BY seq")]
    assert seqs == list(range(1, 4 * 1500 + 4 + 1))


# -- disk full, read-only ---------------------------------------------------------------------
def _one_line_exit_4(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 4, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("zhunru: error: --db"), result.stderr
    assert "Traceback" not in result.stderr


def _seed_log(tmp_path) -> Path:
    db = tmp_path / "log.sqlite"
    seed = batch_file(tmp_path / "seed.jsonl", 10, "seed")
    result = run_cli("evaluate", "--batch", str(seed), "--db", str(db))
    assert result.returncode == 0, result.stderr
    assert [line.split("\t")[0] for line in result.stdout.splitlines()] == [f"seed-{i:06d}" for i in range(10)]
    assert sqlite_count(db) == 10
    return db


def test_disk_full_exits_4_and_keeps_whole_chunks(tmp_path):
    db = _seed_log(tmp_path)
    before = sqlite_count(db)
    batch = batch_file(tmp_path / "full.jsonl", 5000, "full")
    limit = db.stat().st_size + 256 * 1024  # files may not grow past this: the disk is "full"

    def small_disk():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = subprocess.run([ZHUNRU, "evaluate", "--batch", str(batch), "--db", str(db)], capture_output=True,
                            text=True, preexec_fn=small_disk, timeout=300,
                            env={**os.environ})
    _one_line_exit_4(result)
    after = sqlite_count(db)
    assert after < before + 5000
    assert (after - before) % 500 == 0, "only whole transactions (chunks of 500) may be logged"
    assert_intact(str(db), after)
    assert_no_partial_decision(db)
    # with room again, the same batch completes the log without duplicates
    result = run_cli("evaluate", "--batch", str(batch), "--db", str(db))
    assert result.returncode == 0, result.stderr
    assert sqlite_count(db) == before + 5000
    assert_intact(str(db), before + 5000)


def test_disk_full_on_a_tiny_tmpfs(tmp_path):
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        db = mount / "log.sqlite"
        batch = batch_file(tmp_path / "b.jsonl", 3000, "tiny")
        result = run_cli("evaluate", "--batch", str(batch), "--db", str(db))
        _one_line_exit_4(result)
        if db.exists() and sqlite_count(db):
            assert_intact(str(db), sqlite_count(db))
            assert sqlite_count(db) % 500 == 0
            assert_no_partial_decision(db)
    finally:
        if subprocess.run(["umount", str(mount)]).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], check=True)


def test_read_only_database_uri(tmp_path):
    db = _seed_log(tmp_path)
    before = sqlite_count(db)
    request = tmp_path / "r.json"
    request.write_text(json.dumps(bijie_request(id="ro-1"), ensure_ascii=False), encoding="utf-8")
    result = run_cli("evaluate", str(request), "--db", f"sqlite:///file:{db}?mode=ro&uri=true")
    _one_line_exit_4(result)
    assert "readonly" in result.stderr
    assert sqlite_count(db) == before
    assert not (Path.cwd() / "file:").exists()


def test_read_only_database_file(tmp_path):
    """An immutable file (chattr +i): even root cannot write it."""
    db = _seed_log(tmp_path)
    before = sqlite_count(db)
    run_cli("log", "verify", "--db", str(db))  # checkpoint state settles before freezing
    if subprocess.run(["chattr", "+i", str(db)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not supported here")
    try:
        request = tmp_path / "r.json"
        request.write_text(json.dumps(bijie_request(id="ro-2"), ensure_ascii=False), encoding="utf-8")
        result = run_cli("evaluate", str(request), "--db", str(db))
        _one_line_exit_4(result)
    finally:
        subprocess.run(["chattr", "-i", str(db)], check=True)
    assert sqlite_count(db) == before
    assert_intact(str(db), before)
