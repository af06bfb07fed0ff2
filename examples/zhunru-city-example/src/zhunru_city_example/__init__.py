"""Example third-party zhunru plugin for the made-up city `examplecity` (示例市).

Registered through the `zhunru` entry-point group (see pyproject.toml). It implements two hooks:
`zhunru_ruleset_paths` (where its ruleset folder is) and `zhunru_city_rules` (a rule the ruleset
data cannot say). It needs nothing from zhunru at import time: pluggy's marker for the "zhunru"
project is the same marker `zhunru.plugins.hookimpl` is.
"""
from __future__ import annotations

from pathlib import Path

import pluggy

hookimpl = pluggy.HookimplMarker("zhunru")

RULESETS = Path(__file__).resolve().parent / "rulesets"
CITY = "examplecity"


@hookimpl
def zhunru_ruleset_paths():
    return [RULESETS]


def basis_required(request, decision, city):
    """Example policy 第六条: an application for an off-list task must name its legal basis;
    without one the district office does not accept it (不予受理) — so it is rejected."""
    if request.kind != "task" or decision["category"] != "commissioned" or (request.basis or "").strip():
        return None
    return [{"code": "BASIS_MISSING", "clause": "EX-ADM-02", "outcome": "rejected",
             "message": "准入申请未写明法律法规依据（basis），区社区办不予受理。"}]


@hookimpl
def zhunru_city_rules(city):
    return [basis_required] if city == CITY else []
