"""The approval queue: what awaits the district body, approve/refuse as new log entries, one
act per decision even with officers acting at once, deadlines in working days (issue 4)."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

from click.testing import CliRunner

from helpers import TEST_RULESETS, add_account, make_request, write_json
from zhunru.cli import cli
from zhunru.errors import InputError
from zhunru.decide.evaluate import Engine, parse_request
from zhunru.rulebook.loader import Registry
from zhunru.log.store import DecisionLog, decision_record
from zhunru.office.queue import act, pending, queue

ENGINE = Engine(Registry([TEST_RULESETS]))
D = __import__("datetime").date


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def log_decision(url, created_at=None, **overrides):
    """Decide a testville request and log it, optionally as if logged at `created_at` (UTC)."""
    request = parse_request(make_request(**overrides))
    decision = ENGINE.evaluate(request)
    record = decision_record(request, decision)
    if created_at:
        record.entry["created_at"] = created_at
    log = DecisionLog(url)
    try:
        log.append([record])
    finally:
        log.close()
    return decision


def test_queue_approve_refuse_on_the_cli(tmp_path, db_url, testville):
    for name in ("张三", "李四", "王五"):
        add_account(db_url, name)
    needs = [log_decision(db_url, id=f"req-{i}", matter=f"清单外事项{i}") for i in range(3)]
    admitted = log_decision(db_url, id="req-duty", matter="居民会议")
    rejected = log_decision(db_url, id="req-neg", matter="招商引资")
    assert [d.outcome for d in needs] == ["needs_approval"] * 3
    listed = json.loads(invoke("queue", "--format", "json", "--db", db_url).output)
    assert [(x["request_id"], x["decision_id"]) for x in listed] == [(d.request_id, d.decision_id) for d in needs]
    first = listed[0]
    assert (first["matter"], first["department"], first["communities"]) == ("清单外事项0", "测试区应急局", ["洪山社区"])
    assert first["decide_within_days"] == 15 and first["deadline_clause"] == "testville@2020.1#TV-ADM-02"

    # approve by request id, refuse by decision id
    ok = invoke("approve", "req-0", "--as", "张三", "--note", "经费已落实", "--db", db_url, "--format", "json")
    assert ok.exit_code == 0, ok.output
    body = json.loads(ok.output)
    assert (body["act"], body["by"], body["decision_id"]) == ("approval", "张三", needs[0].decision_id)
    assert (body["actor"]["account"], body["actor"]["role"], body["actor"]["via"]) == ("张三", "admin", "console")
    assert body["actor"]["os_user"]
    refused = invoke("refuse", needs[1].decision_id, "--as", "李四", "--note", "未落实经费", "--db", db_url)
    assert refused.exit_code == 0 and "已拒绝" in refused.output
    assert [x["request_id"] for x in json.loads(invoke("queue", "--format", "json", "--db", db_url).output)] == ["req-2"]

    again = invoke("approve", needs[0].decision_id, "--as", "王五", "--db", db_url)
    assert again.exit_code == 2
    assert again.output.startswith("zhunru: error: ID: request req-0 was already approved (已批准) by 张三 at ")
    assert again.output.count("\n") == 1
    refuse_approved = invoke("refuse", "req-0", "--as", "王五", "--note", "x", "--db", db_url)
    assert refuse_approved.exit_code == 2 and "already approved (已批准) by 张三" in refuse_approved.output
    for ident, outcome in (("req-duty", "admitted"), ("req-neg", "rejected")):
        wrong = invoke("approve", ident, "--as", "张三", "--db", db_url)
        assert wrong.exit_code == 2 and f"is '{outcome}', not needs_approval" in wrong.output
    missing = invoke("approve", "no-such-request", "--as", "张三", "--db", db_url)
    assert missing.exit_code == 2 and "ID: no decision 'no-such-request'" in missing.output
    no_note = invoke("refuse", "req-2", "--as", "张三", "--note", "  ", "--db", db_url)
    assert no_note.exit_code == 2 and "--note" in no_note.output
    no_name = invoke("approve", "req-2", "--as", " ", "--db", db_url)
    assert no_name.exit_code == 2 and "--as" in no_name.output
    unknown = invoke("approve", "req-2", "--as", "nobody", "--db", db_url)
    assert unknown.exit_code == 2 and "--as: no account 'nobody'" in unknown.output

    # the decisions themselves are unchanged; the acts are new, chained entries
    shown = json.loads(invoke("log", "show", "req-0", "--format", "json", "--db", db_url).output)
    assert shown["outcome"] == "needs_approval" and shown["type"] == "decision"
    verify = invoke("log", "verify", "--db", db_url)
    assert verify.exit_code == 0 and "7 rows" in verify.output
    assert admitted.outcome == "admitted" and rejected.outcome == "rejected"
    text = invoke("queue", "--db", db_url, "--lang", "en")
    assert "req-2" in text.output and "1 awaiting approval" in text.output


def test_officers_acting_at_once_exactly_one_wins(db_url, testville):
    decision = log_decision(db_url, id="contested")
    accounts = [add_account(db_url, f"officer-{i}") for i in range(6)]
    barrier = threading.Barrier(6)
    results: list = [None] * 6

    def officer(i):
        log = DecisionLog(db_url)
        try:
            barrier.wait()
            entry = act(log, "contested", "approve" if i % 2 else "refuse", accounts[i], "note")
            results[i] = ("ok", entry["entry_type"], f"officer-{i}")
        except InputError as exc:
            results[i] = ("error", str(exc))
        finally:
            log.close()

    threads = [threading.Thread(target=officer, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wins = [r for r in results if r[0] == "ok"]
    assert len(wins) == 1, results
    _, kind, winner = wins[0]
    word = "approved" if kind == "approval" else "refused"
    for r in results:
        if r[0] == "error":
            assert f"was already {word}" in r[1] and f"by {winner} at " in r[1]
    log = DecisionLog(db_url)
    try:
        acts = log.entries(refers_to=decision.decision_id)
        assert len(acts) == 1 and list(pending(log)) == []
        assert log.verify()[1] is None
    finally:
        log.close()


def test_two_processes_approving_at_once(db_url, testville):
    log_decision(db_url, id="two-officers")
    for name in ("甲", "乙"):
        add_account(db_url, name)
    exe = str(Path(sys.executable).with_name("zhunru"))
    env = {**__import__("os").environ, **testville}
    procs = [subprocess.Popen([exe, "approve", "two-officers", "--as", name, "--db", db_url], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name in ("甲", "乙")]
    outcomes = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _, _ in outcomes)
    assert codes == [0, 2], outcomes
    winner = next(out for code, out, _ in outcomes if code == 0)
    loser = next(err for code, _, err in outcomes if code == 2)
    name = "甲" if "甲" in winner else "乙"
    assert f"already approved (已批准) by {name} at " in loser and loser.count("\n") == 1


def test_days_left_in_working_days(db_url, testville):
    # logged on Friday 2024-09-27 at 10:00 in China: 15 working days end on 2024-10-23
    # (National Day skipped, the make-up Sunday 9-29 and Saturday 10-12 counted)
    log_decision(db_url, created_at="2024-09-27T02:00:00+00:00", id="before-holiday", date="2024-09-02")
    # logged at 23:30 UTC on 2024-10-07 = 07:30 on the 8th in China
    log_decision(db_url, created_at="2024-10-07T23:30:00+00:00", id="after-holiday", date="2024-10-08")
    log = DecisionLog(db_url)
    try:
        items = {x["request_id"]: x for x in queue(log, today=D(2024, 9, 30))}
        late = {x["request_id"]: x for x in queue(log, today=D(2024, 10, 25))}
    finally:
        log.close()
    first = items["before-holiday"]
    assert (first["decided_on"], first["deadline"], first["days_left"], first["overdue"]) == \
        ("2024-09-27", "2024-10-23", 13, False)
    # applied Monday 2024-09-02: 30 working days are 9-3…9-13 (9), 9-14 调休 (10), Mid-Autumn 9-15…17
    # skipped, 9-18…9-27 (18), 9-29 调休, 9-30 (20), 10-8…10-12 (25, 10-12 调休), 10-14…10-18 (30)
    assert first["earliest_start"] == "2024-10-18" and first["apply_ahead_days"] == 30
    assert items["after-holiday"]["decided_on"] == "2024-10-08"
    assert items["after-holiday"]["deadline"] == "2024-10-28"  # 10-12 (调休) counts
    assert (late["before-holiday"]["days_left"], late["before-holiday"]["overdue"]) == (-2, True)
    text = invoke("queue", "--as-of", "2024-10-25", "--db", db_url)
    assert "已超期 2 个工作日" in text.output and "2024-10-28 (剩余 1 个工作日)" in text.output
    assert "最早可下派: 2024-10-18" in text.output


def test_deadline_beyond_the_calendar_is_said_not_guessed(db_url, testville):
    from zhunru.office.workdays import supported_years

    high = supported_years()[1]
    log_decision(db_url, created_at=f"{high}-12-20T02:00:00+00:00", id="year-end")
    result = invoke("queue", "--format", "json", "--as-of", f"{high}-12-21", "--db", db_url)
    assert result.exit_code == 0, result.output
    item = json.loads(result.output)[0]
    assert item["deadline"] is None and item["days_left"] is None
    assert "chinesecalendar covers" in item["calendar_problem"] and str(high + 1) in item["calendar_problem"]
    assert "期限无法计算" in invoke("queue", "--as-of", f"{high}-12-21", "--db", db_url).output


def test_ruleset_without_deadlines(tmp_path, sqlite_url):
    request = write_json(tmp_path / "r.json", {
        "id": "bj-1", "city": "bijie", "date": "2021-05-01",
        "department": {"name": "七星关区某局", "level": "district", "role": "department"},
        "kind": "task", "matter": "某项清单外工作",
        "communities": [{"name": "洪山社区", "population": 8200, "households": 2900}],
        "funding": {"amount": 50000, "source": "区财政"}})
    evaluated = invoke("evaluate", request, "--format", "json", "--db", sqlite_url)
    assert json.loads(evaluated.output)["outcome"] == "needs_approval"  # bijie sets no deadlines
    items = json.loads(invoke("queue", "--format", "json", "--db", sqlite_url).output)
    assert items[0]["decide_within_days"] is None and items[0]["days_left"] is None
    assert items[0]["calendar_problem"] is None
    empty = invoke("queue", "--db", sqlite_url, "--city", "guangzhou")
    assert "没有待审批的事项" in empty.output
