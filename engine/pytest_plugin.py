"""pytest plugin: collects ruleset case files (`<city>/cases/*.yaml`) as tests, so
`pytest rulesets/` works in any city's repository where zhunru is installed."""
from __future__ import annotations

import pytest


def pytest_collect_file(parent, file_path):
    if file_path.suffix == ".yaml" and file_path.parent.name == "cases":
        return RulesetCaseFile.from_parent(parent, path=file_path)
    return None


class RulesetCaseFile(pytest.File):
    def collect(self):
        from zhunru.casetest import load_cases, registry_for
        from zhunru.evaluate import Engine

        engine = Engine(registry_for(self.path))
        for case in load_cases(self.path):
            yield RulesetCase.from_parent(self, name=f"{case.index}: {case.name}", case=case, engine=engine)


class RulesetCase(pytest.Item):
    def __init__(self, *, case, engine, **kwargs):
        super().__init__(**kwargs)
        self.case, self.engine = case, engine

    def runtest(self):
        from zhunru.casetest import run_case

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
