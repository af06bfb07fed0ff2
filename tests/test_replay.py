"""Appeal replay (申诉复核, issue 11): a logged decision decided again must be reproduced exactly,
with the standing state its communities had when it was logged (caps counted from the rows
before it, acts only if logged before it); where it is not, the cause is named. And the impact
analysis of a ruleset version before it is published."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from helpers import REPO, TEST_RULESETS, add_account, make_request, write_json
from test_standing import capville, decide, plate  # noqa: F401 - the capped test city
from zhunru.cli import cli

MIXED = REPO.parent / "shared" / "tools" / "mixed_requests.py"


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def replay_all(db_url) -> dict:
    done = run("log", "replay", "--all", "--format", "json", "--db", db_url)
    assert done.exit_code in (0, 1), done.output
    return json.loads(done.output)


def test_caps_and_acts_are_replayed_as_they_stood(tmp_path, capville, db_url):  # noqa: F811
    add_account(db_url, "office", "admin")
    assert decide(plate(tmp_path, "p1", "社区居委会牌子"), "--db", db_url)["outcome"] == "admitted"
    assert decide(plate(tmp_path, "p2", "社区服务站牌子"), "--db", db_url)["outcome"] == "rejected"  # over the cap
    assert run("withdraw", "p1", "--as", "office", "--note", "撤销", "--db", db_url).exit_code == 0
    assert decide(plate(tmp_path, "p3", "社区服务站牌子"), "--db", db_url)["outcome"] == "admitted"  # the place freed
    # now: p2 decided again today would be rejected still (p3 holds the place), and as logged it was
    assert replay_all(db_url) == {"replayed": 3, "reproduced": 3, "not_reproduced": []}
    one = run("log", "replay", "p2", "--db", db_url)
    assert one.exit_code == 0 and "reproduced exactly" in one.output


def test_a_changed_ruleset_file_is_named(tmp_path, monkeypatch):
    from zhunru.rulebook.loader import default_registry

    root = tmp_path / "rulesets"
    shutil.copytree(TEST_RULESETS, root)
    monkeypatch.setenv("ZHUNRU_RULESETS", str(root))
    default_registry.cache_clear()
    db = f"sqlite:///{tmp_path / 'log.sqlite'}"
    try:
        request = write_json(tmp_path / "r.json", make_request(id="r1", matter="招商引资"))
        assert run("evaluate", request, "--db", db).exit_code == 0
        assert run("log", "replay", "r1", "--db", db).exit_code == 0
        version = next((root / "testville").glob("*.yaml"))
        version.write_text(version.read_text(encoding="utf-8") + "\n# edited after the decision\n", encoding="utf-8")
        default_registry.cache_clear()
        done = run("log", "replay", "r1", "--db", db, "--format", "json")
        assert done.exit_code == 1
        answer = json.loads(done.output)
        assert not answer["reproduced"] and "its file changed since" in answer["differences"][0]
        today = run("log", "replay", "r1", "--as-of", "today", "--db", db)
        assert today.exit_code == 0 and "decided again" in today.output
    finally:
        default_registry.cache_clear()


def test_usage_errors(sqlite_url):
    for args, message in [([], "ID: give one logged decision"), (["x", "--all"], "ID: give one"),
                          (["--ruleset", "bijie@2017.1"], "--since: the impact analysis"),
                          (["--all", "--since", "2021-01-01"], "--since goes with --ruleset"),
                          (["nope"], "ID: no decision 'nope'"),
                          (["--since", "2021-01-01", "--ruleset", "atlantis@1"], "--ruleset:")]:
        done = run("log", "replay", *args, "--db", sqlite_url)
        assert done.exit_code == 2 and message in done.output, (args, done.output)


@pytest.mark.slow
def test_every_decision_of_a_10000_decision_log_is_reproduced(tmp_path, sqlite_url):
    """The bar: the mixed workload (capped plates, postings, assessments, funded and unfunded
    tasks for 50 communities), 10,000 decisions, some approved and refused, all replayed."""
    batch = tmp_path / "mixed.jsonl"
    batch.write_text(subprocess.run([sys.executable, str(MIXED), "10000"], capture_output=True, text=True,
                                    check=True).stdout, encoding="utf-8")
    zhunru = str(Path(sys.executable).with_name("zhunru"))
    done = subprocess.run([zhunru, "evaluate", "--batch", str(batch), "--db", sqlite_url, "--format", "json"],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    decisions = [json.loads(line) for line in done.stdout.splitlines()]
    add_account(sqlite_url, "office", "admin")
    pending = [d["request_id"] for d in decisions if d["outcome"] == "needs_approval"][:20]
    for i, rid in enumerate(pending):
        verb = ["approve", "refuse"][i % 2]
        assert run(verb, rid, "--as", "office", "--note", "复核", "--db", sqlite_url).exit_code == 0
    result = replay_all(sqlite_url)
    assert result["replayed"] == 10000 and result["not_reproduced"] == [], result["not_reproduced"][:3]
    impact = json.loads(run("log", "replay", "--since", "2021-01-01", "--ruleset", "bijie@2017.1",
                            "--format", "json", "--db", sqlite_url).output)
    assert impact["decisions"] == 10000
