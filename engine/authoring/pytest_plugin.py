"""pytest plugin: collects ruleset case files (`<city>/cases/*.yaml`) as tests, so
`pytest rulesets/` works in any city's repository where zhunru is installed."""
from __future__ import annotations

import pytest


def pytest_collect_file(parent, file_path):
    # <city>/cases/<x>.yaml next to the city's <version>.yaml files: another project's `cases/`
    # folder of unrelated YAML is left alone even though this plugin loads wherever zhunru is installed.
    if (file_path.suffix == ".yaml" and file_path.parent.name == "cases"
            and any(file_path.parent.parent.glob("*.yaml"))):
        return RulesetCaseFile.from_parent(parent, path=file_path)
    return None


class RulesetCaseFile(pytest.File):
    def collect(self):
        from zhunru.authoring.casetest import load_cases, registry_for
        from zhunru.errors import InputError
        from zhunru.decide.evaluate import Engine

        engine = Engine(registry_for(self.path))
        try:
            cases = load_cases(self.path)
        except InputError as exc:  # a malformed case file: its one-line message, not a traceback
            raise self.CollectError(str(exc)) from None
        for case in cases:
            yield RulesetCase.from_parent(self, name=f"{case.index}: {case.name}", case=case, engine=engine)


class RulesetCase(pytest.Item):
    def __init__(self, *, case, engine, **kwargs):
        super().__init__(**kwargs)
        self.case, self.engine = case, engine

    def runtest(self):
        from zhunru.authoring.casetest import run_case

        result = run_case(self.case, self.engine)
        if not result.ok:
            raise CaseFailed(result.failures)

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, CaseFailed):
            return "\n".join(["expected against actual:", *excinfo.value.args[0]])
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, f"ruleset case {self.name}"


class CaseFailed(Exception):
    pass
