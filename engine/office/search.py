"""Finding logged decisions: by department, community, matter, outcome, city and request date,
newest first, a page at a time (`before`: the last row of the previous page). Reads by index;
memory does not grow with the log."""
from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import and_, exists
from sqlmodel import Session, select

from zhunru.errors import InputError
from zhunru.log.store import DecisionLog, LogEntry
from zhunru.log.targets import Target

OUTCOMES = ("admitted", "needs_approval", "rejected")
MAX_LIMIT = 500


def search(log: DecisionLog, *, department: str | None = None, community: str | None = None,
           matter: str | None = None, outcome: str | None = None, city: str | None = None,
           start: dt.date | None = None, end: dt.date | None = None, before: int | None = None,
           limit: int = 50) -> list[dict]:
    """Decisions matching every filter given, newest first: each with its state after any act.
    `community`: a registry code or a community name; `matter`: the matter's code or name as logged."""
    if outcome is not None and outcome not in OUTCOMES:
        raise InputError(f"outcome: {outcome!r} is not one of {', '.join(OUTCOMES)}")
    if not 1 <= limit <= MAX_LIMIT:
        raise InputError(f"limit: between 1 and {MAX_LIMIT}")
    if start and end and start > end:
        raise InputError(f"start: {start} is after end {end}")
    query = select(LogEntry).where(LogEntry.entry_type == "decision")
    for column, value in ((LogEntry.department, department), (LogEntry.matter, matter),
                          (LogEntry.outcome, outcome), (LogEntry.city, city)):
        if value is not None:
            query = query.where(column == value)
    if start is not None:
        query = query.where(LogEntry.request_date >= start.isoformat())
    if end is not None:
        query = query.where(LogEntry.request_date <= end.isoformat())
    if before is not None:
        query = query.where(LogEntry.seq < before)
    if community is not None:
        query = query.where(exists().where(and_(Target.decision_seq == LogEntry.seq,
                                                (Target.community == community) | (Target.community_name == community))))
    with Session(log.reader) as session:
        found = list(session.exec(query.order_by(LogEntry.seq.desc()).limit(limit)).all())
        states = {}
        if found:
            rows = session.exec(select(Target.decision_seq, Target.state)
                                .where(Target.decision_seq.in_([e.seq for e in found]), Target.position == 0)).all()
            states = dict(rows)
    out = []
    for e in found:
        request = json.loads(e.request_json)
        out.append({"seq": e.seq, "decision_id": e.entry_id, "request_id": e.request_id, "city": e.city,
                    "ruleset": e.ruleset, "outcome": e.outcome, "state": states.get(e.seq), "kind": e.kind,
                    "matter": request.get("matter"), "matter_code": e.matter, "department": e.department,
                    "request_date": e.request_date, "created_at": e.created_at,
                    "communities": [c.get("code") or c["name"] for c in request.get("communities") or []],
                    "reported_by": request.get("reported_by")})
    return out
