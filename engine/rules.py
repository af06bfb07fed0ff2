"""The decision procedure's rules, run by durable_rules. The only module that imports it.

Each request arrives as one *event* describing what the catalogue lookup found (`listed`),
the list's coverage, and the funding and assessor checks; the matching rule names the
outcome, category and reason code. Events are consumed, so no state accumulates
(durable_rules 2.0.28 fails after ~46,000 asserted *facts*: its issue #376 — never assert facts).
The conditions are mutually exclusive: exactly one rule fires per event.
"""
from __future__ import annotations

import itertools
import threading

_RULESET = "zhunru_procedure"
_results: dict[str, tuple[str, str, str]] = {}
_counter = itertools.count()
_lock = threading.Lock()
_ready = False


def _define() -> None:
    from durable.lang import m, ruleset, when_all

    def rule(condition, outcome, category, code):
        def action(c):
            _results[c.m.rid] = (outcome, category, code)

        action.__name__ = f"{code}_{outcome}_{category}".lower()
        when_all(condition)(action)

    task = m.group == "task"
    listed_only = m.group != "task"
    with ruleset(_RULESET):
        # task (DESIGN.md step 3)
        rule(task & (m.listed == "negative"), "rejected", "negative", "TASK_NEGATIVE")
        rule(task & (m.listed == "duty"), "admitted", "duty", "TASK_DUTY")
        rule(task & (m.listed == "assist") & (m.shortfall == False), "admitted", "assist", "TASK_ASSIST")  # noqa: E712
        rule(task & (m.listed == "assist") & (m.shortfall == True), "rejected", "assist", "FUNDING_SHORTFALL")  # noqa: E712
        rule(task & (m.listed == "none") & (m.partial == True), "needs_approval", "unlisted", "LIST_PARTIAL")  # noqa: E712
        rule(task & (m.listed == "none") & (m.partial == False) & (m.funded == False),  # noqa: E712
             "rejected", "commissioned", "FUNDING_MISSING")
        rule(task & (m.listed == "none") & (m.partial == False) & (m.funded == True) & (m.shortfall == True),  # noqa: E712
             "rejected", "commissioned", "FUNDING_SHORTFALL")
        rule(task & (m.listed == "none") & (m.partial == False) & (m.funded == True) & (m.shortfall == False),  # noqa: E712
             "needs_approval", "commissioned", "APPROVAL_REQUIRED")
        # certificates
        rule(m.listed == "must_issue", "admitted", "duty", "CERT_MUST_ISSUE")
        rule(m.listed == "may_issue", "admitted", "allowed", "CERT_MAY_ISSUE")
        rule(m.listed == "must_not_issue", "rejected", "forbidden", "CERT_MUST_NOT_ISSUE")
        # nameplates, postings, meetings, ledgers, reports, assessments (step 4)
        rule(listed_only & (m.listed == "allowed") & (m.over_cap == False) & (m.assessor_ok == True),  # noqa: E712
             "admitted", "allowed", "ALLOWED")
        rule(listed_only & (m.listed == "allowed") & (m.over_cap == True),  # noqa: E712
             "rejected", "forbidden", "OVER_CAP")
        rule(listed_only & (m.listed == "allowed") & (m.over_cap == False) & (m.assessor_ok == False),  # noqa: E712
             "rejected", "forbidden", "ASSESSOR_NOT_ALLOWED")
        rule(listed_only & (m.listed == "forbidden"), "rejected", "forbidden", "FORBIDDEN")
        # what no list names: the ruleset's `otherwise`, else the district body decides
        rule(listed_only & (m.listed == "none") & (m.otherwise == "admitted"), "admitted", "allowed", "NOT_LISTED")
        rule(listed_only & (m.listed == "none") & (m.otherwise == "rejected"), "rejected", "forbidden", "NOT_LISTED")
        rule(listed_only & (m.listed == "none") & (m.otherwise == "needs_approval"),
             "needs_approval", "unlisted", "NOT_LISTED")
        rule(listed_only & (m.listed == "none") & (m.otherwise == "none"), "needs_approval", "unlisted", "NOT_COVERED")


def decide(facts: dict) -> tuple[str, str, str]:
    """Post one event; return (outcome, category, reason code) from the rule that fired."""
    return decide_many([facts])[0]


def decide_many(facts_list: list[dict]) -> list[tuple[str, str, str]]:
    """Post one event per request, in one batch; the results in the same order."""
    global _ready
    from durable.lang import post, post_batch

    with _lock:
        if not _ready:
            _define()
            _ready = True
        rids = [str(next(_counter)) for _ in facts_list]
        events = [{**facts, "rid": rid} for facts, rid in zip(facts_list, rids)]
        if len(events) == 1:
            post(_RULESET, events[0])
        elif events:
            post_batch(_RULESET, events)
        return [_results.pop(rid) for rid in rids]
