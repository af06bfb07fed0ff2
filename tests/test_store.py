"""The log as a store: rows by reference, the community rows kept beside the chain (targets),
an older log upgraded in place, and appends from many threads committed together."""
from __future__ import annotations

import json
import shutil
import sqlite3
import threading

from helpers import REPO, bijie_request, district_request, run_cli
import zhunru
from zhunru.log.store import DecisionLog, decision_record

FORMAT1 = REPO / "tests" / "data" / "log-format1.sqlite"  # written by zhunru before format 2 (18 rows)


def _old_log(tmp_path) -> str:
    path = tmp_path / "old.sqlite"
    shutil.copy(FORMAT1, path)
    return f"sqlite:///{path}"


def test_a_format1_log_is_upgraded_in_place_and_its_chain_goes_on(tmp_path):
    url = _old_log(tmp_path)
    log = DecisionLog(url)
    assert log.verify() == (18, None)
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        fmts = {f for (f,) in conn.execute("SELECT fmt FROM zhunru_log")}
        kinds = {k for (k,) in conn.execute("SELECT kind FROM zhunru_log")}
        states = dict(conn.execute("SELECT l.request_id, t.state FROM zhunru_target t "
                                   "JOIN zhunru_log l ON l.seq = t.decision_seq"))
    assert fmts == {None} and None not in kinds  # old rows keep their hashes; derived columns filled
    assert states["bj-2021-014"] == "in_effect" and states["bj-2021-015"] == "refused"  # their acts
    shown = run_cli("log", "show", "bj-2021-015", "--db", url)
    assert shown.returncode == 0 and "须经审批" in shown.stdout, shown.stderr
    assert run_cli("notice", "bj-2021-015", "--db", url).returncode == 0
    with zhunru.Zhunru(db=url) as app:
        list(app.decide([bijie_request(id="after-upgrade")]))
    again = DecisionLog(url)
    assert again.verify() == (19, None)
    assert again.find("after-upgrade").fmt == 2


def test_a_changed_derived_column_of_an_old_row_is_caught(tmp_path):
    url = _old_log(tmp_path)
    DecisionLog(url)
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        conn.execute("UPDATE zhunru_log SET kind = 'posting' WHERE seq = 2")
    checked, problem = DecisionLog(url).verify()
    assert checked == 1 and problem.startswith("row 2 ") and "does not match its hash" in problem


def test_verify_checks_the_community_rows_and_rebuild_writes_them_again(sqlite_url, testville):
    # testville's plates bind (Bijie's plate rule is a 征求意见稿: its admissions are carried by nobody)
    with zhunru.Zhunru(db=sqlite_url) as app:
        list(app.decide([district_request(id=f"t{i}", kind="nameplate", matter="社区服务站") for i in range(3)]))
    path = sqlite_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE zhunru_target SET state = 'rejected' WHERE decision_seq = 2")
    verified = run_cli("log", "verify", "--db", sqlite_url, "--format", "json")
    report = json.loads(verified.stdout)
    assert verified.returncode == 1 and report["problem"].startswith("row 2: the community rows")
    rebuilt = run_cli("log", "rebuild", "--db", sqlite_url, "--format", "json")
    assert rebuilt.returncode == 0 and json.loads(rebuilt.stdout) == {"rebuilt": 3}
    assert run_cli("log", "verify", "--db", sqlite_url).returncode == 0
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM zhunru_carried")
    assert "missing from the rows the caps count" in json.loads(
        run_cli("log", "verify", "--db", sqlite_url, "--format", "json").stdout)["problem"]
    assert run_cli("log", "rebuild", "--db", sqlite_url).returncode == 0
    assert run_cli("log", "verify", "--db", sqlite_url).returncode == 0
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM zhunru_target WHERE decision_seq = 3")
    assert "row 3: the community rows" in json.loads(
        run_cli("log", "verify", "--db", sqlite_url, "--format", "json").stdout)["problem"]


def test_appends_from_many_threads_make_one_chain(db_url):
    """32 threads append one decision each, 20 times: group commit keeps every row, in one chain."""
    with zhunru.Zhunru(db=db_url) as app:
        requests = app.prepare([bijie_request(id=f"g{i}") for i in range(640)])
        records = [decision_record(r, app.engine.evaluate(r)) for r in requests]
    log = DecisionLog(db_url)
    errors = []

    def write(mine):
        try:
            for record in mine:
                (entry,) = log.append([record])
                assert entry["request_id"] == record.entry["request_id"]
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(records[i::32],)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert log.count() == 640 and log.verify() == (640, None)
