"""A ruleset's own test cases (`<city>/cases/*.yaml`): request → expected outcome, category, clause,
verdict, advisory, and `draft`: the draft (征求意见稿) document or part a SOURCE_DRAFT reason must
name (its title), or `false` when the decision may rest on no draft.

Run by `zhunru ruleset test PATH` and collected by the pytest plugin (zhunru.authoring.pytest_plugin).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from zhunru.errors import InputError, RulesetError
from zhunru.rulebook.loaded import read_yaml
from zhunru.rulebook.loader import Registry, ruleset_roots

EXPECT_KEYS = {"outcome", "category", "clause", "not_clause", "verdict", "advisory", "draft"}  # not_clause: no reason cites it


@dataclass
class Case:
    file: Path
    index: int
    name: str
    spec: dict

    @property
    def label(self) -> str:
        return f"{self.file}::{self.index}: {self.name}"


@dataclass
class CaseResult:
    case: Case
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def case_files(path: Path) -> list[Path]:
    """Case files under a ruleset file's, city folder's or rulesets folder's `cases/`."""
    if path.is_file():
        if path.parent.name == "cases":
            return [path]
        folder = path.parent / "cases"
        return sorted(folder.glob(f"{path.stem}.yaml")) or sorted(folder.glob("*.yaml"))
    if not path.is_dir():
        raise RulesetError(f"PATH: {path} does not exist")
    if path.name == "cases":
        return sorted(path.glob("*.yaml"))
    return sorted(path.glob("cases/*.yaml")) + sorted(path.glob("*/cases/*.yaml"))


def load_cases(file: Path) -> list[Case]:
    data, _ = read_yaml(file)
    if not isinstance(data, dict) or not isinstance(data.get("cases"), list):
        raise RulesetError(f"{file}: a case file is a mapping with a `cases:` list")
    cases = []
    for i, spec in enumerate(data["cases"]):
        if not isinstance(spec, dict) or not isinstance(spec.get("expect"), dict):
            raise RulesetError(f"{file}: cases[{i}]: needs `expect:` and `request:` or `certificate:`")
        unknown = set(spec["expect"]) - EXPECT_KEYS
        if unknown:
            raise RulesetError(f"{file}: cases[{i}].expect: unknown key(s) {', '.join(sorted(unknown))}")
        cases.append(Case(file, i, str(spec.get("name") or f"case {i}"), spec))
    return cases


def rulesets_root(path: Path) -> Path:
    """The folder whose children are city folders, for a file or folder inside it."""
    path = path.resolve()
    if path.is_file():
        return path.parent.parent.parent if path.parent.name == "cases" else path.parent.parent
    if path.name == "cases":
        return path.parent.parent
    return path.parent if any(path.glob("*.yaml")) else path


def registry_for(path: Path) -> Registry:
    """The rulesets next to PATH first, then those the plugins offer."""
    root = rulesets_root(path)
    return Registry([root] + [r for r in ruleset_roots() if r.resolve() != root])


def run_case(case: Case, engine) -> CaseResult:
    from zhunru.decide.certificates import check_certificate
    from zhunru.decide.evaluate import parse_request

    result = CaseResult(case)
    spec, expect = case.spec, case.spec["expect"]
    try:
        if "certificate" in spec:
            on = spec.get("date")
            on = dt.date.fromisoformat(str(on)) if on else None
            got = check_certificate(engine, str(spec["certificate"]), str(spec.get("city")), on)
            actual = {"verdict": got["verdict"], "advisory": got["advisory"],
                      "clauses": [r["clause"] for r in got["reasons"]],
                      "drafts": [r.get("message") for r in got["reasons"] if r.get("code") == "SOURCE_DRAFT"]}
        else:
            decision = engine.evaluate(parse_request(spec.get("request")))
            actual = {"outcome": decision.outcome, "category": decision.category, "advisory": decision.advisory,
                      "verdict": decision.verdict, "clauses": [r.clause for r in decision.reasons],
                      "drafts": [(r.values or {}).get("document") for r in decision.reasons if r.code == "SOURCE_DRAFT"]}
    except InputError as exc:
        result.failures.append(f"error: {exc}")
        return result
    for key in ("outcome", "category", "verdict", "advisory"):
        if key in expect and expect[key] != actual.get(key):
            result.failures.append(f"{key}: expected {expect[key]!r}, actual {actual.get(key)!r}")
    if "clause" in expect:
        wanted = str(expect["clause"])
        if not any(c == wanted or c.endswith("#" + wanted) for c in actual["clauses"]):
            result.failures.append(f"clause: expected {wanted!r}, actual {', '.join(actual['clauses']) or 'none'}")
    if "not_clause" in expect:
        unwanted = str(expect["not_clause"])
        if any(c == unwanted or c.endswith("#" + unwanted) for c in actual["clauses"]):
            result.failures.append(f"not_clause: expected no reason citing {unwanted!r}, actual "
                                   f"{', '.join(actual['clauses'])}")
    if "draft" in expect:
        wanted = expect["draft"]
        if wanted is False and actual["drafts"]:
            result.failures.append(f"draft: expected none, actual {'; '.join(map(str, actual['drafts']))}")
        elif wanted is not False and not any(str(wanted) in str(d) for d in actual["drafts"]):
            result.failures.append(f"draft: expected {wanted!r}, actual {'; '.join(map(str, actual['drafts'])) or 'none'}")
    if result.failures:  # the whole picture, so the author sees what the ruleset decided instead
        shown = {k: v for k, v in actual.items() if k not in ("clauses", "drafts") and v is not None}
        result.failures.append("actual decision: " + ", ".join(f"{k}={v}" for k, v in shown.items())
                               + f", clauses={', '.join(actual['clauses']) or 'none'}")
    return result


def run_path(path: Path, lang: str = "zh") -> list[CaseResult]:
    from zhunru.decide.evaluate import Engine

    engine = Engine(registry_for(path), lang=lang)
    results = []
    for file in case_files(path):
        for case in load_cases(file):
            results.append(run_case(case, engine))
    return results
