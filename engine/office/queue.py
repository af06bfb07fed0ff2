"""What awaits the district body (区社区办): decisions whose outcome is `needs_approval`, and
admissions under a draft or proposal (advisory: they bind nobody until the body confirms them),
that have no approval or refusal yet; and the acts that settle them.

An act is a new log entry (engine/log.py act_record); the decision itself is never changed.
The log's `act_key` is unique per decision and DecisionLog.append checks it under the
writers' lock, so of two officers acting on the same decision at once exactly one is
recorded; the other is told who acted first and when.

Deadlines come from the ruleset (`deadlines`), counted in Chinese working days
(engine/workdays.py) from the day the decision was logged (China time).
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import exists
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from zhunru.errors import InputError, RulesetError
from zhunru.log.store import DecisionLog, LogEntry, act_record
from zhunru.log.targets import WITHDRAWAL_KEY, Target, may_be_acted_on
from zhunru.models import FundingCheck
from zhunru.office.workdays import CHINA, CalendarRangeError, add_workdays, china_date, today_in_china, workdays_between

ACTS = {"approve": "approval", "refuse": "refusal", "withdraw": "withdrawal"}
EMPTY_FUNDING = FundingCheck().model_dump(mode="json")  # what a stored decision leaves out
PAST = {"approval": ("已批准", "approved"), "refusal": ("已拒绝", "refused"), "withdrawal": ("已撤销", "withdrawn")}


def find_decision(log: DecisionLog, ident: str) -> LogEntry:
    """A decision by its decision id or its request id."""
    ident = (ident or "").strip()
    if not ident:
        raise InputError("ID: give a request id or a decision id (zhunru queue)")
    found = log.find(ident)
    if found is not None and found.entry_type == "decision":
        return found
    if found is not None and found.entry_type in ("registry_change", "funding_allocation"):
        raise InputError(f"ID: {ident!r} is a {found.entry_type} entry of the log, not a decision (zhunru log show {ident})")
    raise InputError(f"ID: no decision {ident!r} in the log at {log.display_url} (zhunru queue, zhunru log list)")


def pending(log: DecisionLog, city: str | None = None) -> Iterator[LogEntry]:
    """Decisions that await the district body and have no act yet (targets.may_be_acted_on),
    oldest first: read page by page through the log's index of what needs approval and the
    target rows' index of advisory admissions (memory does not grow with the log)."""
    acts = aliased(LogEntry)
    advisory = select(Target.decision_seq).where(Target.state == "advisory")
    query = select(LogEntry).where(LogEntry.entry_type == "decision",
                                   (LogEntry.outcome == "needs_approval")
                                   | ((LogEntry.outcome == "admitted") & LogEntry.seq.in_(advisory)),
                                   ~exists().where(acts.act_key == LogEntry.entry_id))
    if city:
        query = query.where(LogEntry.city == city)
    last = 0
    while True:
        with Session(log.reader) as session:
            page = list(session.exec(query.where(LogEntry.seq > last).order_by(LogEntry.seq).limit(1000)).all())
        if not page:
            return
        yield from page
        last = page[-1].seq


def act(log: DecisionLog, ident: str, verb: str, account, note: str | None = None, via: str = "console",
        os_user: str | None = None) -> dict:
    """Approve or refuse (`verb`) the decision named by `ident` as `account` (an authenticated
    zhunru.office.accounts.Account); the written act entry. The account, its role and scope and
    where it acted from (`via`: console, web or api; on the console the OS user) are hashed
    into the act's log row.

    Errors (InputError, exit 2 / HTTP 4xx): an unknown id, a decision that is not
    needs_approval, a decision already approved or refused (naming by whom and when), a
    missing note on a refusal; Forbidden (403) for an account outside its role or district."""
    from zhunru.office.accounts import may_act

    kind = ACTS[verb]
    note = note.strip() if note else None
    if kind == "refusal" and not note:
        raise InputError("--note: a refusal needs its reason (it goes into the refusal notice)")
    if kind == "withdrawal" and not note:
        raise InputError("--note: a withdrawal needs its reason (it is published with it)")
    if note and len(note) > 2000:
        raise InputError("--note: at most 2000 characters")
    decision = find_decision(log, ident)
    may_act(account, request_districts(log, decision))
    if kind == "withdrawal":
        _check_in_effect(log, decision)
    elif not may_be_acted_on(decision.outcome, bool(json.loads(decision.payload_json).get("advisory"))):
        raise InputError(f"ID: decision {decision.entry_id} (request {decision.request_id}) is {decision.outcome!r}, "
                         "not needs_approval: only what awaits the district body (a request that needs "
                         "approval, or an advisory admission) can be approved or refused")
    actor = {"account": account.name, "role": account.role, "scope": account.scope, "via": via}
    if os_user:
        actor["os_user"] = os_user
    written = log.append([act_record(decision, kind, account.label, note, actor)])[0]
    if written.get("existing"):
        raise AlreadyActed(already_message(written))
    return written


class AlreadyActed(InputError):
    """The decision was approved or refused before (HTTP 409)."""


def request_withdrawal(log: DecisionLog, ident: str, account, note: str | None, via: str = "web") -> dict:
    """A community asks the district body to withdraw an admitted matter (its funding never
    arrived, residents reject it): a log entry the district's queue shows until the body acts.
    Only a community the decision targets (or an admin) may ask."""
    from zhunru.office.accounts import Forbidden, a_role

    note = (note or "").strip()
    if not note:
        raise InputError("note: say why the matter should be withdrawn")
    if len(note) > 2000:
        raise InputError("note: at most 2000 characters")
    decision = find_decision(log, ident)
    codes = {c.get("code") for c in json.loads(decision.request_json).get("communities") or []}
    if account.role == "community" and account.scope not in codes:
        raise Forbidden(f"account: {account.name} speaks for community {account.scope}, which this decision "
                        "does not concern")
    if account.role not in ("community", "admin"):
        raise Forbidden(f"account: {account.name} is {a_role(account.role)} account; a community asks for a "
                        "withdrawal, the district body withdraws")
    _check_in_effect(log, decision)
    if log.withdrawal_of(decision.entry_id) is not None:
        raise AlreadyActed(f"ID: request {decision.request_id} is already withdrawn")
    actor = {"account": account.name, "role": account.role, "scope": account.scope, "via": via}
    return log.append([act_record(decision, "withdrawal_request", account.label, note, actor)])[0]


def withdrawal_requests(log: DecisionLog) -> Iterator[tuple[LogEntry, LogEntry]]:
    """Open requests to withdraw (no withdrawal yet), oldest first, with their decisions."""
    done = aliased(LogEntry)
    query = select(LogEntry).where(LogEntry.entry_type == "withdrawal_request",
                                   ~exists().where(done.act_key == WITHDRAWAL_KEY + LogEntry.refers_to)
                                   ).order_by(LogEntry.seq)
    with Session(log.reader) as session:
        asked = list(session.exec(query).all())
    for entry in asked:
        decision = log.find(entry.refers_to)
        if decision is not None:
            yield entry, decision


def _check_in_effect(log: DecisionLog, decision: LogEntry) -> None:
    """Only what is in effect can be withdrawn: admitted by an in-force ruleset, or approved."""
    from zhunru.log.matters import in_effect

    act = log.act_on(decision.entry_id)
    advisory = bool(json.loads(decision.payload_json).get("advisory"))
    if not in_effect(decision.outcome, advisory, act.entry_type if act else None):
        state = act.entry_type if act else decision.outcome
        raise InputError(f"ID: decision {decision.entry_id} (request {decision.request_id}) is not in effect "
                         f"({state}): only an admitted or approved matter can be withdrawn")


def request_districts(log: DecisionLog, decision: LogEntry) -> set[str | None]:
    """The districts of a decision's target communities: as the request names them, else as
    the community registry knows the community (by code, then by name); None where neither says."""
    communities = json.loads(decision.request_json).get("communities") or []
    found: set[str | None] = set()
    unknown = []
    for c in communities:
        if c.get("district"):
            found.add(c["district"])
        else:
            unknown.append(c)
    if unknown:
        from zhunru.office.registry import CommunityRow

        with Session(log.reader) as session:
            for c in unknown:
                row = None
                try:
                    if c.get("code"):
                        row = session.exec(select(CommunityRow).where(CommunityRow.code == c["code"])).first()
                    if row is None:
                        row = session.exec(select(CommunityRow).where(CommunityRow.name == c.get("name"))).first()
                except SQLAlchemyError:  # no registry in this database
                    session.rollback()
                found.add(row.district if row else None)
    return found


def already_message(entry: dict) -> str:
    payload = json.loads(entry["payload_json"])
    zh, en = PAST[entry["entry_type"]]
    at = payload.get("at") or entry.get("created_at")
    try:  # officers read China time
        at = dt.datetime.fromisoformat(at).astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S (UTC+8)")
    except (TypeError, ValueError):
        pass
    return (f"ID: request {entry['request_id']} was already {en} ({zh}) by {payload.get('by')} "
            f"at {at}; the log keeps " + ("one withdrawal per decision" if entry["entry_type"] == "withdrawal"
                                          else "one approval or refusal per decision"))


# -- the queue listing ------------------------------------------------------------------------
@dataclass
class Deadlines:
    apply_ahead_days: int | None = None
    decide_within_days: int | None = None
    review_after_days: int | None = None
    clause: str | None = None


def ruleset_deadlines(ref: str, rulesets=None) -> Deadlines | None:
    """The deadlines of ruleset `city@version` (the nearest in its extends chain that sets
    them), or None when the ruleset is not available here."""
    from zhunru.rulebook.loader import default_registry

    rulesets = rulesets or default_registry()
    try:
        leaf = rulesets.by_ref(ref)
        chain = rulesets.chain(leaf)
    except RulesetError:
        return None
    for loaded in chain:
        found = loaded.ruleset.deadlines
        if found is not None:
            clause = f"{loaded.ref}#{found.clause}" if found.clause else None
            return Deadlines(found.apply_ahead_days, found.decide_within_days, found.review_after_days, clause)
    return Deadlines()


def queue_item(entry: LogEntry, today: dt.date, deadlines: Deadlines | None) -> dict:
    request = json.loads(entry.request_json)
    decision = json.loads(entry.payload_json)  # only codes and names: no need to restore the sources
    decided_on = china_date(entry.created_at)
    item = {
        "request_id": entry.request_id, "decision_id": entry.entry_id, "city": entry.city,
        "ruleset": entry.ruleset, "matter": decision["matter"]["name"], "matter_code": decision["matter"].get("code"),
        "kind": request.get("kind"), "category": decision.get("category"),
        "outcome": decision.get("outcome", entry.outcome), "advisory": bool(decision.get("advisory")),
        "department": request["department"]["name"], "department_level": request["department"].get("level"),
        "communities": [c.get("code") or c["name"] for c in request.get("communities", [])],
        "community_names": [c["name"] for c in request.get("communities", [])],
        "funding": {**EMPTY_FUNDING, **decision.get("funding", {})}, "personnel": request.get("personnel", 0),
        "reasons": [r["code"] for r in decision.get("reasons", [])],
        "request_date": request.get("date"), "decided_on": decided_on.isoformat(),
        "reported_by": request.get("reported_by"),
        "decide_within_days": None, "deadline": None, "days_left": None, "overdue": None,
        "apply_ahead_days": None, "earliest_start": None, "deadline_clause": None, "calendar_problem": None,
    }
    if deadlines is None:
        item["calendar_problem"] = f"ruleset {entry.ruleset} is not available here: no deadlines"
        return item
    item.update(decide_within_days=deadlines.decide_within_days, apply_ahead_days=deadlines.apply_ahead_days,
                deadline_clause=deadlines.clause)
    try:
        if deadlines.decide_within_days is not None:
            deadline = add_workdays(decided_on, deadlines.decide_within_days)
            left = workdays_between(today, deadline)
            item.update(deadline=deadline.isoformat(), days_left=left, overdue=left < 0)
        if deadlines.apply_ahead_days is not None and request.get("date"):
            # the department applied on the request's date: the work may not be pushed down
            # before this many working days have passed
            start = add_workdays(dt.date.fromisoformat(request["date"]), deadlines.apply_ahead_days)
            item["earliest_start"] = start.isoformat()
    except CalendarRangeError as exc:
        item["calendar_problem"] = str(exc).removeprefix("date: ")
    return item


def queue(log: DecisionLog, today: dt.date | None = None, city: str | None = None, rulesets=None) -> Iterator[dict]:
    """The queue's items, oldest first, one at a time."""
    today = today or today_in_china()
    cache: dict[str, Deadlines | None] = {}
    for entry in pending(log, city):
        if entry.ruleset not in cache:
            cache[entry.ruleset] = ruleset_deadlines(entry.ruleset, rulesets)
        yield queue_item(entry, today, cache[entry.ruleset])
