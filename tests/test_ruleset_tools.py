"""The tooling a city's CI uses: `ruleset test` and the pytest plugin, `diff`, `new`, `schema`."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from helpers import REPO, RULESETS, run_cli
from zhunru.cli import cli


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def pytest_run(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=300)


def failing_copy(tmp_path: Path) -> Path:
    """A copy of guangzhou whose first 2021.1 case expects the wrong outcome."""
    root = tmp_path / "rs"
    shutil.copytree(RULESETS / "guangzhou", root / "guangzhou")
    cases = root / "guangzhou" / "cases" / "2021.1.yaml"
    text = cases.read_text(encoding="utf-8")
    wrong = text.replace("expect: {outcome: needs_approval, category: unlisted, clause: GZ2021-ADM-01}",
                         "expect: {outcome: admitted, category: unlisted, clause: GZ2021-ADM-01}", 1)
    assert wrong != text
    cases.write_text(wrong, encoding="utf-8")
    return root


# -- ruleset test and the pytest plugin --------------------------------------------------

def test_shipped_cases_pass():
    result = invoke("ruleset", "test", RULESETS)
    assert result.exit_code == 0, result.output
    passed = int(result.output.strip().splitlines()[-1].split()[0])
    assert passed >= 90 and "0 failed" in result.output


def test_failing_case_shows_expected_against_actual(tmp_path):
    result = invoke("ruleset", "test", failing_copy(tmp_path))
    assert result.exit_code == 1
    assert "FAIL " in result.output and "::0: off-list task without funding" in result.output
    assert "outcome: expected 'admitted', actual 'needs_approval'" in result.output
    assert "actual decision: outcome=needs_approval, category=unlisted" in result.output
    assert "1 failed" in result.output
    data = json.loads(invoke("ruleset", "test", failing_copy(tmp_path / "j"), "--format", "json").output)
    assert data["failed"] == 1 and data["failures"][0]["problems"][0].startswith("outcome: expected")


def test_pytest_collects_the_shipped_cases():
    done = pytest_run("rulesets/", "-q", cwd=REPO)
    assert done.returncode == 0, done.stdout[-2000:]
    summary = done.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary


def test_pytest_shows_expected_against_actual_and_fails(tmp_path):
    root = failing_copy(tmp_path)
    done = pytest_run(root, "-q", cwd=tmp_path)
    assert done.returncode == 1, done.stdout
    assert "expected against actual:" in done.stdout
    assert "outcome: expected 'admitted', actual 'needs_approval'" in done.stdout
    assert "1 failed" in done.stdout
    assert "Traceback" not in done.stdout


def test_pytest_reports_a_bad_case_file_in_one_line(tmp_path):
    root = tmp_path / "rs"
    shutil.copytree(RULESETS / "guangzhou", root / "guangzhou")
    (root / "guangzhou" / "cases" / "2021.1.yaml").write_text("cases:\n  - {expect: {result: admitted}}\n",
                                                              encoding="utf-8")
    done = pytest_run(root, "-q", cwd=tmp_path)
    assert done.returncode != 0
    assert "cases[0].expect: unknown key(s) result" in done.stdout


def test_pytest_leaves_unrelated_cases_folders_alone(tmp_path):
    other = tmp_path / "project" / "cases"
    other.mkdir(parents=True)
    (other / "fixture.yaml").write_text("just: data\n", encoding="utf-8")
    done = pytest_run(tmp_path / "project", "-q", cwd=tmp_path)
    assert done.returncode == 5, done.stdout  # 5: no tests collected
    assert "no tests ran" in done.stdout


# -- diff --------------------------------------------------------------------------------

def test_diff_guangzhou_before_and_after_the_cut():
    result = invoke("ruleset", "diff", "guangzhou@2016.1", "guangzhou@2021.1", "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["a"]["ref"], report["b"]["ref"]) == ("guangzhou@2016.1", "guangzhou@2021.1")
    assert report["burden"]["assist_items"] == {"a": 175, "b": 76, "delta": -99, "a_from": "cap", "b_from": "cap"}
    assert report["burden"]["assist_categories"]["a"] == 35 and report["burden"]["assist_categories"]["b"] == 15
    assert {c["field"]: (c["a"], c["b"]) for c in report["caps"]} == {
        "assist_categories": (35, 15), "assist_items": (175, 76)}
    assert {m["field"]: m["b"] for m in report["metadata"]}["effective_from"] == "2021-01-01"
    # no items are invented in either version: the lists (inherited from national) do not move
    assert report["added"] == report["removed"] == report["moved"] == []
    text = invoke("ruleset", "diff", "guangzhou@2016.1", "guangzhou@2021.1").output
    assert "协助事项: 175 → 76 (-99, 上限)" in text
    assert "协助事项类别: 35 → 15 (-20, 上限)" in text
    english = invoke("ruleset", "diff", "guangzhou@2016.1", "guangzhou@2021.1", "--lang", "en").output
    assert "assist items: 175 → 76 (-99, cap)" in english


POLICY = "移动测试市社区工作办法（测试用）\n第一条 社区协助做好出租屋信息采集、老年人信息采集。\n第二条 不得要求社区承担出租屋信息采集。\n第三条 社区协助做好垃圾分类宣传。\n第四条 社区基本工作经费每百户每年5000元。\n"


def _movecity(version: str, start: str, end: str | None, assist: list[tuple], negative: list[tuple],
              fund: int) -> str:
    def items(rows):
        return "".join(f"      - {{id: {i}, name: {n}, category: {c}, text: {n}。, source: {{document: p.txt, quote: {q}}}}}\n"
                       for i, n, c, q in rows) or "      []\n"
    return textwrap.dedent(f"""\
        id: movecity
        version: "{version}"
        title: 移动测试市
        issuer: 测试
        effective_from: {start}
        effective_to: {end or 'null'}
        status: {'in_force' if end else 'draft'}
        coverage: partial
        extends: national
        base_funds:
          - {{id: MV-{version}-FUND, name: 社区工作经费, text: 每百户每年{fund}元。, source: {{document: p.txt, quote: 社区协助做好}},
             standard: {{basis: per_100_households, amount: {fund}}}}}
        task:
          assist:
            coverage: partial
            items:
        """) + items(assist) + "  negative:\n    coverage: partial\n    items:\n" + items(negative)


def test_diff_moves_an_item_from_assist_to_negative(tmp_path):
    city = tmp_path / "rs" / "movecity"
    (city / "sources").mkdir(parents=True)
    (city / "sources" / "p.txt").write_text(POLICY, encoding="utf-8")
    (city / "2020.1.yaml").write_text(_movecity(
        "2020.1", "2020-01-01", "2022-01-01",
        assist=[("MV-AS-01", "出租屋信息采集", "信息", "出租屋信息采集"), ("MV-AS-02", "老年人信息采集", "信息", "老年人信息采集")],
        negative=[], fund=4000), encoding="utf-8")
    (city / "2022.1.yaml").write_text(_movecity(
        "2022.1", "2022-01-01", None,
        assist=[("MV-AS-03", "垃圾分类宣传", "环境", "垃圾分类宣传")],
        negative=[("MV-NEG-01", "出租屋 信息采集", "-", "不得要求社区承担出租屋信息采集")], fund=5000), encoding="utf-8")
    validated = invoke("ruleset", "validate", tmp_path / "rs")
    assert validated.exit_code == 0 and validated.output.strip() == "2 file(s), 0 problem(s)", validated.output

    result = invoke("ruleset", "diff", city / "2020.1.yaml", city / "2022.1.yaml", "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["moved"] == [{"kind": "task", "name": "出租屋 信息采集", "from_list": "assist", "to_list": "negative",
                                "clause_a": "MV-AS-01", "clause_b": "MV-NEG-01"}]
    assert [(e["list"], e["name"]) for e in report["added"]] == [("assist", "垃圾分类宣传")]
    assert [(e["list"], e["name"]) for e in report["removed"]] == [("assist", "老年人信息采集")]
    counts = {(c["kind"], c["list"]): (c["a"], c["b"]) for c in report["list_counts"]}
    nat = counts[("task", "duty")][0]  # national's duty list is inherited by both
    assert counts[("task", "duty")] == (nat, nat)
    assert counts[("task", "negative")][1] == counts[("task", "negative")][0] + 1
    assert report["burden"]["assist_items"]["delta"] == -1 and report["burden"]["assist_items"]["a_from"] == "list"
    assert report["base_funds"] == [{"name": "社区工作经费", "a": "4000 per_100_households/year",
                                     "b": "5000 per_100_households/year"}]
    assert {m["field"]: (m["a"], m["b"]) for m in report["metadata"]}["status"] == ("in_force", "draft")

    text = invoke("ruleset", "diff", city / "2020.1.yaml", city / "2022.1.yaml").output
    assert "~ 出租屋 信息采集: 工作事项·依法协助事项 → 工作事项·负面清单 [MV-AS-01 → MV-NEG-01]" in text
    assert "+ 工作事项·依法协助事项: 垃圾分类宣传" in text
    assert "- 工作事项·依法协助事项: 老年人信息采集" in text


@pytest.mark.parametrize("args, field", [
    (["nowhere@1", "guangzhou@2021.1"], "city: unknown city 'nowhere'"),
    (["guangzhou@1999.1", "guangzhou@2021.1"], "ruleset: guangzhou has no version '1999.1'"),
    (["/no/such/file.yaml", "guangzhou@2021.1"], "ruleset: /no/such/file.yaml is not a file"),
])
def test_diff_bad_reference_is_exit_2(args, field):
    done = run_cli("ruleset", "diff", *args)
    assert done.returncode == 2
    assert done.stderr.strip() == f"zhunru: error: {field}" or (
        done.stderr.startswith(f"zhunru: error: {field}") and len(done.stderr.strip().splitlines()) == 1)


# -- new ---------------------------------------------------------------------------------

def test_new_scaffold_validates_and_its_case_passes(tmp_path):
    base = tmp_path / "rulesets"
    made = invoke("ruleset", "new", "mycity", "--dir", base, "--effective-from", "2024-03-01")
    assert made.exit_code == 0, made.output
    assert "下一步" in made.output and f"zhunru ruleset validate {base / 'mycity'}" in made.output
    ruleset = base / "mycity" / "2024.1.yaml"
    data = yaml.safe_load(ruleset.read_text(encoding="utf-8"))
    assert data["extends"] == "national" and data["status"] == "draft"
    assert data["clauses"][0]["source"]["document"] == "policy.txt"
    assert (base / "mycity" / "sources" / "policy.txt").is_file()
    validated = invoke("ruleset", "validate", base / "mycity")
    assert validated.exit_code == 0 and validated.output.strip() == "1 file(s), 0 problem(s)", validated.output
    tested = invoke("ruleset", "test", base / "mycity")
    assert tested.exit_code == 0 and "1 passed, 0 failed" in tested.output
    done = pytest_run(base, "-q", cwd=tmp_path)
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout
    # the schema the skeleton's first line points at was written and accepts the skeleton
    schema = json.loads((base / "ruleset.schema.json").read_text(encoding="utf-8"))
    assert ruleset.read_text(encoding="utf-8").startswith("# yaml-language-server: $schema=../ruleset.schema.json")
    jsonschema.validate(json.loads(json.dumps(data, default=str)), schema)


def test_new_refuses_to_overwrite(tmp_path):
    base = tmp_path / "rulesets"
    made = invoke("ruleset", "new", "mycity", "--dir", base)
    assert made.exit_code == 0 and f"zhunru ruleset validate {base / 'mycity'}" in made.output, made.output
    [ruleset] = (base / "mycity").glob("*.yaml")
    ruleset.write_text(ruleset.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
    done = run_cli("ruleset", "new", "mycity", "--dir", str(base))
    assert done.returncode == 2
    assert done.stderr.strip() == f"zhunru: error: CITY: {base / 'mycity'} already exists; nothing was written " \
                                  "(choose another --dir or remove it)"
    assert ruleset.read_text(encoding="utf-8").endswith("# edited\n")


@pytest.mark.parametrize("args, message", [
    (["My-City"], "CITY: 'My-City' is not a ruleset id"),
    (["mycity", "--effective-from", "2010-01-01"], "--effective-from: 2010-01-01 is before the national baseline"),
    (["mycity", "--effective-from", "soon"], "--effective-from: 'soon' is not an ISO date"),
    (["mycity", "--version", "../x"], "--version: '../x' is not a version"),
])
def test_new_bad_input_is_exit_2(tmp_path, args, message):
    done = run_cli("ruleset", "new", *args, "--dir", str(tmp_path / "rs"))
    assert done.returncode == 2
    assert done.stderr.startswith(f"zhunru: error: {message}")
    assert not (tmp_path / "rs").exists()


# -- schema ------------------------------------------------------------------------------

def _as_json(path: Path):
    return json.loads(json.dumps(yaml.safe_load(path.read_text(encoding="utf-8")), default=str))


def test_schema_accepts_every_shipped_ruleset_and_rejects_unknown_keys():
    result = invoke("ruleset", "schema")
    assert result.exit_code == 0
    schema = json.loads(result.output)
    jsonschema.Draft202012Validator.check_schema(schema)
    files = sorted(RULESETS.glob("*/*.yaml"))
    assert len(files) >= 8
    for path in files:
        jsonschema.validate(_as_json(path), schema)
    broken = _as_json(REPO / "tests" / "broken_rulesets" / "unknown_top_level_key" / "testcity" / "2020.1.yaml")
    with pytest.raises(jsonschema.ValidationError, match="colour"):
        jsonschema.validate(broken, schema)
