"""The eight kinds of demand and the lists of each: declared once, used everywhere.

工作事项 task, 挂牌 nameplate, 证明 certificate, 评比考核检查 assessment, 会议 meeting, 台账 ledger,
报表 report, 上墙 posting (DESIGN.md vocabulary)."""
from __future__ import annotations

KINDS: tuple[str, ...] = ("task", "nameplate", "certificate", "assessment", "meeting", "ledger", "report", "posting")
PAPERWORK: tuple[str, ...] = ("meeting", "ledger", "report", "posting")  # counted together in the burden report
LISTED_KINDS: tuple[str, ...] = ("nameplate", "posting", "meeting", "ledger", "report", "assessment")  # allow/forbid lists

# kind → the lists it has, in the order a name is looked up
LISTS: dict[str, tuple[str, ...]] = {
    "task": ("negative", "duty", "assist"),
    "certificate": ("must_not_issue", "must_issue", "may_issue"),
    **{kind: ("forbidden", "allowed") for kind in LISTED_KINDS},
}

# the lists that refuse: what may be reached through a colloquial name (never issuing or admitting)
REFUSING: frozenset[str] = frozenset({"negative", "must_not_issue", "forbidden"})

# pairs of lists of one kind that must never name the same thing
CONTRADICTIONS: dict[str, list[tuple[str, str]]] = {
    "task": [("duty", "negative"), ("assist", "negative"), ("duty", "assist")],
    "certificate": [("must_issue", "must_not_issue"), ("may_issue", "must_not_issue"), ("must_issue", "may_issue")],
    **{kind: [("allowed", "forbidden")] for kind in LISTED_KINDS},
}
