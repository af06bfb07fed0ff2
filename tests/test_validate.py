"""`zhunru ruleset validate` against the shipped rulesets and a corpus of broken ones.

Each folder under tests/broken_rulesets/ is a rulesets root with ONE defect and an expected.txt
holding a substring of the one line validate must print. The same corpus must be refused by the
engine (loader and registry run the same checks), so a broken ruleset never decides anything.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from helpers import REPO, RULESETS, run_cli
from zhunru.cli import cli
from zhunru.errors import RulesetError
from zhunru.decide.evaluate import Engine, parse_request
from zhunru.rulebook.loader import Registry, ruleset_roots

CORPUS = REPO / "tests" / "broken_rulesets"
KINDS = sorted(p.name for p in CORPUS.iterdir() if p.is_dir())
# Defects found by validate's own checks, which the registry runs when it loads a city or chain
# (the others are refused earlier, by the YAML reader and the schema, with the loader's wording).
CITY_OR_CHAIN_TIME = {"quote_not_verbatim", "source_document_missing", "duplicate_clause_id", "clause_id_of_parent",
                      "duty_and_negative", "must_and_must_not", "caps_items", "caps_categories",
                      "overlapping_versions", "alias_collision_script", "unknown_clause_reference",
                      "file_name_not_version", "source_list_document_missing", "quote_outside_parts"}
# Defects refused when the file is read (YAML, schema): the engine's line is validate's, without "-: "
READ_TIME = {"duplicate_yaml_key", "invalid_date", "schema_type", "missing_source", "unknown_top_level_key",
             "effective_to_before_from", "yaml_alias", "python_tag", "yaml_syntax", "not_a_mapping"}
# Authoring defects: validate reports them, the engine decides with the ruleset all the same.
AUTHORING = {"no_cases", "no_concordance"}


def test_corpus_has_at_least_fifteen_kinds():
    assert len(KINDS) >= 15
    for kind in KINDS:
        assert (CORPUS / kind / "expected.txt").read_text(encoding="utf-8").strip(), kind


def test_shipped_rulesets_validate():
    result = CliRunner().invoke(cli, ["ruleset", "validate", str(RULESETS)])
    assert result.exit_code == 0, result.output
    assert "0 problem(s)" in result.output
    assert "9 file(s)" in result.output


@pytest.mark.parametrize("kind", KINDS)
def test_broken_ruleset_is_one_line_and_exit_1(kind):
    root = CORPUS / kind
    expected = (root / "expected.txt").read_text(encoding="utf-8").strip()
    result = CliRunner().invoke(cli, ["ruleset", "validate", str(root)])
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1, lines
    assert expected in lines[0]
    file, clause, what = lines[0].split(": ", 2)
    assert file.endswith(".yaml") and Path(file).is_file()
    assert clause and what
    assert "1 problem(s)" in result.stderr


def _first_city(root: Path) -> str:
    return sorted(p.name for p in root.iterdir() if p.is_dir())[0]


def _request(root: Path):
    return parse_request({
        "city": _first_city(root), "date": "2021-06-01", "kind": "task", "matter": "拆迁",
        "department": {"name": "测试区某局", "level": "district", "role": "department"},
        "communities": [{"name": "测试社区"}]})


@pytest.mark.parametrize("kind", sorted(set(KINDS) - AUTHORING))
def test_engine_refuses_broken_ruleset(kind):
    """The engine's own loading (registry + chain) raises, with the same message validate gives."""
    root = CORPUS / kind
    engine = Engine(Registry([root] + ruleset_roots()))
    request = _request(root)
    with pytest.raises(RulesetError) as err:
        engine.evaluate(request)
    message = str(err.value)
    assert "\n" not in message
    assert str(root) in message, message  # names the broken file
    validated = CliRunner().invoke(cli, ["ruleset", "validate", str(root)]).stdout.strip()
    if kind in CITY_OR_CHAIN_TIME:  # the loader runs validate's own check: the very same line
        assert message.startswith(str(Path(validated.split(": ", 1)[0]).resolve()))
        assert validated.split(": ", 1)[1] in message, (validated, message)
    if kind in READ_TIME:
        assert message.startswith(str(Path(validated.split(": ", 1)[0]).resolve()))
        assert message.endswith(": " + validated.split(": ", 1)[1].removeprefix("-: ")), (validated, message)


@pytest.mark.parametrize("kind", sorted(AUTHORING))
def test_engine_decides_with_an_authoring_defect(kind):
    """Cases are the author's concern, not the ruleset's: the engine still decides."""
    root = CORPUS / kind
    decision = Engine(Registry([root] + ruleset_roots())).evaluate(_request(root))
    assert decision.outcome == "rejected" and decision.category == "negative"


def test_engine_refusal_is_exit_2_through_the_cli(tmp_path):
    """A decision asked of a broken ruleset is a one-line error (exit 2), not a decision."""
    root = tmp_path / "rs"
    shutil.copytree(CORPUS / "quote_not_verbatim", root)
    request = tmp_path / "r.json"
    request.write_text(json.dumps({
        "city": "testcity", "date": "2021-06-01", "kind": "task", "matter": "拆迁",
        "department": {"name": "测试区某局", "level": "district"}, "communities": [{"name": "测试社区"}]},
        ensure_ascii=False), encoding="utf-8")
    done = run_cli("evaluate", str(request), "--no-log", env={"ZHUNRU_RULESETS": str(root)})
    assert done.returncode == 2, done.stderr
    assert "quote is not verbatim" in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_every_problem_is_reported_not_just_the_first(tmp_path):
    root = tmp_path / "rs"
    shutil.copytree(CORPUS / "duplicate_clause_id", root)
    path = root / "testcity" / "2020.1.yaml"
    text = path.read_text(encoding="utf-8").replace("commissioned: TC-ADM-01", "commissioned: TC-ADM-99")
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(cli, ["ruleset", "validate", str(root), "--format", "json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["files"] == 1
    assert {p["clause"] for p in report["problems"]} == {"TC-AS-01", "task.commissioned"}


def test_a_single_file_and_a_city_folder_validate(tmp_path):
    for path, files in ((RULESETS / "guangzhou", 2), (RULESETS / "guangzhou" / "2021.1.yaml", 1)):
        result = CliRunner().invoke(cli, ["ruleset", "validate", str(path)])
        assert result.exit_code == 0, result.output
        assert result.output.strip() == f"{files} file(s), 0 problem(s)"


def test_local_city_shadows_the_installed_one(tmp_path):
    """Validating a copy of a shipped city checks the copy alone: no overlap with the installed
    versions of the same city, and an edit to the copy is what gets reported."""
    root = tmp_path / "rs"
    shutil.copytree(RULESETS / "guangzhou", root / "guangzhou")
    ok = CliRunner().invoke(cli, ["ruleset", "validate", str(root)])
    assert ok.exit_code == 0, ok.output
    assert ok.output.strip() == "2 file(s), 0 problem(s)"  # the copy's two versions, nothing installed
    path = root / "guangzhou" / "2021.1.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("effective_from: 2021-01-01", "effective_from: 2020-06-01"),
                    encoding="utf-8")
    bad = CliRunner().invoke(cli, ["ruleset", "validate", str(root)])
    assert bad.exit_code == 1
    assert "guangzhou@2021.1 starts 2020-06-01, before guangzhou@2016.1 ends (2021-01-01)" in bad.stdout
    registry = Registry([root] + ruleset_roots())
    with pytest.raises(RulesetError, match="must not overlap"):
        registry.in_force("guangzhou", dt.date(2022, 1, 1))


def test_missing_path_is_exit_2():
    done = run_cli("ruleset", "validate", "/nonexistent/rulesets")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["zhunru: error: PATH: /nonexistent/rulesets does not exist"]


def test_folder_without_rulesets_is_exit_2(tmp_path):
    done = run_cli("ruleset", "validate", str(tmp_path))
    assert done.returncode == 2
    assert "no ruleset files" in done.stderr


# -- the YAML itself: duplicate keys, dates; every schema error names its field and line ------

VALID = (CORPUS / "no_cases" / "testcity" / "2020.1.yaml").read_text(encoding="utf-8")  # valid but for its cases


def _city(tmp_path: Path, text: str, cases: bool = True) -> Path:
    """A copy of the corpus's test city with `text` as its ruleset (and a case for it)."""
    root = tmp_path / "rs"
    shutil.copytree(CORPUS / "no_cases" / "testcity", root / "testcity")
    (root / "testcity" / "2020.1.yaml").write_text(text, encoding="utf-8")
    if cases:
        shutil.copy(CORPUS / "duplicate_clause_id" / "testcity" / "cases" / "2020.1.yaml",
                    root / "testcity" / "cases" / "2020.1.yaml")
    return root


def _lines(root: Path) -> list[str]:
    """`CLAUSE-or-field: what is wrong` of each problem."""
    result = CliRunner().invoke(cli, ["ruleset", "validate", str(root), "--format", "json"])
    return [f"{p['clause']}: {p['message']}" for p in json.loads(result.stdout)["problems"]]


def test_the_test_city_is_valid_with_its_case(tmp_path):
    assert _lines(_city(tmp_path, VALID)) == []


@pytest.mark.parametrize("use_libyaml", [True, False])
@pytest.mark.parametrize("old, new, expected", [
    ("status: draft\n", "status: draft\ntitle: 又一个标题\n",
     "title: YAML line 8: duplicate key 'title' (first at line 3)"),
    ("    coverage: partial\n    items:\n      - {id: TC-DU-01",
     "    coverage: partial\n    coverage: full\n    items:\n      - {id: TC-DU-01",
     "task.duty.coverage: YAML line 20: duplicate key 'coverage' (first at line 19)"),
    # inside a clause: the clause first, then the field path
    ("{id: TC-AS-01, name: 社会救助,", "{id: TC-AS-01, name: 社会救助, name: 救助,",
     "TC-AS-01: task.assist.items.0.name: YAML line 25: duplicate key 'name' (first at line 25)"),
    ("source: {document: policy.txt, quote: 未列入", "source: {document: policy.txt, document: x.txt, quote: 未列入",
     "TC-ADM-01: clauses.0.source.document: YAML line 16: duplicate key 'document' (first at line 16)"),
])
def test_duplicate_keys_at_any_depth(tmp_path, monkeypatch, use_libyaml, old, new, expected):
    from zhunru.rulebook import safe_yaml

    if not use_libyaml:
        monkeypatch.setattr(safe_yaml, "_CLoader", None)
    assert VALID.count(old) == 1
    assert _lines(_city(tmp_path, VALID.replace(old, new))) == [expected]


def test_a_duplicate_key_in_a_case_file_is_reported_too(tmp_path):
    root = _city(tmp_path, VALID)
    case = root / "testcity" / "cases" / "2020.1.yaml"
    case.write_text(case.read_text(encoding="utf-8").replace("cases:\n", "ruleset: testcity@2020.1\ncases:\n"),
                    encoding="utf-8")
    result = CliRunner().invoke(cli, ["ruleset", "validate", str(root)])
    assert result.exit_code == 1
    assert f"{case}: ruleset: YAML line 5: duplicate key 'ruleset' (first at line 1)" in result.stdout.splitlines()


def test_keys_equal_only_in_a_deeper_mapping_are_not_duplicates(tmp_path):
    """`coverage` of duty and of assist, `id` of every item: the same key in different mappings is fine."""
    assert VALID.count("coverage: partial") >= 3
    assert _lines(_city(tmp_path, VALID)) == []


@pytest.mark.parametrize("use_libyaml", [True, False])
@pytest.mark.parametrize("value, expected", [
    ("2024-13-45", "effective_from: YAML line 5: '2024-13-45' is not a valid date (YYYY-MM-DD)"),
    ("2021-02-30", "effective_from: YAML line 5: '2021-02-30' is not a valid date (YYYY-MM-DD)"),
    ('"2024-13-45"', "effective_from: YAML line 5: '2024-13-45' is not a valid date (YYYY-MM-DD)"),  # the schema's
    ("soon", "effective_from: YAML line 5: 'soon' is not a valid date (YYYY-MM-DD)"),
])
def test_a_bad_date_names_the_field_and_the_line(tmp_path, monkeypatch, use_libyaml, value, expected):
    from zhunru.rulebook import safe_yaml

    if not use_libyaml:
        monkeypatch.setattr(safe_yaml, "_CLoader", None)
    root = _city(tmp_path, VALID.replace("effective_from: 2020-01-01", f"effective_from: {value}"))
    assert _lines(root) == [expected]
    registry = Registry([root] + ruleset_roots())
    with pytest.raises(RulesetError) as err:
        registry.versions("testcity")
    assert str(err.value) == f"{root / 'testcity' / '2020.1.yaml'}: {expected}"


@pytest.mark.parametrize("old, new, expected", [
    ("\ntitle: 测试市社区工作准入（损坏规则集样例）\n", "\ntitle: [测试市]\n",
     "title: YAML line 3: Input should be a valid string"),
    ("coverage: partial\nextends", "coverage: most\nextends", "coverage: YAML line 8: Input should be 'full' or 'partial'"),
    ("status: draft\n", "", "status: YAML line 1: Field required"),  # missing: the mapping it belongs in
    ("    coverage: partial\n    items:\n      - {id: TC-DU-01", "    items:\n      - {id: TC-DU-01",
     "task.duty.coverage: YAML line 18: Field required"),
    ("{id: TC-AS-01, name: 社会救助,", "{id: TC-AS-01, name: 社会救助, colour: red,",
     "TC-AS-01: task.assist.items.0.colour: YAML line 25: Extra inputs are not permitted"),
    ("    items:\n      - {id: TC-AS-01", "    items:\n      - {name: 无编号}\n      - {id: TC-AS-01",
     "task.assist.items.0.id: YAML line 25: Field required"),
])
def test_every_schema_error_names_its_field_and_line(tmp_path, old, new, expected):
    assert VALID.count(old) == 1
    lines = _lines(_city(tmp_path, VALID.replace(old, new)))
    assert expected in lines, lines
    for line in lines:
        assert re.match(r"[\w.\-]+: (?:[\w.]+: )?YAML line \d+: ", line), line


def test_a_version_without_cases(tmp_path):
    root = _city(tmp_path, VALID, cases=False)
    cases = root / "testcity" / "cases"
    assert _lines(root) == [f"cases: no cases for testcity@2020.1 in {cases}"]
    # a case file that names the version but holds no case does not count either
    (cases / "2020.1.yaml").write_text("ruleset: testcity@2020.1\ncases: []\n", encoding="utf-8")
    assert _lines(root) == [f"cases: no cases for testcity@2020.1 in {cases}"]
    # any file name will do, as long as it names the version and has a case
    (cases / "2020.1.yaml").unlink()
    shutil.copy(CORPUS / "duplicate_clause_id" / "testcity" / "cases" / "2020.1.yaml", cases / "smoke.yaml")
    assert _lines(root) == []


def test_shipped_versions_all_have_cases():
    from zhunru.rulebook.validate import case_problems, ruleset_files
    from zhunru.rulebook.loaded import load_file

    assert case_problems([load_file(f) for f in ruleset_files(RULESETS)]) == []


def test_a_sources_entry_naming_a_missing_file(tmp_path):
    text = VALID.replace("    title: 测试市社区工作准入办法（样例）\n",
                         "    title: 测试市社区工作准入办法（样例）\n  - law: 中华人民共和国城市居民委员会组织法\n"
                         "    title: 居委会组织法\n  - document: gone.txt\n    title: 不在 sources/ 的文件\n")
    root = _city(tmp_path, text)
    sources = root / "testcity" / "sources"
    assert _lines(root) == [f"sources[2].document: 'gone.txt' is not in {sources}"]
    with pytest.raises(RulesetError, match=r"sources\[2\]\.document: 'gone.txt' is not in"):
        Registry([root] + ruleset_roots()).versions("testcity")
