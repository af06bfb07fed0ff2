"""The decision log read as matters: each decision with the district body's act on it (if any)
and its target communities, enriched from the community registry when that table exists.

Shared by the refusal notice, the publication and the burden report. Reads only: the log
stays the single source of truth, nothing here writes.
"""
from __future__ import annotations

import datetime as dt
import functools
import itertools
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from zhunru.errors import InputError
from zhunru.kinds import PAPERWORK  # noqa: F401 - the report counts these together
from zhunru.log.targets import WITHDRAWAL_KEY
from zhunru.models import Decision

REGISTRY_TABLE = "zhunru_community"
COMMUNITY_FIELDS = ("name", "code", "district", "street", "population", "households")
NO_DISTRICT = "(未注明区县)"


def in_effect(outcome: str, advisory: bool, act: str | None) -> bool:
    """What a community carries: a decision admitted by an in-force ruleset, or approved by
    the district body. An admission under a proposal or draft ruleset (advisory) binds nobody
    until the body approves it, so it is neither published, counted as burden, nor counted
    against a cap. The one definition: the publication, the report and the caps use it."""
    if act == "approval":
        return True
    return act is None and outcome == "admitted" and not advisory


@dataclass
class Matter:
    """One logged decision and what became of it."""

    seq: int
    entry_id: str
    request_id: str
    created_at: str
    ruleset: str
    ruleset_sha256: str
    log_hash: str
    request: dict
    decision: dict
    communities: list[dict] = field(default_factory=list)
    act: dict | None = None  # the approval/refusal payload, with its entry_id
    withdrawal: dict | None = None  # the withdrawal (撤销) payload, with its entry_id

    @property
    def date(self) -> dt.date:
        return dt.date.fromisoformat(self.request["date"])

    @property
    def outcome(self) -> str:
        return self.decision["outcome"]

    @property
    def kind(self) -> str:
        return self.request["kind"]

    @property
    def status(self) -> str:
        """admitted (by the ruleset) | approved | refused (by the body) | pending | rejected |
        withdrawn (by the body, after it was in effect)."""
        if self.withdrawal:
            return "withdrawn"
        act = (self.act or {}).get("act")
        if act == "refusal":
            return "refused"
        if self.outcome == "admitted":
            return "admitted"
        if self.outcome == "needs_approval":
            return "approved" if act == "approval" else "pending"
        return "rejected"

    @property
    def in_effect(self) -> bool:
        """What the community now carries: admitted by an in-force ruleset, or approved by the
        district body. An admission under a proposal/draft ruleset (advisory) binds nobody until
        the body approves it, so it is not published and not counted as burden. A withdrawn
        matter is no longer in effect."""
        return not self.withdrawal and in_effect(self.outcome, bool(self.decision.get("advisory")), (self.act or {}).get("act"))

    @property
    def list_name(self) -> str:
        """duty | assist | commissioned for tasks; the kind otherwise."""
        if self.kind == "task":
            category = self.decision["category"]
            return category if category in ("duty", "assist") else "commissioned"
        return self.kind

    @property
    def funding(self) -> dict:
        """What the department attached: amount (Decimal), source, document, personnel."""
        f = self.request.get("funding") or {}
        return {"amount": Decimal(str(f["amount"])) if f.get("amount") is not None else None,
                "source": f.get("source"), "document": f.get("document"),
                "personnel": int(self.request.get("personnel") or 0)}

    @property
    def funded(self) -> bool:
        amount = self.funding["amount"]
        return amount is not None and amount > 0

    @property
    def staffed(self) -> bool:
        return self.funding["personnel"] > 0

    def communities_in(self, district: str | None) -> list[dict]:
        if district is None:
            return list(self.communities)
        return [c for c in self.communities if (c.get("district") or NO_DISTRICT) == district]


def registry_rows(store) -> list[dict]:
    """The community registry's rows, or [] when the registry has not been created (the
    registry is another module's table; we only read it, by plain SQL, if it is there)."""
    from sqlalchemy import inspect, text

    try:
        if not inspect(store.engine).has_table(REGISTRY_TABLE):
            return []
        with store.engine.connect() as conn:
            result = conn.execute(text(f"SELECT {', '.join(COMMUNITY_FIELDS)} FROM {REGISTRY_TABLE}"))
            return [dict(zip(COMMUNITY_FIELDS, row)) for row in result]
    except Exception:  # an unexpected registry layout must not stop a notice or a report
        return []


def enricher(rows: list[dict]):
    """enrich() with the registry's indexes built once: for callers enriching many requests."""
    by_code = {r["code"]: r for r in rows if r.get("code")}
    by_name: dict[str, list[dict]] = {}
    for r in rows:
        by_name.setdefault(r["name"], []).append(r)

    def enrich_(communities: list[dict]) -> list[dict]:
        out = []
        for c in communities:
            match = by_code.get(c.get("code")) if c.get("code") else None
            if match is None:
                named = by_name.get(c.get("name"), [])
                if c.get("district"):
                    named = [r for r in named if r.get("district") == c["district"]]
                match = named[0] if len(named) == 1 else None
            given = {k: v for k, v in c.items() if v is not None}
            out.append({**{k: v for k, v in (match or {}).items() if v is not None}, **given})
        return out

    return enrich_


def enrich(communities: list[dict], rows: list[dict]) -> list[dict]:
    """Fill what a request left out (district, street, code, sizes) from the registry: by code,
    else by a name that is unique (or unique within the request's district)."""
    return enricher(rows)(communities)


def matters_at(store, seqs: Iterable[int], registry: list[dict] | None = None) -> Iterator[Matter]:
    """The decisions at these log rows, in the order given, each with its act and enriched
    communities: fetched by key, 500 at a time (memory does not grow with the log)."""
    from sqlalchemy import bindparam, select

    from zhunru.log.store import LogEntry

    enrich_ = enricher(registry_rows(store) if registry is None else registry)
    table = LogEntry.__table__
    by_seq = select(table).where(table.c.seq.in_(bindparam("seqs", expanding=True))).order_by(table.c.seq)
    by_act = select(table).where(table.c.act_key.in_(bindparam("ids", expanding=True)))
    iterator = iter(seqs)
    with store.reader.connect() as conn:
        while chunk := list(itertools.islice(iterator, 500)):
            found = {r["seq"]: r for r in conn.execute(by_seq, {"seqs": chunk}).mappings()}
            ids = [r["entry_id"] for r in found.values() if r["entry_type"] == "decision"]
            keys = ids + [WITHDRAWAL_KEY + i for i in ids]
            acts = {a["act_key"]: a for a in conn.execute(by_act, {"ids": keys}).mappings()} if ids else {}
            for seq in chunk:
                e = found.get(seq)
                if e is None or e["entry_type"] != "decision":
                    continue
                request = json.loads(e["request_json"])
                act = acts.get(e["entry_id"])
                withdrawal = acts.get(WITHDRAWAL_KEY + e["entry_id"])
                yield Matter(seq=e["seq"], entry_id=e["entry_id"], request_id=e["request_id"], created_at=e["created_at"],
                             ruleset=e["ruleset"], ruleset_sha256=e["ruleset_sha256"], log_hash=e["hash"],
                             request=request, decision=Decision.stored(e),
                             communities=enrich_(request.get("communities") or []),
                             act=dict(json.loads(act["payload_json"]), entry_id=act["entry_id"], seq=act["seq"])
                             if act else None,
                             withdrawal=dict(json.loads(withdrawal["payload_json"]), entry_id=withdrawal["entry_id"],
                                             seq=withdrawal["seq"]) if withdrawal else None)


def find_matter(store, ident: str) -> Matter:
    """A matter by decision id, request id, row number, or the entry id of an act on it."""
    entry = store.find(ident)
    if entry is None:
        raise InputError(f"ID: no decision or request {ident!r} in the log {store.display_url}")
    if entry.entry_type in ("registry_change", "funding_allocation"):
        raise InputError(f"ID: {ident!r} is a {entry.entry_type} entry of the log, not a decision")
    if entry.entry_type != "decision":
        entry = store.find(entry.refers_to or "")
        if entry is None or entry.entry_type != "decision":
            raise InputError(f"ID: {ident!r} refers to a decision that is not in the log")
    request = json.loads(entry.request_json)
    act = store.act_on(entry.entry_id)
    withdrawal = store.withdrawal_of(entry.entry_id)
    return Matter(seq=entry.seq, entry_id=entry.entry_id, request_id=entry.request_id, created_at=entry.created_at,
                  ruleset=entry.ruleset, ruleset_sha256=entry.ruleset_sha256, log_hash=entry.hash, request=request,
                  decision=Decision.stored(entry),
                  communities=enrich(request.get("communities") or [], registry_rows(store)),
                  act=dict(json.loads(act.payload_json), entry_id=act.entry_id, seq=act.seq) if act else None,
                  withdrawal=dict(json.loads(withdrawal.payload_json), entry_id=withdrawal.entry_id, seq=withdrawal.seq)
                  if withdrawal else None)


# -- citing sources ----------------------------------------------------------------------------
@functools.cache
def _source_titles(ref: str) -> dict[str, str]:
    from zhunru.rulebook.loader import default_registry

    try:
        loaded = default_registry().by_ref(ref)
    except Exception:  # a ruleset no longer installed: cite the file name alone
        return {}
    return {s.document: s.title for s in loaded.ruleset.sources if s.document}


def cite(reason: dict) -> str:
    """A reason's source with its document's title from the ruleset (messages.cite)."""
    from zhunru.messages import cite as formatted

    source = reason.get("source") or {}
    return formatted(source, _source_titles(reason.get("clause", "").split("#", 1)[0]).get(source.get("document")))


def basis(decision: dict) -> list[dict]:
    """The clauses a decision rests on, once each, with their sources."""
    seen, out = set(), []
    for r in decision.get("reasons", []):
        if r["clause"] in seen or r.get("code") == "PROPOSAL_ADVISORY":
            continue
        seen.add(r["clause"])
        out.append({"clause": r["clause"], "source": cite(r), "code": r.get("code")})
    return out
