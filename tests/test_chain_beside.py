"""Everything a decision depends on is in the chain (issue 11 §3): each change of the community
registry and each funding allocation is an entry of the hash chain, written with its table in one
transaction; `log verify` catches a registry row or an allocation changed, added or deleted with
SQL (naming the community or the allocation), `log rebuild` writes them again from the chain, a
decision's ruleset sha256 is hashed with its row, and logs and registries written before all this
still verify. Done as an attacker with the database would, on a real SQLite file and on the real
PostgreSQL server, with the console script as a subprocess."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, text

from helpers import bijie_request, import_communities, registry_csv, run_cli, write_json, zhunru
from zhunru.log.store import normalise_url


@pytest.fixture(autouse=True)
def key_file(tmp_path, monkeypatch):
    monkeypatch.setenv("ZHUNRU_SIGNING_KEY", str(tmp_path / "keys" / "signing.key"))


def ok(*args) -> str:
    """A command that must succeed, in-process (the console script itself: `run_cli`)."""
    done = zhunru(*args)
    assert done.exit_code == 0, (done.output, done.exception)
    return done.stdout


def verify(db_url, *extra) -> tuple[int, dict]:
    done = zhunru("log", "verify", "--db", db_url, "--format", "json", *extra)
    assert done.exit_code in (0, 1), (done.output, done.exception)
    return done.exit_code, json.loads(done.stdout)


def sql(db_url, statement: str, **params) -> None:
    engine = create_engine(normalise_url(db_url))
    with engine.begin() as conn:
        conn.execute(text(statement), params)
    engine.dispose()


def rows(db_url, statement: str) -> list[dict]:
    engine = create_engine(normalise_url(db_url))
    with engine.connect() as conn:
        found = [dict(r) for r in conn.execute(text(statement)).mappings()]
    engine.dispose()
    return found


def office(tmp_path, db_url) -> None:
    """A decision, the registry imported, one community edited and one retired, one allocation."""
    path = write_json(tmp_path / "a.json", bijie_request(id="a"))
    ok("evaluate", path, "--db", db_url)
    import_communities(tmp_path, db_url)
    ok("community", "edit", "QX-001", "--population", "8300", "--db", db_url)
    ok("community", "retire", "QX-003", "--on", "2024-01-01", "--db", db_url)
    ok("funding", "record", "--community", "QX-001", "--year", "2021", "--level", "city", "--fund", "社区工作经费",
       "--amount", "32800", "--document", "毕财发〔2021〕5号", "--db", db_url)


def test_registry_changes_and_allocations_are_entries_of_the_chain(tmp_path, db_url):
    office(tmp_path, db_url)
    assert verify(db_url) == (0, {"ok": True, "checked": 5, "problem": None})
    listed = json.loads(ok("log", "list", "--db", db_url, "--format", "json"))
    assert [(r["seq"], r["type"], r["outcome"]) for r in listed] == [
        (5, "funding_allocation", "recorded"), (4, "registry_change", "retire"), (3, "registry_change", "edit"),
        (2, "registry_change", "import"), (1, "decision", "admitted")]
    # the import is one entry with every community it added; who and when are in it
    shown = json.loads(ok("log", "show", "2", "--db", db_url, "--format", "json"))
    payload = shown["payload"]
    assert payload["action"] == "import" and payload["by"].startswith("console:")
    assert payload["actor"]["via"] == "console"
    assert [c["code"] for c in payload["changes"]] == ["QX-001", "QX-002", "QX-003", "HH-001"]
    assert payload["changes"][0]["new"] == {"name": "洪山社区", "district": "七星关区", "street": "市西街道",
                                            "population": 8200, "households": 2900}
    # the recorded history names the entry that records it
    history = rows(db_url, "SELECT code, field, entry_seq FROM zhunru_community_change ORDER BY id")
    assert [h["entry_seq"] for h in history] == [2, 2, 2, 2, 3, 4]
    text_ = ok("log", "show", "3", "--db", db_url)
    assert "registry edit by console:" in text_ and "QX-001 population: 8200 → 8300" in text_
    assert "allocation #1: QX-001 2021 city 「社区工作经费」 32800.00 元" in ok("log", "show", "5", "--db", db_url)
    # readers of decisions do not take them for decisions
    refused = run_cli("log", "replay", "3", "--db", db_url)
    assert refused.returncode == 2 and "registry_change entry of the log, not a decision" in refused.stderr
    assert run_cli("notice", "5", "--db", db_url).returncode == 2
    report = json.loads(ok("log", "replay", "--all", "--db", db_url, "--format", "json"))
    assert report["replayed"] == 1 and report["reproduced"] == 1


TAMPERS = [
    ("UPDATE zhunru_community SET population = 99999 WHERE code = 'QX-001'",
     "community QX-001: population is 99999 in the registry, 8300 in the log"),
    ("UPDATE zhunru_community SET retired_at = NULL WHERE code = 'QX-003'",
     "community QX-003: retired_at is None in the registry, '2024-01-01' in the log"),
    ("DELETE FROM zhunru_community WHERE code = 'HH-001'",
     "community HH-001: in the log's registry entries, missing from the registry"),
    ("INSERT INTO zhunru_community (code, name, district, street, updated_at) "
     "VALUES ('QX-999', '假社区', '七星关区', '市西街道', '2024-01-01T00:00:00+00:00')",
     "community QX-999: in the registry, but no registry entry of the log adds it"),
    ("DELETE FROM zhunru_community_change WHERE field = 'population'",
     "community QX-001: the recorded history of row 3 disagrees with the log"),
    ("UPDATE zhunru_allocation SET amount = '328000.00'",
     "allocation #1 (QX-001): amount is '328000.00', the log recorded '32800.00'"),
    ("DELETE FROM zhunru_allocation",
     "allocation #1 (QX-001, 2021 city 社区工作经费 32800.00): recorded in the log, missing from the allocations"),
]
TABLES = ("SELECT code, name, district, street, population, households, retired_at, updated_at FROM zhunru_community "
          "ORDER BY code",
          "SELECT code, district, action, field, old_value, new_value, actor, at, entry_seq FROM zhunru_community_change "
          "ORDER BY id",
          "SELECT * FROM zhunru_allocation ORDER BY id")


def test_a_table_changed_with_sql_fails_verify_and_rebuild_restores_it(tmp_path, db_url):
    office(tmp_path, db_url)
    before = [rows(db_url, q) for q in TABLES]
    for tamper, named in TAMPERS:
        sql(db_url, tamper)
        code, report = verify(db_url)
        assert code == 1 and report["problem"].startswith(named), (tamper, report)
        rebuilt = json.loads(ok("log", "rebuild", "--db", db_url, "--format", "json"))
        assert rebuilt["registry"] == 4 and rebuilt["allocations"] == 1
        assert verify(db_url) == (0, {"ok": True, "checked": 5, "problem": None}), tamper
        assert [rows(db_url, q) for q in TABLES] == before, tamper
    # the console script itself: one line naming the community, exit 1
    sql(db_url, TAMPERS[1][0])
    done = run_cli("log", "verify", "--db", db_url)
    assert done.returncode == 1 and done.stdout.count("\n") == 1 and TAMPERS[1][1] in done.stdout
    done = run_cli("log", "rebuild", "--db", db_url)
    assert done.returncode == 0 and "the registry's 4 communities" in done.stdout and "1 funding allocations" in done.stdout
    assert run_cli("log", "verify", "--db", db_url).returncode == 0


def test_a_change_made_with_sql_stays_visible_after_a_later_edit(tmp_path, db_url):
    office(tmp_path, db_url)
    sql(db_url, "UPDATE zhunru_community SET households = 1 WHERE code = 'QX-002'")
    ok("community", "edit", "QX-002", "--households", "1800", "--db", db_url)  # the table agrees again
    code, report = verify(db_url)
    assert code == 1 and report["problem"].startswith(
        "community QX-002: row 6 changed households from 1, but the log had 1750 "
        "(the registry was changed outside zhunru before row 6)")


def test_a_registry_entry_changed_in_the_chain_fails_the_chain(tmp_path, db_url):
    office(tmp_path, db_url)
    sql(db_url, "UPDATE zhunru_log SET payload_json = REPLACE(payload_json, '8300', '9300') WHERE seq = 3")
    sql(db_url, "UPDATE zhunru_community SET population = 9300 WHERE code = 'QX-001'")
    code, report = verify(db_url)
    assert code == 1 and report["problem"].startswith("row 3 (registry_change ") and "does not match its hash" in \
        report["problem"]
    assert verify(db_url)[1]["checked"] == 2


def test_checkpoints_taken_before_still_verify_and_catch_a_rewritten_registry_entry(tmp_path, db_url):
    from test_checkpoint import rechain

    path = write_json(tmp_path / "a.json", bijie_request(id="a"))
    ok("evaluate", path, "--db", db_url)
    early = tmp_path / "early.jsonl"
    early.write_text(ok("log", "checkpoint", "--db", db_url))
    office_later = [("community", "import", registry_csv(tmp_path)), ("community", "edit", "QX-001", "--population", "8300")]
    for args in office_later:
        ok(*args, "--db", db_url)
    code, report = verify(db_url, "--against", early)
    assert (code, report["ok"], report["checked"]) == (0, True, 3)
    late = tmp_path / "late.jsonl"
    late.write_text(ok("log", "checkpoint", "--db", db_url))
    # the edit's entry rewritten, the chain recomputed and the table made to agree: only the
    # checkpoint taken after it can tell
    sql(db_url, "UPDATE zhunru_log SET payload_json = REPLACE(payload_json, '8300', '9300') WHERE seq = 3")
    sql(db_url, "UPDATE zhunru_community SET population = 9300 WHERE code = 'QX-001'")
    sql(db_url, "UPDATE zhunru_community_change SET new_value = '9300' WHERE field = 'population'")
    rechain(db_url)
    assert verify(db_url)[0] == 0
    assert verify(db_url, "--against", early)[0] == 0
    code, report = verify(db_url, "--against", late)
    assert code == 1 and "row 3 no longer carries the hash it had" in report["problem"]


def test_a_decisions_ruleset_sha256_is_hashed_with_its_row(tmp_path, db_url):
    path = write_json(tmp_path / "a.json", bijie_request(id="a"))
    ok("evaluate", path, "--db", db_url)
    sql(db_url, "UPDATE zhunru_log SET ruleset_sha256 = :s WHERE seq = 1", s="0" * 64)
    code, report = verify(db_url)
    assert code == 1 and report["problem"].startswith("row 1 (decision ") and "does not match its hash" in \
        report["problem"]


OLD_CHANGE_TABLE = ("CREATE TABLE zhunru_community_change (id {serial} PRIMARY KEY, code VARCHAR(64) NOT NULL, "
                    "district VARCHAR(200), action VARCHAR(16) NOT NULL, field VARCHAR(32), old_value VARCHAR(2000), "
                    "new_value VARCHAR(2000), actor VARCHAR(200) NOT NULL, at VARCHAR(40) NOT NULL)")
OLD_COMMUNITY_TABLE = ("CREATE TABLE zhunru_community (id {serial} PRIMARY KEY, code VARCHAR(64) NOT NULL UNIQUE, "
                       "name VARCHAR(200) NOT NULL, district VARCHAR(200) NOT NULL, street VARCHAR(200) NOT NULL, "
                       "population INTEGER, households INTEGER, updated_at VARCHAR(40) NOT NULL, "
                       "retired_at VARCHAR(10))")
OLD_ALLOCATION_TABLE = ("CREATE TABLE zhunru_allocation (id {serial} PRIMARY KEY, community_code VARCHAR(64) NOT NULL, "
                        "year INTEGER NOT NULL, level VARCHAR(16) NOT NULL, fund VARCHAR(200) NOT NULL, "
                        "amount VARCHAR(40) NOT NULL, document VARCHAR(200), recorded_at VARCHAR(40) NOT NULL)")


def old_office(tmp_path, db_url) -> None:
    """A log with a decision, and a registry, its history and an allocation as the version before
    this one wrote them: no chain entries, history rows without entry_seq."""
    path = write_json(tmp_path / "a.json", bijie_request(id="a"))
    ok("evaluate", path, "--db", db_url)
    serial = "INTEGER" if db_url.startswith("sqlite") else "SERIAL"
    for table in (OLD_COMMUNITY_TABLE, OLD_CHANGE_TABLE, OLD_ALLOCATION_TABLE):
        sql(db_url, table.format(serial=serial))
    sql(db_url, "INSERT INTO zhunru_community (code, name, district, street, population, households, updated_at) "
                "VALUES ('QX-001', '洪山社区', '七星关区', '市西街道', 8200, 2900, '2021-01-01T00:00:00+00:00'), "
                "('QX-002', '南关社区', '七星关区', '市西街道', 5100, 1750, '2021-01-01T00:00:00+00:00')")
    sql(db_url, "INSERT INTO zhunru_community_change (code, district, action, field, old_value, new_value, actor, at) "
                "VALUES ('QX-001', '七星关区', 'import', NULL, NULL, '{}', 'console:old', '2021-01-01T00:00:00+00:00')")
    sql(db_url, "INSERT INTO zhunru_allocation (community_code, year, level, fund, amount, document, recorded_at) "
                "VALUES ('QX-001', 2021, 'city', '社区工作经费', '32800.00', NULL, '2021-02-01T00:00:00+00:00')")


def test_a_registry_and_allocations_from_before_verify_then_get_a_baseline(tmp_path, db_url):
    old_office(tmp_path, db_url)
    cp = tmp_path / "cp.jsonl"
    cp.write_text(ok("log", "checkpoint", "--db", db_url))
    # read-only commands write nothing: the old registry is from before the chain recorded it
    assert verify(db_url) == (0, {"ok": True, "checked": 1, "problem": None})
    ok("community", "list", "--db", db_url)
    assert verify(db_url)[1]["checked"] == 1
    # the first command that writes records a baseline of each, then its own change
    ok("community", "edit", "QX-002", "--population", "5200", "--db", db_url)
    ok("funding", "record", "--community", "QX-002", "--year", "2021", "--level", "city", "--fund", "社区工作经费",
       "--amount", "20000", "--db", db_url)
    listed = json.loads(ok("log", "list", "--db", db_url, "--format", "json"))
    assert [(r["type"], r["outcome"]) for r in reversed(listed)] == [
        ("decision", "admitted"), ("registry_change", "baseline"), ("registry_change", "edit"),
        ("funding_allocation", "baseline"), ("funding_allocation", "recorded")]
    code, report = verify(db_url, "--against", cp)
    assert (code, report["checked"]) == (0, 5), report
    assert "baseline: the 2 communities there were" in ok("log", "show", "2", "--db", db_url)
    # from the baseline on, the old rows are covered too
    sql(db_url, "UPDATE zhunru_community SET population = 1 WHERE code = 'QX-001'")
    assert verify(db_url)[1]["problem"].startswith("community QX-001: population is 1 in the registry, 8200 in the log")
    ok("log", "rebuild", "--db", db_url)
    assert verify(db_url)[0] == 0
    sql(db_url, "UPDATE zhunru_community_change SET actor = 'console:someone' WHERE entry_seq IS NULL")
    assert verify(db_url)[1]["problem"].startswith("row 2: the registry's history before the log recorded it")
    sql(db_url, "UPDATE zhunru_community_change SET actor = 'console:old' WHERE entry_seq IS NULL")
    sql(db_url, "UPDATE zhunru_allocation SET document = 'x' WHERE id = 1")
    assert verify(db_url)[1]["problem"].startswith("allocation #1 (QX-001): document is 'x', the log recorded None")


def test_an_import_of_10000_communities_is_one_entry(tmp_path, sqlite_url):
    lines = ["name,code,district,street,population,households"]
    lines += [f"社区{i},C-{i:05d},区{i % 7},街道{i % 50},{1000 + i},{300 + i}" for i in range(10_000)]
    path = registry_csv(tmp_path, "\n".join(lines) + "\n")
    summary = json.loads(ok("community", "import", path, "--db", sqlite_url, "--format", "json"))
    assert summary["added"] == 10_000
    lines[1:] = [line.replace(",1000,", ",1001,") if line.startswith("社区0,") else line for line in lines[1:]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert json.loads(ok("community", "import", path, "--db", sqlite_url, "--format", "json"))["updated"] == 1
    assert verify(sqlite_url) == (0, {"ok": True, "checked": 2, "problem": None})
    shown = json.loads(ok("log", "show", "1", "--db", sqlite_url, "--format", "json"))
    assert len(shown["payload"]["changes"]) == 10_000
    sql(sqlite_url, "UPDATE zhunru_community SET street = '别处' WHERE code = 'C-09999'")
    assert verify(sqlite_url)[1]["problem"].startswith("community C-09999: street is '别处' in the registry")


def test_registry_writes_and_appends_from_threads_keep_one_chain(db_url):
    """Registry imports and allocations take the writers' lock of the group commit that decisions
    go through: written at the same time from threads, they make one chain that verifies."""
    import threading

    from zhunru.app import Zhunru
    from zhunru.office.allocations import Allocations
    from zhunru.office.registry import CommunityRegistry

    with Zhunru(db=db_url) as app:
        registry = CommunityRegistry(app.log)
        failures = []

        def decide(k):
            try:
                for i in range(8):
                    list(app.decide([bijie_request(id=f"r{k}-{i}")]))
            except Exception as exc:  # noqa: BLE001 - reported below
                failures.append(exc)

        def office_work():
            try:
                for i in range(8):
                    registry.import_rows([{"name": f"社区{i}", "code": f"C{i}", "district": "七星关区", "street": "市西街道",
                                           "population": 1000 + i, "households": 300}])
                    Allocations(registry).record(f"C{i}", 2021, "city", "社区工作经费", "100")
            except Exception as exc:  # noqa: BLE001 - reported below
                failures.append(exc)

        threads = [threading.Thread(target=decide, args=(k,)) for k in range(3)] + [threading.Thread(target=office_work)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert failures == []
        assert app.log.verify() == (40, None)
