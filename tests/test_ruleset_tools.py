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

def test_diff_guangzhou_across_the_plans():
    """Seed 001 reports the cut from 35 categories/175 items to 15/76 as a result of the 十三五 period,
    so the 2016 version already carries 76 and the 十四五 plan starts from it: no change in the cap."""
    result = invoke("ruleset", "diff", "guangzhou@2016.1", "guangzhou@2021.1", "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["a"]["ref"], report["b"]["ref"]) == ("guangzhou@2016.1", "guangzhou@2021.1")
    assert report["burden"]["assist_items"] == {"a": 76, "b": 76, "delta": 0, "a_from": "cap", "b_from": "cap"}
    assert report["burden"]["assist_categories"]["a"] == 15 and report["burden"]["assist_categories"]["b"] == 15
    assert report["caps"] == []
    assert {m["field"]: m["b"] for m in report["metadata"]}["effective_from"] == "2021-01-01"
    # no city item is invented in either version; what arrives is national's 2020 certificate list
    # (民发〔2020〕20号, from 2020-04-27), inherited by the 2021 version only
    assert report["removed"] == report["moved"] == []
    assert {(a["kind"], a["clause"].split("-")[0]) for a in report["added"]} == {("certificate", "NAT")}
    text = invoke("ruleset", "diff", "guangzhou@2016.1", "guangzhou@2021.1").output
    assert "协助事项: 76 → 76 (+0, 上限)" in text
    english = invoke("ruleset", "diff", "guangzhou@2016.1", "guangzhou@2021.1", "--lang", "en").output
    assert "assist items: 76 → 76 (+0, cap)" in english


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


def _concordance(city: Path) -> None:
    """Every article of the city's p.txt beside the clauses that quote it (validate requires one)."""
    from zhunru.rulebook.checks import quote_norm
    from zhunru.rulebook.loaded import load_file

    clauses = [c for v in sorted(city.glob("*.yaml")) for c in load_file(v).ruleset.all_clauses() if c.source.quote]
    sentences = []
    for line in (city / "sources" / "p.txt").read_text(encoding="utf-8").splitlines()[1:]:
        ids = list(dict.fromkeys(c.id for c in clauses if quote_norm(c.source.quote) in quote_norm(line)))
        sentences.append({"text": line, "clauses": ids} if ids else {"text": line, "not_modelled": "test city"})
    data = {"city": city.name, "documents": [{"document": "p.txt", "sentences": sentences}]}
    (city / "concordance.yaml").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def _cases(city: Path, *refs: str) -> None:
    """One case per version, so that `ruleset validate` finds cases for each."""
    (city / "cases").mkdir(parents=True, exist_ok=True)
    for ref in refs:
        (city / "cases" / f"{ref.split('@')[1]}.yaml").write_text(textwrap.dedent(f"""\
            ruleset: {ref}
            cases:
              - name: a national negative-list matter is rejected
                request: {{city: {ref.split('@')[0]}, date: "2022-06-01", department: {{name: 某局, level: district}},
                          kind: task, matter: 招商引资, communities: [{{name: 示例社区}}]}}
                expect: {{outcome: rejected, category: negative}}
            """), encoding="utf-8")


def test_diff_moves_an_item_from_assist_to_negative(tmp_path):
    # both versions start after 2020-04-27, so both extend national@2020.1 and only the city differs
    city = tmp_path / "rs" / "movecity"
    (city / "sources").mkdir(parents=True)
    (city / "sources" / "p.txt").write_text(POLICY, encoding="utf-8")
    (city / "2020.1.yaml").write_text(_movecity(
        "2020.1", "2020-06-01", "2022-01-01",
        assist=[("MV-AS-01", "出租屋信息采集", "信息", "出租屋信息采集"), ("MV-AS-02", "老年人信息采集", "信息", "老年人信息采集")],
        negative=[], fund=4000), encoding="utf-8")
    (city / "2022.1.yaml").write_text(_movecity(
        "2022.1", "2022-01-01", None,
        assist=[("MV-AS-03", "垃圾分类宣传", "环境", "垃圾分类宣传")],
        negative=[("MV-NEG-01", "出租屋 信息采集", "-", "不得要求社区承担出租屋信息采集")], fund=5000), encoding="utf-8")
    _cases(city, "movecity@2020.1", "movecity@2022.1")
    _concordance(city)
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


PLATES = "牌子测试市社区工作办法（测试用）\n第一条 社区外挂牌子不超过三块：党组织、居委会、服务站。\n第二条 社区外挂牌子不超过四块。\n第三条 社区协助做好垃圾分类宣传。\n"


def _platecity(version: str, start: str, end: str | None, plates: int, cap: int, assist_coverage: str) -> str:
    quote = "社区外挂牌子不超过三块" if plates == 3 else "社区外挂牌子不超过四块"
    return textwrap.dedent(f"""\
        id: platecity
        version: "{version}"
        title: 牌子测试市
        issuer: 测试
        effective_from: {start}
        effective_to: {end or 'null'}
        status: draft
        coverage: partial
        extends: national
        caps: {{assist_items: {cap}, clause: PC-{version}-CAP}}
        clauses:
          - {{id: PC-{version}-CAP, text: 协助事项有上限。, source: {{document: p.txt, quote: 社区协助做好}}}}
          - {{id: PC-{version}-NP-00, text: 牌子有上限。, source: {{document: p.txt, quote: {quote}}}}}
        task:
          assist:
            coverage: {assist_coverage}
            items:
              - {{id: PC-{version}-AS-01, name: 垃圾分类宣传, text: 垃圾分类宣传。, source: {{document: p.txt, quote: 垃圾分类宣传}}}}
        nameplate:
          max_count: {plates}
          max_count_clause: PC-{version}-NP-00
          allowed:
            coverage: full
            items:
              - {{id: PC-{version}-NP-01, name: 居委会, text: 居委会。, source: {{document: p.txt, quote: 居委会}}}}
        """)


def test_diff_shows_changed_max_count_caps_and_coverage(tmp_path):
    city = tmp_path / "rs" / "platecity"
    (city / "sources").mkdir(parents=True)
    (city / "sources" / "p.txt").write_text(PLATES, encoding="utf-8")
    (city / "2020.1.yaml").write_text(_platecity("2020.1", "2020-06-01", "2022-01-01", 3, 10, "full"), encoding="utf-8")
    (city / "2022.1.yaml").write_text(_platecity("2022.1", "2022-01-01", None, 4, 8, "partial"), encoding="utf-8")
    _cases(city, "platecity@2020.1", "platecity@2022.1")
    _concordance(city)
    validated = invoke("ruleset", "validate", tmp_path / "rs")
    assert validated.exit_code == 0 and validated.output.strip() == "2 file(s), 0 problem(s)", validated.output

    result = invoke("ruleset", "diff", city / "2020.1.yaml", city / "2022.1.yaml", "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["max_count"] == [{"kind": "nameplate", "a": 3, "b": 4,
                                    "clause_a": "PC-2020.1-NP-00", "clause_b": "PC-2022.1-NP-00"}]
    assert report["caps"] == [{"field": "assist_items", "a": 10, "b": 8}]  # not the clause: each version cites its own
    assert report["coverage"] == [{"kind": "task", "list": "assist", "a": "full", "b": "partial"}]
    assert report["added"] == report["removed"] == report["moved"] == []

    text = invoke("ruleset", "diff", city / "2020.1.yaml", city / "2022.1.yaml").output.splitlines()
    for wanted in ("数量上限:", "  挂牌: 3 → 4 [PC-2020.1-NP-00 → PC-2022.1-NP-00]", "上限:", "  协助事项: 10 → 8",
                   "清单覆盖:", "  工作事项·依法协助事项: full → partial"):
        assert wanted in text, text
    english = invoke("ruleset", "diff", city / "2020.1.yaml", city / "2022.1.yaml", "--lang", "en").output.splitlines()
    for wanted in ("Maximum counts:", "  nameplates: 3 → 4 [PC-2020.1-NP-00 → PC-2022.1-NP-00]", "Caps:",
                   "  assist items: 10 → 8", "List coverage:", "  tasks·assist: full → partial"):
        assert wanted in english, english
    # unchanged: nothing shown
    same = json.loads(invoke("ruleset", "diff", city / "2022.1.yaml", city / "2022.1.yaml", "--format", "json").output)
    assert same["max_count"] == same["caps"] == same["coverage"] == []
    assert "数量上限" not in invoke("ruleset", "diff", city / "2022.1.yaml", city / "2022.1.yaml").output


def test_diff_max_count_of_shipped_bijie_against_national():
    report = json.loads(invoke("ruleset", "diff", "national@2015.1", "bijie@2017.1", "--format", "json").output)
    assert {"kind": "nameplate", "a": None, "b": 3, "clause_a": None, "clause_b": "BJ-PLATE-00"} in report["max_count"]


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
    [ruleset] = [p for p in (base / "mycity").glob("*.yaml") if p.name != "concordance.yaml"]
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
    files = sorted(p for p in RULESETS.glob("*/*.yaml") if p.name != "concordance.yaml")
    assert len(files) >= 9
    for path in files:
        jsonschema.validate(_as_json(path), schema)
    broken = _as_json(REPO / "tests" / "broken_rulesets" / "unknown_top_level_key" / "testcity" / "2020.1.yaml")
    with pytest.raises(jsonschema.ValidationError, match="colour"):
        jsonschema.validate(broken, schema)
