"""The database refuses rewrites (issue 11), on the real PostgreSQL server: after `zhunru log
protect`, UPDATE, DELETE and TRUNCATE of the log tables fail for the owner too, the head only
moves forward, and the application role may only read and append — while zhunru itself goes on
deciding, acting and verifying. SQLite says plainly that it cannot."""
from __future__ import annotations

import uuid

import psycopg
import pytest
from click.testing import CliRunner

from helpers import add_account, bijie_request, write_json
from zhunru.cli import cli


def run(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input)


def decide(tmp_path, url, rid):
    path = write_json(tmp_path / f"{rid}.json", bijie_request(id=rid, matter="入户经济普查",
                                                               funding={"amount": 80000, "source": "区财政"}))
    done = run("evaluate", path, "--db", url)
    assert done.exit_code == 0, done.output


def refused(url: str, statement: str) -> str:
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
        with pytest.raises(psycopg.Error) as caught:
            conn.execute(statement)
    return str(caught.value)


def test_the_log_is_append_only_for_everyone(tmp_path, pg_url):
    decide(tmp_path, pg_url, "a")
    role = "zr_app_" + uuid.uuid4().hex[:8]
    done = run("log", "protect", "--app-role", role, "--password-stdin", "--db", pg_url, input="app-password-123\n")
    assert done.exit_code == 0, done.output
    assert "zhunru_log: append-only" in done.output and f"role {role}" in done.output
    try:
        # the owner (here a superuser) is refused too
        assert "append-only" in refused(pg_url, "UPDATE zhunru_log SET outcome = 'admitted'")
        assert "append-only" in refused(pg_url, "DELETE FROM zhunru_log")
        assert "append-only" in refused(pg_url, "TRUNCATE zhunru_log CASCADE")
        assert "append-only" in refused(pg_url, "DELETE FROM zhunru_attachment")
        assert "only moves forward" in refused(pg_url, "UPDATE zhunru_head SET seq = 0")
        assert "only moves forward" in refused(pg_url, "DELETE FROM zhunru_head")

        # zhunru goes on: decide, act, verify, as the owner and as the application role
        decide(tmp_path, pg_url, "b")
        app_url = pg_url.replace("postgresql://postgres@", f"postgresql://{role}:app-password-123@").replace(
            "postgresql://postgres:postgres@", f"postgresql://{role}:app-password-123@")
        decide(tmp_path, app_url, "c")
        add_account(pg_url, "office", "admin")
        approved = run("approve", "c", "--as", "office", "--db", app_url)
        assert approved.exit_code == 0, approved.output
        assert run("log", "verify", "--db", app_url).exit_code == 0
        assert "log intact: 4 rows" in run("log", "verify", "--db", pg_url).output
        assert "permission denied" in refused(app_url, "UPDATE zhunru_log SET outcome = 'admitted'")
        assert "permission denied" in refused(app_url, "TRUNCATE zhunru_log")
    finally:
        with psycopg.connect(pg_url.split("?")[0], autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")


def test_the_registry_stays_writable_and_its_entries_append_only(tmp_path, pg_url):
    """Registry and allocations change in place by design; their entries in the chain do not."""
    from helpers import registry_csv

    role = "zr_app_" + uuid.uuid4().hex[:8]
    assert run("community", "import", registry_csv(tmp_path), "--db", pg_url).exit_code == 0
    done = run("log", "protect", "--app-role", role, "--password-stdin", "--db", pg_url, input="app-password-123\n")
    assert done.exit_code == 0, done.output
    app_url = pg_url.replace("postgresql://postgres@", f"postgresql://{role}:app-password-123@").replace(
        "postgresql://postgres:postgres@", f"postgresql://{role}:app-password-123@")
    try:
        for args in (("community", "edit", "QX-001", "--population", "8300"),
                     ("community", "retire", "QX-002", "--on", "2030-01-01"),
                     ("funding", "record", "--community", "QX-001", "--year", "2021", "--level", "city",
                      "--fund", "社区工作经费", "--amount", "32800")):
            done = run(*args, "--db", app_url)
            assert done.exit_code == 0, done.output
        assert "log intact: 4 rows" in run("log", "verify", "--db", app_url).output
        for url, says in ((pg_url, "append-only"), (app_url, "permission denied")):
            assert says in refused(url, "UPDATE zhunru_log SET payload_json = '{}' WHERE entry_type = 'registry_change'")
            assert says in refused(url, "DELETE FROM zhunru_log WHERE entry_type = 'funding_allocation'")
        # what the application role may change it cannot hide: verify names it, rebuild undoes it
        with psycopg.connect(app_url.replace("postgresql+psycopg", "postgresql")) as conn:
            conn.execute("UPDATE zhunru_community SET population = 1 WHERE code = 'QX-001'")
            conn.execute("DELETE FROM zhunru_allocation")
        assert "community QX-001: population is 1" in run("log", "verify", "--db", app_url).output
        assert run("log", "rebuild", "--db", app_url).exit_code == 0
        assert "log intact: 4 rows" in run("log", "verify", "--db", app_url).output
    finally:
        with psycopg.connect(pg_url.split("?")[0], autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")


def test_sqlite_says_it_cannot(sqlite_url, tmp_path):
    decide(tmp_path, sqlite_url, "a")
    done = run("log", "protect", "--db", sqlite_url)
    assert done.exit_code == 2 and "SQLite cannot refuse rewrites" in done.output
    bad = run("log", "protect", "--app-role", "Bad-Name", "--password-stdin", "--db", sqlite_url, input="x\n")
    assert bad.exit_code == 2
