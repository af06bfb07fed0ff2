"""`zhunru ruleset validate` against the shipped rulesets and a corpus of broken ones.

Each folder under tests/broken_rulesets/ is a rulesets root with ONE defect and an expected.txt
holding a substring of the one line validate must print. The same corpus must be refused by the
engine (loader and registry run the same checks), so a broken ruleset never decides anything.
"""
from __future__ import annotations

import datetime as dt
import json
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
                      "file_name_not_version"}


def test_corpus_has_at_least_fifteen_kinds():
    assert len(KINDS) >= 15
    for kind in KINDS:
        assert (CORPUS / kind / "expected.txt").read_text(encoding="utf-8").strip(), kind


def test_shipped_rulesets_validate():
    result = CliRunner().invoke(cli, ["ruleset", "validate", str(RULESETS)])
    assert result.exit_code == 0, result.output
    assert "0 problem(s)" in result.output
    assert "8 file(s)" in result.output


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


@pytest.mark.parametrize("kind", KINDS)
def test_engine_refuses_broken_ruleset(kind):
    """The engine's own loading (registry + chain) raises, with the same message validate gives."""
    root = CORPUS / kind
    engine = Engine(Registry([root] + ruleset_roots()))
    request = parse_request({
        "city": _first_city(root), "date": "2021-06-01", "kind": "task", "matter": "拆迁",
        "department": {"name": "测试区某局", "level": "district", "role": "department"},
        "communities": [{"name": "测试社区"}]})
    with pytest.raises(RulesetError) as err:
        engine.evaluate(request)
    message = str(err.value)
    assert "\n" not in message
    assert str(root) in message, message  # names the broken file
    validated = CliRunner().invoke(cli, ["ruleset", "validate", str(root)]).stdout.strip()
    if kind in CITY_OR_CHAIN_TIME:  # the loader runs validate's own check: the very same line
        assert message.startswith(str(Path(validated.split(": ", 1)[0]).resolve()))
        assert validated.split(": ", 1)[1] in message, (validated, message)


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
