"""Input that cannot hurt (issue 11): devices, pipes and endless files are refused without being
read, numbers no backend can store are refused before anything is written, an unsupported or
mistyped --db is a plain error, a read-only log can be read, and a log file removed mid-run is
exit 4 with a true account of what became of the decisions already printed."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from helpers import REPO, bijie_request, run_cli, write_json

MIXED = REPO.parent / "shared" / "tools" / "mixed_requests.py"


def one_line_error(done, code: int, message: str) -> None:
    assert done.returncode == code, (done.returncode, done.stderr)
    assert message in done.stderr and done.stderr.count("\n") == 1, done.stderr


def test_devices_pipes_and_endless_files_are_refused_unread(tmp_path):
    rulesets = tmp_path / "rs"
    (rulesets / "zero").mkdir(parents=True)
    (rulesets / "zero" / "2020.1.yaml").symlink_to("/dev/zero")
    done = run_cli("ruleset", "list", env={"ZHUNRU_RULESETS": str(rulesets)})
    one_line_error(done, 2, "is not a regular file")
    (rulesets / "zero" / "2020.1.yaml").unlink()
    (rulesets / "pipe").mkdir()
    os.mkfifo(rulesets / "pipe" / "2020.1.yaml")
    done = run_cli("ruleset", "list", env={"ZHUNRU_RULESETS": str(rulesets)})
    one_line_error(done, 2, "is not a regular file")

    request = write_json(tmp_path / "r.json", bijie_request())
    os.mkfifo(tmp_path / "pipe")
    for attached in ("/dev/zero", str(tmp_path / "pipe")):
        done = run_cli("evaluate", request, "--attach", attached, "--db", f"sqlite:///{tmp_path / 'l.sqlite'}")
        one_line_error(done, 2, "--attach:")


def test_numbers_no_backend_stores_are_refused_before_writing(tmp_path, db_url):
    sys.set_int_max_str_digits(0)
    huge = bijie_request(communities=[{"name": "洪山社区", "population": int("9" * 5000)}])
    path = tmp_path / "huge.json"
    path.write_text(json.dumps(huge), encoding="utf-8")
    one_line_error(run_cli("evaluate", str(path), "--db", db_url), 2, "request: a number with thousands of digits")
    batch = tmp_path / "huge.jsonl"
    batch.write_text(json.dumps(bijie_request(id="ok")) + "\n" + json.dumps(huge) + "\n", encoding="utf-8")
    one_line_error(run_cli("evaluate", "--batch", str(batch), "--db", db_url), 2, "line 2: a number with thousands")
    many = write_json(tmp_path / "many.json", bijie_request(communities=[{"name": "洪山社区", "population": 3_000_000_000}]))
    one_line_error(run_cli("evaluate", many, "--db", db_url), 2, "communities.0.population")
    assert "intact: 0 rows" in run_cli("log", "verify", "--db", db_url).stdout


def test_the_db_option(tmp_path):
    request = write_json(tmp_path / "r.json", bijie_request())
    one_line_error(run_cli("evaluate", request, "--db", "mysql://u@h/db"), 2, "--db: 'mysql' is not supported")
    missing = tmp_path / "typo" / "deeper" / "log.sqlite"
    for command in (["log", "verify"], ["log", "list"], ["queue"], ["publish", "--district", "x"]):
        one_line_error(run_cli(*command, "--db", f"sqlite:///{missing}"), 2, "--db: no log at")
    assert not (tmp_path / "typo").exists()

    log = tmp_path / "log.sqlite"
    assert run_cli("evaluate", request, "--db", f"sqlite:///{log}").returncode == 0
    read_only = f"sqlite:///file:{log}?mode=ro&uri=true"
    verified = run_cli("log", "verify", "--db", read_only)
    assert verified.returncode == 0 and "intact: 1 rows" in verified.stdout
    assert run_cli("log", "list", "--db", read_only).returncode == 0


def test_a_log_file_removed_mid_run_is_exit_4_and_says_what_was_lost(tmp_path):
    batch = tmp_path / "mixed.jsonl"
    batch.write_text(subprocess.run([sys.executable, str(MIXED), "20000"], capture_output=True, text=True,
                                    check=True).stdout, encoding="utf-8")
    log = tmp_path / "log.sqlite"
    zhunru = os.path.join(os.path.dirname(sys.executable), "zhunru")
    proc = subprocess.Popen([zhunru, "evaluate", "--batch", str(batch), "--db", f"sqlite:///{log}", "--format", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    printed = 0
    for _line in proc.stdout:  # the first chunk is committed: then the file goes
        printed += 1
        if printed == 500:
            for suffix in ("", "-wal", "-shm"):
                (tmp_path / f"log.sqlite{suffix}").unlink(missing_ok=True)
            break
    rest = proc.stdout.read()
    err = proc.stderr.read()
    assert proc.wait(timeout=300) == 4, err
    printed += len(rest.splitlines())
    assert f"the {printed} decisions printed before line {printed + 1} went to the removed file" in err, err
    assert "was deleted or replaced while this run wrote to it" in err and err.count("\n") == 1
