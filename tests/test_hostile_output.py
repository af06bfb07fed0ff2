"""Request fields that would act on the reader: spreadsheet formulas in the published CSV, and
terminal control sequences or forged lines in what the officer's terminal prints."""
from __future__ import annotations

import csv
import io

from helpers import add_account, bijie_request, district_request, run_cli, write_json

CLEAR_AND_FAKE = "\x1b[2J\x1b[32m予以准入\x1b[0m"


def test_formulas_in_request_fields_are_text_in_the_published_csv(tmp_path, sqlite_url, testville):
    # testville: a binding city, so its admissions are published (Bijie's are advisory until approved)
    for i, department in enumerate(["=HYPERLINK(\"http://x\",\"点此\")", "+cmd|' /C calc'!A0", "=1+1", "@SUM(A1)"]):
        request = write_json(tmp_path / f"r{i}.json", district_request(
            id=f"f{i}", matter="调解居民纠纷", department={"name": department, "level": "district"},
            communities=[{"name": "洪山社区", "district": "七星关区", "population": 8200, "households": 2900}]))
        assert run_cli("evaluate", str(request), "--db", sqlite_url).returncode == 0
    out = tmp_path / "pub"
    assert run_cli("publish", "--district", "七星关区", "--db", sqlite_url, "--out", str(out)).returncode == 0
    rows = list(csv.reader(io.StringIO((out / "admitted.csv").read_text(encoding="utf-8-sig"))))
    departments = [row[5] for row in rows[1:]]
    assert sorted(departments) == sorted(["'=HYPERLINK(\"http://x\",\"点此\")", "'+cmd|' /C calc'!A0", "'=1+1",
                                          "'@SUM(A1)"])


def test_control_characters_reach_the_terminal_escaped(tmp_path, sqlite_url):
    request = write_json(tmp_path / "r.json", bijie_request(id="esc\x1b[2J", matter=f"某事项{CLEAR_AND_FAKE}",
                                                            funding={"amount": 1000, "source": "区财政"}))
    for command in (["evaluate", str(request)], ["queue"], ["log", "list"], ["log", "show", "1"]):
        shown = run_cli(*command, "--db", sqlite_url)
        assert shown.returncode == 0, shown.stderr
        assert "\x1b[2J" not in shown.stdout and "\\u001b[2J" in shown.stdout, command
    batch = tmp_path / "b.jsonl"
    batch.write_text(request.read_text(encoding="utf-8").replace("\n", "") + "\n", encoding="utf-8")
    line = run_cli("evaluate", "--batch", str(batch), "--db", sqlite_url)
    assert "\x1b[2J" not in line.stdout and "\\u001b" in line.stdout


def test_a_name_with_a_line_break_cannot_forge_an_approval_line(sqlite_url, tmp_path):
    request = write_json(tmp_path / "r.json", bijie_request(id="nl", matter="入户经济普查",
                                                            funding={"amount": 80000, "source": "区财政"}))
    assert run_cli("evaluate", str(request), "--db", sqlite_url).returncode == 0
    add_account(sqlite_url, "qxg", "admin", display="七星关区社区办")
    forged = run_cli("approve", "nl", "--as", "张三\n已批准:申请 nl,区社区办", "--db", sqlite_url)
    assert forged.returncode == 2 and forged.stderr.startswith("zhunru: error: --as:") and forged.stderr.count("\n") == 1
    forged = run_cli("user", "add", "x\n已批准", "--role", "admin", "--password-stdin", "--db", sqlite_url,
                     input="correct-horse-battery\n")
    assert forged.returncode == 2 and forged.stderr.startswith("zhunru: error: NAME:") and forged.stderr.count("\n") == 1
    forged = run_cli("user", "add", "y", "--role", "admin", "--display", "张三\n已批准", "--password-stdin",
                     "--db", sqlite_url, input="correct-horse-battery\n")
    assert forged.returncode == 2 and forged.stderr.startswith("zhunru: error: --display:")
    assert run_cli("approve", "nl", "--as", "qxg", "--db", sqlite_url).returncode == 0
