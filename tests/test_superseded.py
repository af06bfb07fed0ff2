"""Legal-basis freshness (issue 11): 《城市居民委员会组织法》 was revised with effect from 2026-01-01
(reference/national.md). A decision dated on or after that day that rests on the old article 3
says so; one dated before does not; `ruleset validate --as-of` fails the national version in
force on a day after it, which still quotes the old text."""
from __future__ import annotations

from helpers import REPO, bijie_request, run_cli
from zhunru.decide.evaluate import Engine, parse_request

DUTY = {"kind": "task", "matter": "调解民间纠纷"}


def codes(date: str) -> list[str]:
    decision = Engine().evaluate(parse_request(bijie_request(date=date, **DUTY)))
    assert decision.outcome == "admitted" and decision.matter.code == "NAT-DU-03"
    return [r.code for r in decision.reasons]


def test_a_decision_after_the_revision_says_its_basis_was_revised():
    assert "SOURCE_SUPERSEDED" not in codes("2025-12-31")
    after = Engine().evaluate(parse_request(bijie_request(date="2026-01-01", **DUTY)))
    superseded = [r for r in after.reasons if r.code == "SOURCE_SUPERSEDED"]
    assert len(superseded) == 1 and superseded[0].values["on"] == "2026-01-01"
    shown = after.shown("zh")["reasons"][-1]["message"]
    assert "已于 2026-01-01 被修订" in shown and "不是现行法律的表述" in shown
    assert "a revision replaced on 2026-01-01" in after.shown("en")["reasons"][-1]["message"]


def test_validate_as_of_fails_a_version_still_quoting_the_old_text():
    later = run_cli("ruleset", "validate", str(REPO / "rulesets"), "--as-of", "2026-02-01")
    assert later.returncode == 1
    assert "rulesets/national/2020.1.yaml: sources[0]: '中华人民共和国城市居民委员会组织法' was superseded on 2026-01-01" \
        in later.stdout
    assert run_cli("ruleset", "validate", str(REPO / "rulesets"), "--as-of", "2025-12-31").returncode == 0
    assert run_cli("ruleset", "validate", str(REPO / "rulesets")).returncode == 0
    bad = run_cli("ruleset", "validate", str(REPO / "rulesets"), "--as-of", "2026-13-01")
    assert bad.returncode == 2 and "--as-of" in bad.stderr
