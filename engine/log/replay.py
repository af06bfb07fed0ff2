"""Appeal replay (申诉复核) and impact analysis: a logged request decided again.

`replay(zhunru, ident)` re-decides the request of a logged decision against the ruleset version
in force on its date, with the standing state its communities had *when it was logged* (the
matters in effect from earlier rows, counting only acts logged before it), and compares the
result with the logged decision field by field. It must reproduce it exactly; where it does not,
each difference is named, with its likely cause: the version in force on that date is now
another one, the installed version's sha256 is not the logged one (its file changed), or — same
ruleset, different answer — the code changed the procedure.

`as_of` decides the same request as if filed on another day (today: under what is in force now,
with what the communities carry now), reason by reason beside the logged one.

`impact(zhunru, ruleset_ref, since)` is the analysis before publishing a new version: every
decision of that city logged for a request dated on or after `since`, decided again under the
given version with the standing it had when logged (so only the ruleset differs); what would
change, per district.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import bindparam, text
from sqlmodel import Session, select

from zhunru.decide.evaluate import Standing, community_key
from zhunru.errors import InputError, RulesetError
from zhunru.log.matters import in_effect
from zhunru.log.store import LogEntry
from zhunru.log.targets import WITHDRAWAL_KEY
from zhunru.models import Decision, Request

COMPARED = ("outcome", "category", "matter", "advisory", "verdict", "funding")


@dataclass
class Replayed:
    seq: int
    decision_id: str
    request_id: str
    logged: dict  # the contract's dict of the logged decision (no messages)
    again: dict  # the same, decided again
    differences: list[str] = field(default_factory=list)

    @property
    def same(self) -> bool:
        return not self.differences

    def as_dict(self) -> dict:
        return {"seq": self.seq, "decision_id": self.decision_id, "request_id": self.request_id,
                "reproduced": self.same, "differences": self.differences,
                "logged": _neutral(self.logged), "again": _neutral(self.again)}


def _neutral(d: dict) -> dict:
    """What is compared: the decision without its ids and words."""
    return {"outcome": d["outcome"], "category": d["category"], "matter": d["matter"], "advisory": d["advisory"],
            "verdict": d.get("verdict"), "funding": d["funding"], "ruleset": d["ruleset"],
            "reasons": [{"code": r["code"], "clause": r["clause"], "values": r.get("values")} for r in d["reasons"]]}


def differences(logged: dict, again: dict) -> list[str]:
    """Each way `again` differs from `logged`, in words, rulesets first (they explain the rest)."""
    out = []
    a, b = logged["ruleset"], again["ruleset"]
    if (a["id"], a["version"]) != (b["id"], b["version"]):
        out.append(f"ruleset: logged under {a['id']}@{a['version']}; the version in force on that date is now "
                   f"{b['id']}@{b['version']}")
    elif a.get("sha256") != b.get("sha256"):
        out.append(f"ruleset: {a['id']}@{a['version']} was {str(a.get('sha256'))[:12]}… when logged and is "
                   f"{str(b.get('sha256'))[:12]}… as installed (its file changed since)")
    for key in COMPARED:
        if logged.get(key) != again.get(key):
            out.append(f"{key}: logged {json.dumps(logged.get(key), ensure_ascii=False)}, "
                       f"now {json.dumps(again.get(key), ensure_ascii=False)}")
    reasons_a = [(r["code"], r["clause"], r.get("values")) for r in logged["reasons"]]
    reasons_b = [(r["code"], r["clause"], r.get("values")) for r in again["reasons"]]
    for i in range(max(len(reasons_a), len(reasons_b))):
        ra = reasons_a[i] if i < len(reasons_a) else None
        rb = reasons_b[i] if i < len(reasons_b) else None
        if ra != rb:
            out.append(f"reason {i + 1}: logged {_reason(ra)}, now {_reason(rb)}")
    if out and not any(d.startswith("ruleset:") for d in out):
        out.append("same ruleset, different answer: the code changed the procedure since")
    return out


def _reason(r) -> str:
    if r is None:
        return "none"
    code, clause, values = r
    return f"{code} ({clause}{', ' + json.dumps(values, ensure_ascii=False) if values else ''})"


def standing_at(store, seq: int, request: Request, kinds: set[str]) -> Standing:
    """What the request's communities carried, of the capped kinds, just before row `seq`: the
    decisions in effect then (admitted, or approved by an act logged before `seq`, and not
    withdrawn before it)."""
    admitted: dict[tuple[str, str, str], set[str]] = {}
    if request.kind not in kinds:
        return Standing(kinds=kinds)
    keys = [community_key(c) for c in request.communities]
    query = text("SELECT t.community, t.matter, l.seq, l.entry_id, l.outcome, l.payload_json FROM zhunru_target t "
                 "JOIN zhunru_log l ON l.seq = t.decision_seq WHERE t.city = :city AND t.kind = :kind "
                 "AND t.decision_seq < :seq AND t.community IN :keys").bindparams(bindparam("keys", expanding=True))
    with store.reader.connect() as conn:
        rows = [dict(r) for r in conn.execute(query, {"city": request.city, "kind": request.kind, "seq": seq,
                                                      "keys": keys}).mappings()]
        ids = sorted({r["entry_id"] for r in rows})
        acts = {}
        if ids:
            wanted = ids + [WITHDRAWAL_KEY + i for i in ids]
            found = conn.execute(select(LogEntry.act_key, LogEntry.entry_type, LogEntry.seq)
                                 .where(LogEntry.act_key.in_(wanted), LogEntry.seq < seq))
            acts = {key: kind for key, kind, _seq in found}
    for r in rows:
        if WITHDRAWAL_KEY + r["entry_id"] in acts:
            continue
        advisory = bool(json.loads(r["payload_json"]).get("advisory"))
        if in_effect(r["outcome"], advisory, acts.get(r["entry_id"])):
            admitted.setdefault((request.city, request.kind, r["community"]), set()).add(r["matter"])
    return Standing(admitted=admitted, kinds=kinds)


def replay(zhunru, ident: str, as_of: dt.date | None = None) -> Replayed:
    """The logged decision `ident` (decision id, request id or row) decided again."""
    from zhunru.office.queue import find_decision

    entry = find_decision(zhunru.log, ident)
    return replay_entry(zhunru, entry, as_of)


def replay_entry(zhunru, entry: LogEntry, as_of: dt.date | None = None) -> Replayed:
    logged = Decision.stored(entry)
    request = Request.model_validate_json(entry.request_json)
    try:
        if as_of is None:
            kinds = {request.kind} if zhunru.cap(request) is not None else set()
            again = zhunru.engine.evaluate(request, standing_at(zhunru.log, entry.seq, request, kinds))
        else:
            request = request.model_copy(update={"date": as_of})
            again = zhunru.engine.evaluate(request, zhunru._standing([request]))
    except (RulesetError, InputError) as exc:
        return Replayed(entry.seq, entry.entry_id, entry.request_id, logged, logged,
                        [f"cannot decide it again: {exc}"])
    shown = again.model_dump(mode="json")
    return Replayed(entry.seq, entry.entry_id, entry.request_id, logged, shown, differences(logged, shown))


def replay_all(zhunru, city: str | None = None) -> Iterator[Replayed]:
    """Every decision of the log (of `city`), in log order, read page by page."""
    last = 0
    while True:
        query = select(LogEntry).where(LogEntry.entry_type == "decision", LogEntry.seq > last)
        if city:
            query = query.where(LogEntry.city == city)
        with Session(zhunru.log.reader) as session:
            page = list(session.exec(query.order_by(LogEntry.seq).limit(500)).all())
        if not page:
            return
        for entry in page:
            yield replay_entry(zhunru, entry)
        last = page[-1].seq


def impact(zhunru, ref: str, since: dt.date) -> dict:
    """Decisions of the version's city for requests dated on or after `since`, decided again
    under version `ref`: what would change, per district."""
    try:
        leaf = zhunru.rulesets.by_ref(ref)
    except RulesetError as exc:
        raise InputError(f"--ruleset: {exc}") from None
    city = leaf.ruleset.id
    changed, per_district, total, last = [], {}, 0, 0
    while True:
        query = (select(LogEntry).where(LogEntry.entry_type == "decision", LogEntry.city == city,
                                        LogEntry.request_date >= since.isoformat(), LogEntry.seq > last)
                 .order_by(LogEntry.seq).limit(500))
        with Session(zhunru.log.reader) as session:
            page = list(session.exec(query).all())
        if not page:
            break
        for entry in page:
            total += 1
            logged = Decision.stored(entry)
            request = Request.model_validate_json(entry.request_json)
            book = zhunru.engine.book_of(leaf.ref, request.date)
            capped = {request.kind} if book.max_count.get(request.kind) else set()
            # the standing as when it was logged: only the ruleset differs from the original decision
            again = zhunru.engine.evaluate(request, standing_at(zhunru.log, entry.seq, request, capped),
                                           book=book).model_dump(mode="json")
            if (logged["outcome"], logged["category"]) == (again["outcome"], again["category"]):
                continue
            districts = sorted({c.district or "(未注明区县)" for c in request.communities})
            for d in districts:
                counts = per_district.setdefault(d, {})
                change = f"{logged['outcome']} → {again['outcome']}"
                counts[change] = counts.get(change, 0) + 1
            if len(changed) < 1000:
                changed.append({"seq": entry.seq, "request_id": entry.request_id, "matter": logged["matter"]["name"],
                                "districts": districts, "logged": logged["outcome"], "now": again["outcome"],
                                "logged_ruleset": entry.ruleset})
        last = page[-1].seq
    return {"ruleset": leaf.ref, "since": since.isoformat(), "decisions": total, "would_change": changed,
            "per_district": per_district}
