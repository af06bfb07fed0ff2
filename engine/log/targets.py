"""What each community carries, kept beside the chain: one row per (decision, target community).

The chain (store.LogEntry) is the truth; these rows are derived from it, written in the same
transaction as the entry they come from, so a reader never has to replay the log to learn
what a community carries:

- the caps (three plates per community) are counted here, inside the writers' transaction,
  so two deciders running at once cannot both admit past a cap (store.DecisionLog.append);
- the publication, the burden report and the queue filter and aggregate these rows in SQL
  instead of loading every decision.

A decision adds its rows with the state its outcome gives (`state_of`); an approval or refusal
only changes the state of its decision's rows. `Carried` keeps each (community, kind, matter)
in effect once, for the caps. `store.DecisionLog.rebuild_targets` writes both again from the
log and `store.DecisionLog.verify` checks that they agree with it, decision by decision.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from collections.abc import Iterator

from sqlalchemy import Index, bindparam, text
from sqlmodel import Field, SQLModel

# in_effect: what the community carries (matters.in_effect): admitted by an in-force ruleset, or
# approved. advisory: admitted under a draft/proposal ruleset, binding nobody until approved.
# withdrawn: in effect until the district body withdrew it (撤销); it counts nowhere from then on.
STATES = ("in_effect", "advisory", "pending", "refused", "rejected", "withdrawn")
ACT_STATES = {"approval": "in_effect", "refusal": "refused", "withdrawal": "withdrawn"}
WITHDRAWAL_KEY = "withdrawal:"  # act_key of a withdrawal: one per decision, beside its one approval/refusal


class Target(SQLModel, table=True):
    __tablename__ = "zhunru_target"
    __table_args__ = (
        Index("ix_zhunru_target_community", "community", "kind"),
        # advisory admissions await the district body's confirmation (queue.pending): a small index
        Index("ix_zhunru_target_advisory", "decision_seq", sqlite_where=text("state = 'advisory'"),
              postgresql_where=text("state = 'advisory'")),
    )
    id: int | None = Field(default=None, primary_key=True)
    decision_seq: int = Field(index=True)
    position: int  # the community's place in the request
    city: str = Field(max_length=64)
    kind: str = Field(max_length=32)
    list_name: str = Field(max_length=32)  # duty | assist | commissioned for tasks; the kind otherwise
    community: str = Field(max_length=200)  # registry code, else name: what caps count by
    community_name: str = Field(max_length=200)
    code: str | None = Field(default=None, max_length=64)  # the registry code, when the request gave one
    district: str | None = Field(default=None, index=True, max_length=200)  # as the request gave it
    street: str | None = Field(default=None, max_length=200)
    matter: str = Field(max_length=200)  # catalogue code, else the name
    request_date: str = Field(max_length=10)
    state: str = Field(max_length=16)
    funded: bool
    staffed: bool


class Carried(SQLModel, table=True):
    """Each matter a community carries, once (whatever number of decisions put it there): what a
    cap counts, by primary key, in a time that does not grow with the log."""

    __tablename__ = "zhunru_carried"
    community: str = Field(primary_key=True, max_length=200)
    kind: str = Field(primary_key=True, max_length=32)
    city: str = Field(primary_key=True, max_length=64)
    matter: str = Field(primary_key=True, max_length=200)
    since_seq: int  # the log row that first put it in effect


CARRIED_COLUMNS = ("community", "kind", "city", "matter", "since_seq")
COLUMNS = ("decision_seq", "position", "city", "kind", "list_name", "community", "community_name", "code", "district", "street",
           "matter", "request_date", "state", "funded", "staffed")


def may_be_acted_on(outcome: str, advisory: bool) -> bool:
    """What the district body approves or refuses: a request that needs its approval, and an
    admission under a draft or proposal (advisory), which binds nobody until the body confirms it."""
    return outcome == "needs_approval" or (outcome == "admitted" and advisory)


def state_of(outcome: str, advisory: bool) -> str:
    if outcome == "admitted":
        return "advisory" if advisory else "in_effect"
    return "pending" if outcome == "needs_approval" else "rejected"


def list_name(kind: str, category: str | None) -> str:
    if kind == "task":
        return category if category in ("duty", "assist") else "commissioned"
    return kind


def matter_key(matter: dict) -> str:
    return matter.get("code") or matter["name"]


def rows(*, city: str, kind: str, category: str | None, matter: str, request_date: str, state: str,
         funded: bool, staffed: bool, communities) -> list[dict]:
    """The target rows of one decision (`decision_seq` is filled in when the row is placed);
    `communities`: (name, code, district, street) of each target community, in the request's order."""
    common = {"decision_seq": None, "city": city, "kind": kind, "list_name": list_name(kind, category),
              "matter": matter, "request_date": request_date, "state": state, "funded": funded, "staffed": staffed}
    return [{**common, "position": i, "community": code or name, "community_name": name, "code": code,
             "district": district, "street": street}
            for i, (name, code, district, street) in enumerate(communities)]


def rows_for(seq: int, request: dict, decision: dict, state: str | None = None) -> list[dict]:
    """The target rows of the decision at row `seq`, from its stored request and decision."""
    funding = request.get("funding") or {}
    try:
        funded = funding.get("amount") is not None and Decimal(str(funding["amount"])) > 0
    except (InvalidOperation, ValueError):
        funded = False
    found = rows(city=request["city"], kind=request["kind"], category=decision.get("category"),
                 matter=matter_key(decision["matter"]), request_date=request["date"],
                 state=state or state_of(decision["outcome"], bool(decision.get("advisory"))),
                 funded=funded, staffed=int(request.get("personnel") or 0) > 0,
                 communities=[(c["name"], c.get("code"), c.get("district"), c.get("street")) for c in request.get("communities") or []])
    for row in found:
        row["decision_seq"] = seq
    return found


# -- reading -----------------------------------------------------------------------------------
def _streamed(store, query, params: dict) -> Iterator[dict]:
    with store.reader.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=2000).execute(query, params).mappings()
        for row in result:
            yield dict(row)


def published_rows(store, district: str, codes: list[str], names: list[str], start=None, end=None,
                   no_district: str | None = None, state: str = "in_effect") -> Iterator[dict]:
    """The target rows in `state` (in effect, or withdrawn) of every decision with a community that may lie in
    `district` (named there by the request, or given without a district and known to the
    registry: its `codes` and `names` in that district), in log order — a superset the
    caller narrows with the registry (matters.enrich). `no_district`: the label for
    communities with none."""
    where = ["state = :state"]
    params: dict = {"state": state}
    if district == no_district:
        where.append("district IS NULL")
    else:
        near = ["district = :district"]
        params["district"] = district
        if codes:
            near.append("(district IS NULL AND code IN :codes)")
            params["codes"] = codes
        if names:
            near.append("(district IS NULL AND community_name IN :names)")
            params["names"] = names
        where.append("(" + " OR ".join(near) + ")")
    _dates(where, params, start, end)
    query = text(f"SELECT {', '.join(COLUMNS)} FROM zhunru_target WHERE decision_seq IN "
                 f"(SELECT decision_seq FROM zhunru_target WHERE {' AND '.join(where)}) ORDER BY decision_seq, position")
    for name in ("codes", "names"):
        if name in params:
            query = query.bindparams(bindparam(name, expanding=True))
    yield from _streamed(store, query, params)


def rows_in(store, start=None, end=None, ruleset: str | None = None) -> Iterator[dict]:
    """Every target row with its request date in [start, end] (and decided under `ruleset`),
    in log order: what the burden report counts."""
    where, params = ["1 = 1"], {}
    _dates(where, params, start, end)
    if ruleset is not None:
        where.append("decision_seq IN (SELECT seq FROM zhunru_log WHERE ruleset = :ruleset)")
        params["ruleset"] = ruleset
    yield from _streamed(store, text(f"SELECT {', '.join(COLUMNS)} FROM zhunru_target WHERE {' AND '.join(where)} "
                                     "ORDER BY decision_seq, position"), params)


def _dates(where: list[str], params: dict, start, end) -> None:
    if start is not None:
        where.append("request_date >= :start")
        params["start"] = start.isoformat()
    if end is not None:
        where.append("request_date <= :end")
        params["end"] = end.isoformat()
