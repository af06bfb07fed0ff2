"""The command line end to end: options, the shipped rulesets' own checks, plugins, and that
commands needing no database import none."""
from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from helpers import REPO, RULESETS, bijie_request, run_cli, write_json
from zhunru.cli import cli

SHARED = REPO.parent / "shared"
EXAMPLES = REPO / "examples" / "requests"


def invoke(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input)


def rows(url: str) -> int:
    path = url.removeprefix("sqlite:///")
    if not Path(path).exists():
        return 0
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT count(*) FROM zhunru_log").fetchone()[0]


# -- the shipped rulesets check themselves ------------------------------------------------
def test_shipped_cases_pass():
    result = invoke("ruleset", "test", RULESETS)
    assert result.exit_code == 0, result.output
    assert " 0 failed" in result.output


def test_shipped_rulesets_validate():
    result = invoke("ruleset", "validate", RULESETS)
    assert result.exit_code == 0, result.output
    files = len([p for p in RULESETS.glob("*/*.yaml") if p.name != "concordance.yaml"])
    assert result.output.strip().splitlines() == [f"{files} file(s), 0 problem(s)"]


def test_shipped_quotes_are_in_the_seeds():
    tool = SHARED / "tools" / "check_quotes.py"
    if not tool.is_file():
        pytest.skip("../shared/tools/check_quotes.py is not beside this clone")
    result = subprocess.run([sys.executable, str(tool), str(RULESETS), str(SHARED / "seeds")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    verified = re.search(r"(\d+)/(\d+) quotes verified", result.stdout)
    assert verified and verified[1] == verified[2] and int(verified[1]) > 0, result.stdout


def test_ruleset_list_and_schema():
    listed = invoke("ruleset", "list", "--format", "json")
    assert listed.exit_code == 0
    ids = {r["id"] for r in json.loads(listed.stdout)}
    assert {"national", "bijie"} <= ids
    schema = invoke("ruleset", "schema")
    assert schema.exit_code == 0 and "properties" in json.loads(schema.stdout)


# -- evaluate options ---------------------------------------------------------------------
@pytest.fixture
def request_file(tmp_path):
    return write_json(tmp_path / "r.json", bijie_request())


def test_fail_on(request_file, tmp_path):
    rejected = write_json(tmp_path / "x.json", bijie_request(matter="招商引资"))  # national's negative list
    for path, fail_on, code, outcome in ((rejected, "rejected", 3, "rejected"),
                                         (rejected, "needs_approval", 0, "rejected"),
                                         (request_file, "rejected", 0, "admitted")):
        result = invoke("evaluate", path, "--no-log", "--fail-on", fail_on, "--format", "json")
        assert result.exit_code == code, (fail_on, result.output)
        assert json.loads(result.stdout)["outcome"] == outcome  # the decision is printed either way
    # any line of a batch that hits makes the run exit 3; every line is still printed
    batch = tmp_path / "b.jsonl"
    batch.write_text(request_file.read_text() + "\n" + rejected.read_text() + "\n", encoding="utf-8")
    result = invoke("evaluate", "--batch", batch, "--no-log", "--fail-on", "rejected", "--format", "json")
    assert result.exit_code == 3 and len(result.stdout.splitlines()) == 2


def test_fail_on_subprocess(tmp_path):
    rejected = write_json(tmp_path / "x.json", bijie_request(matter="招商引资"))
    result = run_cli("evaluate", str(rejected), "--no-log", "--fail-on", "rejected")
    assert result.returncode == 3, result.stderr
    assert "不予准入" in result.stdout or "不予" in result.stdout


def test_no_log_writes_nothing(request_file, sqlite_url):
    result = invoke("evaluate", request_file, "--no-log", "--db", sqlite_url)
    assert result.exit_code == 0, result.output
    assert "结论: 予以准入" in result.stdout and "社区矫正" in result.stdout
    assert not Path(sqlite_url.removeprefix("sqlite:///")).exists()


def test_as_of_overrides_the_date(tmp_path):
    early = write_json(tmp_path / "r.json", bijie_request(date="2010-01-01"))
    assert invoke("evaluate", early, "--no-log").exit_code == 2
    result = invoke("evaluate", early, "--no-log", "--as-of", "2019-06-01", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["outcome"] == "admitted"


def test_lang_en_and_zh(request_file):
    zh = invoke("evaluate", request_file, "--no-log")
    en = invoke("evaluate", request_file, "--no-log", "--lang", "en")
    assert zh.exit_code == en.exit_code == 0
    assert "准入" in zh.stdout and "Outcome: admitted" not in zh.stdout
    assert "Outcome: admitted" in en.stdout and "assists the government" in en.stdout
    assert "结果" not in en.stdout


def test_attach_logs_path_size_sha256(tmp_path, sqlite_url):
    doc = tmp_path / "拨款通知.pdf"
    doc.write_bytes(b"%PDF-1.4 appropriation notice\n" * 100)
    request = write_json(tmp_path / "r.json", bijie_request(
        matter="入户经济普查", funding={"amount": 120000.5, "source": "市财政", "document": "毕财发〔2019〕1号"}))
    result = invoke("evaluate", request, "--attach", doc, "--db", sqlite_url, "--format", "json")
    assert result.exit_code == 0, result.output
    decision = json.loads(result.stdout)
    shown = invoke("log", "show", decision["decision_id"], "--db", sqlite_url, "--format", "json")
    assert shown.exit_code == 0, shown.output
    entry = json.loads(shown.stdout)
    files = [a for a in entry["attachments"] if a.get("path")]
    assert len(files) == 1
    assert files[0]["path"] == str(doc.resolve())
    assert files[0]["size"] == doc.stat().st_size
    assert files[0]["sha256"] == hashlib.sha256(doc.read_bytes()).hexdigest()
    funds = [a for a in entry["attachments"] if not a.get("path")]
    assert funds[0]["amount"] == "120000.5" and funds[0]["document"] == "毕财发〔2019〕1号"
    assert entry["payload"]["decision_id"] == decision["decision_id"]
    verified = invoke("log", "verify", "--db", sqlite_url)
    assert verified.exit_code == 0 and "intact: 1 rows" in verified.stdout, verified.output


def test_idempotent_rerun(request_file, sqlite_url):
    first = invoke("evaluate", request_file, "--db", sqlite_url, "--format", "json")
    second = invoke("evaluate", request_file, "--db", sqlite_url, "--format", "json")
    assert first.exit_code == second.exit_code == 0
    assert rows(sqlite_url) == 1
    one, two = json.loads(first.stdout), json.loads(second.stdout)
    assert two["decision_id"] == one["decision_id"] and two.get("already_logged") is True
    # a different request is a new row
    other = request_file.with_name("other.json")
    write_json(other, bijie_request(matter="信访维稳"))
    assert invoke("evaluate", other, "--db", sqlite_url).exit_code == 0
    assert rows(sqlite_url) == 2


def test_batch_one_decision_per_line(sqlite_url):
    batch = EXAMPLES / "bijie.jsonl"
    lines = [line for line in batch.read_text(encoding="utf-8").splitlines() if line.strip()]
    result = invoke("evaluate", "--batch", batch, "--db", sqlite_url, "--format", "json")
    assert result.exit_code == 0, result.output
    decisions = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(decisions) == len(lines) == rows(sqlite_url)
    assert {d["outcome"] for d in decisions} == {"admitted", "needs_approval", "rejected"}
    text = invoke("evaluate", "--batch", batch, "--no-log")
    assert text.exit_code == 0 and len(text.stdout.splitlines()) == len(lines)
    listed = invoke("log", "list", "--db", sqlite_url, "--format", "json", "--limit", 1000)
    assert len(json.loads(listed.stdout)) == len(lines)


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.json")))
def test_examples_evaluate(example):
    result = invoke("evaluate", EXAMPLES / example, "--no-log", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["reasons"]


def test_examples_cover_every_kind():
    from zhunru.kinds import KINDS

    kinds = {json.loads(p.read_text(encoding="utf-8"))["kind"] for p in EXAMPLES.glob("*.json")}
    assert kinds == set(KINDS)


def test_help_and_version():
    from importlib.metadata import version

    for args, usage in ((["--help"], "[OPTIONS] COMMAND [ARGS]..."),
                        (["evaluate", "--help"], "evaluate [OPTIONS] FILE|-"),
                        (["log", "--help"], "log [OPTIONS] COMMAND [ARGS]..."),
                        (["ruleset", "--help"], "ruleset [OPTIONS] COMMAND [ARGS]...")):
        result = invoke(*args)
        assert result.exit_code == 0, (args, result.output)
        first = result.stdout.splitlines()[0]  # the program's name is click's runner's, not "zhunru"
        assert first.startswith("Usage: ") and first.endswith(f" {usage}"), result.stdout
        assert "\nOptions:\n" in result.stdout
    shown = invoke("--version")
    assert shown.exit_code == 0 and shown.stdout == f"zhunru, version {version('zhunru')}\n"


def test_log_show_unknown_id(sqlite_url, request_file):
    invoke("evaluate", request_file, "--db", sqlite_url)
    assert rows(sqlite_url) == 1  # a log exists: the id, not the log, is what is missing
    result = invoke("log", "show", "no-such-id", "--db", sqlite_url)
    assert result.exit_code == 2 and "ID" in result.stderr


def test_unwritable_log_exits_4(request_file, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = invoke("evaluate", request_file, "--db", f"sqlite:///{blocker}/sub/log.sqlite")
    assert result.exit_code == 4, result.output
    assert len(result.stderr.strip().splitlines()) == 1 and "--db" in result.stderr


# -- plugins ------------------------------------------------------------------------------
def test_plugins_lists_the_shipped_ones():
    result = invoke("plugins", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    names = {p["name"] for p in data["plugins"]}
    assert {"shipped_rulesets", "decision_log"} <= names
    assert "bijie" in data["cities"]
    text = run_cli("plugins")
    assert text.returncode == 0 and "shipped_rulesets" in text.stdout and "decision_log" in text.stdout


def test_zhunru_plugins_filters_third_party_plugins_only(request_file, tmp_path):
    listed = run_cli("plugins", "--format", "json", env={"ZHUNRU_PLUGINS": ""})
    assert [p["name"] for p in json.loads(listed.stdout)["plugins"]] == ["shipped_rulesets", "decision_log"]
    assert "bijie" in json.loads(listed.stdout)["cities"]
    # the log is built in: naming only the rulesets still logs the decision
    db = f"sqlite:///{tmp_path / 'log.sqlite'}"
    result = run_cli("evaluate", str(request_file), "--db", db, env={"ZHUNRU_PLUGINS": "shipped_rulesets"})
    assert result.returncode == 0 and "结论: 予以准入" in result.stdout, result.stderr
    verified = run_cli("log", "verify", "--db", db, "--format", "json")
    assert json.loads(verified.stdout) == {"ok": True, "checked": 1, "problem": None}


def _fake_distribution(folder, module: str, source: str):
    """An installed third-party plugin without pip: a module and its dist-info on PYTHONPATH."""
    (folder / f"{module}.py").write_text(source, encoding="utf-8")
    info = folder / f"{module}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[zhunru]\n{module} = {module}\n", encoding="utf-8")
    return {"PYTHONPATH": str(folder), "ZHUNRU_PLUGINS": module}


def test_a_plugin_hook_with_a_typo_is_a_one_line_error(tmp_path):
    env = _fake_distribution(tmp_path, "typo_city", (
        "import pluggy\nhookimpl = pluggy.HookimplMarker('zhunru')\n"
        "@hookimpl\ndef zhunru_ruleset_path():\n    return []\n"))
    result = run_cli("plugins", env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1
    assert "plugin typo_city" in result.stderr and "zhunru_ruleset_path" in result.stderr
    # the same distribution filtered out by ZHUNRU_PLUGINS is not loaded at all
    filtered = run_cli("plugins", env={**env, "ZHUNRU_PLUGINS": ""})
    assert filtered.returncode == 0, filtered.stderr
    assert "shipped_rulesets" in filtered.stdout and "typo_city" not in filtered.stdout + filtered.stderr


# -- no database for commands that need none ----------------------------------------------
PROBE = """
import sys
from zhunru.cli import main
sys.argv = ['zhunru', *{args!r}]
try:
    main()
except SystemExit as exc:
    code = exc.code
print('PROBE', code, 'sqlalchemy' in sys.modules, 'sqlmodel' in sys.modules, file=sys.stderr)
"""


@pytest.mark.parametrize("args", [
    ["cert", "check", "亲属关系证明", "--city", "bijie", "--as-of", "2020-01-01"],
    ["ruleset", "validate", str(RULESETS)],
    ["ruleset", "list"],
    ["plugins"],
    ["evaluate", str(EXAMPLES / "task-assist.json"), "--no-log"],
])
def test_no_database_import(args):
    result = subprocess.run([sys.executable, "-c", PROBE.format(args=args)], capture_output=True, text=True,
                            env={**os.environ}, timeout=120)
    probe = [line for line in result.stderr.splitlines() if line.startswith("PROBE")]
    assert probe == ["PROBE 0 False False"], result.stderr


def test_log_commands_do_use_the_database(request_file, sqlite_url):
    # the probe above can fail: a command that logs does import SQLAlchemy
    args = ["evaluate", str(request_file), "--db", sqlite_url]
    result = subprocess.run([sys.executable, "-c", PROBE.format(args=args)], capture_output=True, text=True,
                            timeout=120)
    assert "PROBE 0 True True" in result.stderr


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    command = "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/python -m pytest -q"
    assert command in readme and command in ci
    assert os.access(REPO / ".ci" / "run", os.X_OK)


def test_cert_check_by_city_name_free_text_and_a_stated_basis():
    def check(*args):
        done = run_cli("cert", "check", *args, "--format", "json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    refused = check("开一份居住证明", "--city", "广州", "--as-of", "2022-06-01")
    assert refused["verdict"] == "must_not_issue" and refused["advisory"] is False
    assert refused["reasons"][0]["clause"] == "national@2020.1#NAT-CERT-00"
    stated = check("居住证明", "--city", "广州", "--as-of", "2022-06-01", "--basis", "《某条例》第十条")
    assert stated["verdict"] == "unknown" and stated["reasons"][0]["code"] == "CERT_BASIS_STATED"
    spoken = check("无犯罪证明", "--city", "毕节市", "--as-of", "2022-06-01")
    assert (spoken["verdict"], spoken["certificate"]["name"]) == ("must_not_issue", "无犯罪记录证明")
    ended = check("亲属关系证明", "--city", "广州", "--as-of", "2026-06-01")
    assert ended["advisory"] is True and ended["reasons"][-1]["code"] == "VERSION_ENDED"
    unknown = run_cli("cert", "check", "居住证明", "--city", "上海")
    assert unknown.returncode == 2 and "city: unknown city '上海'" in unknown.stderr
