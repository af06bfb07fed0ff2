"""What a decision depends on besides its request, in the chain: the community registry and the
funding allocations.

The registry (office/registry.py: `zhunru_community`, `zhunru_community_change`) and the
allocations (office/allocations.py: `zhunru_allocation`) are tables a district office changes
in place, so they cannot be made append-only like the log. Each change is therefore also an
entry of the hash chain, written in the same transaction as the tables and under the chain's
lock (store.DecisionLog.append_beside): `registry_change` (an import, an edit, a retirement and
its undoing: what changed, old and new, who and when) and `funding_allocation` (one recorded
allocation, with who recorded it). `log verify` replays these entries and checks that the
tables agree with them; `log rebuild` writes the tables again from them.

One entry per registry operation, whatever its size: an import of 10,000 communities is one
entry carrying every row it added or changed. An import is one act, all or nothing, and so is
its entry; verify replays entries in order whatever their size, and the chain (and `log list`)
does not grow by 10,000 rows per import.

Tables that held rows before the chain recorded them (a registry or allocations written by an
earlier version) get one `baseline` entry, written the first time this version opens them for
writing (or writes to them), under the chain's lock: the rows as they are then, and for the
registry's history (rows before it carry no `entry_seq`) a digest of it. From then on every row
is accounted for by the chain. A log whose chain holds no entry of a kind yet says nothing
about that table: it is from before the chain recorded it, and verify leaves it alone.

Only commands that need the database import this module (it pulls in SQLAlchemy).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterator

from sqlalchemy import inspect, text

REGISTRY = "registry_change"
ALLOCATION = "funding_allocation"
TYPES = (REGISTRY, ALLOCATION)
# a community as the chain keeps it (its code is the key)
COMMUNITY = ("name", "district", "street", "population", "households", "retired_at", "updated_at")
ADDED = ("name", "district", "street", "population", "households")  # what an import gives a new community
CHANGE = ("code", "district", "action", "field", "old_value", "new_value", "actor", "at")
ALLOCATED = ("id", "community_code", "year", "level", "fund", "amount", "document", "recorded_at")
REBUILD_HINT = "zhunru log rebuild writes it again from the log"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")


def entry(entry_type: str, request_id: str, outcome: str, payload: dict) -> dict:
    """The log fields of a registry or allocation entry: no city, ruleset or request; the payload
    says what changed."""
    return {"entry_id": uuid.uuid4().hex, "entry_type": entry_type, "request_id": request_id[:128],
            "decision_key": None, "refers_to": None, "act_key": None, "created_at": _now(), "city": "",
            "ruleset": "", "ruleset_sha256": "", "outcome": outcome, "kind": None, "request_date": None,
            "department": None, "matter": None, "request_json": "{}",
            "payload_json": json.dumps(payload, ensure_ascii=False)}


def actor_name(actor) -> str:
    """The actor as the registry's history column names it: the account, else console:<os user>."""
    if isinstance(actor, dict):
        return actor.get("account") or f"console:{actor.get('os_user') or 'unknown'}"
    return str(actor)


def actor_record(actor) -> dict:
    """The actor as acts record it ({"account", "role", "scope", "via", "os_user"?}): an account
    dict is kept; a bare name (console:<os user>, or an account's name) is made one."""
    if isinstance(actor, dict):
        return actor
    name = str(actor)
    if name.startswith("console:"):
        return {"account": None, "via": "console", "os_user": name.split(":", 1)[1]}
    return {"account": name}


def console_actor() -> dict:
    import getpass

    try:
        user = getpass.getuser()
    except (KeyError, OSError, ImportError):  # a container user with no passwd entry
        user = "unknown"
    return {"account": None, "via": "console", "os_user": user}


def account_actor(account, via: str = "web") -> dict:
    return {"account": account.name, "role": account.role, "scope": account.scope, "via": via}


# -- the registry ------------------------------------------------------------------------------
def registry_payload(action: str, changes: list[dict], actor, at: str) -> dict:
    """What one registry operation's entry carries. `changes`: {code, district (after), field
    (None: a community added, `new` then holds its ADDED fields), old, new}, in the order made."""
    return {"action": action, "by": actor_name(actor), "actor": actor_record(actor), "at": at,
            "changes": [{k: c.get(k) for k in ("code", "district", "field", "old", "new")} for c in changes]}


def registry_entry(payload: dict) -> dict:
    codes = sorted({c["code"] for c in payload["changes"]})
    label = codes[0] if len(codes) == 1 else f"{payload['action']} of {len(codes)} communities"
    return entry(REGISTRY, f"registry:{label}", payload["action"], payload)


def registry_baseline(communities: list[dict], history: list[tuple]) -> dict:
    """The registry as it was when the chain began to record it: every community (COMMUNITY
    fields and code) and a digest of the recorded history before it (CHANGE tuples, by id)."""
    payload = {"action": "baseline", "at": _now(), "communities": communities, "history": history_digest(history)}
    return entry(REGISTRY, f"registry:baseline of {len(communities)} communities", "baseline", payload)


def history_digest(rows: list[tuple]) -> dict:
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps([None if v is None else str(v) for v in row], ensure_ascii=False).encode() + b"\n")
    return {"count": len(rows), "sha256": digest.hexdigest()}


def change_rows(payload: dict) -> list[tuple]:
    """The rows of `zhunru_community_change` an operation's entry implies (CHANGE order)."""
    out = []
    for c in payload["changes"]:
        new = (json.dumps({k: c["new"].get(k) for k in ADDED}, ensure_ascii=False) if c["field"] is None
               else _shown(c["new"]))
        out.append((c["code"], c["district"], payload["action"], c["field"], _shown(c["old"]), new,
                    payload["by"], payload["at"]))
    return out


def _shown(value) -> str | None:
    return None if value is None else str(value)


def apply(state: dict[str, dict], payload: dict, seq: int) -> str | None:
    """Apply one registry entry to `state` (code → COMMUNITY fields); the first way its old
    values disagree with what the chain had (the registry was changed outside zhunru first)."""
    if payload["action"] == "baseline":
        for c in payload["communities"]:
            state[c["code"]] = {k: c.get(k) for k in COMMUNITY}
        return None
    problem = None
    for c in payload["changes"]:
        code, now = c["code"], state.get(c["code"])
        if c["field"] is None:
            if now is not None and problem is None:
                problem = f"community {code}: row {seq} adds it, but the log's registry already had it"
            state[code] = {**{k: c["new"].get(k) for k in ADDED}, "retired_at": None, "updated_at": payload["at"]}
            continue
        if now is None:
            problem = problem or f"community {code}: row {seq} changes it, but the log's registry never added it"
            now = state[code] = dict.fromkeys(COMMUNITY)
        if now.get(c["field"]) != c["old"] and problem is None:
            problem = (f"community {code}: row {seq} changed {c['field']} from {c['old']!r}, but the log had "
                       f"{now.get(c['field'])!r} (the registry was changed outside zhunru before row {seq})")
        now[c["field"]] = c["new"]
        now["updated_at"] = payload["at"]
    return problem


def _of_type(entry_type: str) -> str:
    """The WHERE clause for entries of a type: it repeats the partial index's predicate, so both
    SQLite and PostgreSQL use the index (store.BESIDE_WHERE) instead of scanning the log."""
    assert entry_type in TYPES
    return f"entry_type IN ('{REGISTRY}', '{ALLOCATION}') AND entry_type = '{entry_type}'"


def has_entries(conn, entry_type: str) -> bool:
    return conn.execute(text(f"SELECT 1 FROM zhunru_log WHERE {_of_type(entry_type)} LIMIT 1")).first() is not None


def _entries(conn, entry_type: str) -> Iterator[tuple[int, dict]]:
    """(seq, payload) of every entry of a type, in chain order, a page at a time."""
    last = 0
    while True:
        page = conn.execute(text(f"SELECT seq, payload_json FROM zhunru_log WHERE {_of_type(entry_type)} "
                                 "AND seq > :s ORDER BY seq LIMIT 200"), {"s": last}).all()
        if not page:
            return
        for seq, payload in page:
            try:
                yield seq, json.loads(payload)
            except ValueError:
                yield seq, {}
        last = page[-1][0]


def registry_state(conn) -> tuple[dict[str, dict], str | None]:
    """The registry the chain's entries give (code → COMMUNITY fields), and the first problem
    within them."""
    state: dict[str, dict] = {}
    problem = None
    for seq, payload in _entries(conn, REGISTRY):
        try:
            found = apply(state, payload, seq)
        except (KeyError, TypeError, AttributeError):
            found = f"row {seq}: a registry entry zhunru did not write"
        problem = problem or found
    return state, problem


def verify_registry(conn) -> str | None:
    """The registry's tables agree with the chain's registry entries: each community's row,
    each recorded change (by the row of its entry), and the history before the baseline."""
    if not has_entries(conn, REGISTRY):
        return None  # before the chain recorded the registry: nothing to check it against
    tables = set(inspect(conn).get_table_names())
    if not {"zhunru_community", "zhunru_community_change"} <= tables:
        return "the community registry's tables are missing, but the log records registry changes (" + REBUILD_HINT + ")"
    stored = _grouped(_stream(conn, f"SELECT entry_seq, {', '.join(CHANGE)} FROM zhunru_community_change "
                              "WHERE entry_seq IS NOT NULL ORDER BY entry_seq, id"))
    have = next(stored, None)
    state: dict[str, dict] = {}
    for seq, payload in _entries(conn, REGISTRY):
        try:
            problem = apply(state, payload, seq)
            if payload["action"] == "baseline":
                legacy = conn.execute(text(f"SELECT {', '.join(CHANGE)} FROM zhunru_community_change "
                                           "WHERE entry_seq IS NULL ORDER BY id")).all()
                if history_digest([tuple(r) for r in legacy]) != payload["history"]:
                    return (f"row {seq}: the registry's history before the log recorded it ({len(legacy)} changes) "
                            f"is not what the log's baseline says ({payload['history']['count']}): changed outside "
                            "zhunru")
                continue
            expected = change_rows(payload)
        except (KeyError, TypeError, AttributeError):
            return f"row {seq}: a registry entry zhunru did not write"
        if problem:
            return problem
        if have is not None and have[0] < seq:
            return (f"community {have[1][0][0]}: a recorded change (of row {have[0]}) has no registry entry of the "
                    "log behind it (added outside zhunru)")
        rows = [tuple(r) for r in have[1]] if have is not None and have[0] == seq else []
        if rows != expected:
            code = next((e[0] for e, r in zip(expected, rows) if e != r), (expected or rows)[0][0])
            return (f"community {code}: the recorded history of row {seq} disagrees with the log (a change row "
                    "was changed or deleted outside zhunru)")
        if rows:
            have = next(stored, None)
    if have is not None:
        return (f"community {have[1][0][0]}: a recorded change (of row {have[0]}) has no registry entry of the log "
                "behind it (added outside zhunru)")
    columns = ", ".join(("code", *COMMUNITY))
    for row in _stream(conn, f"SELECT {columns} FROM zhunru_community", mappings=True):
        want = state.pop(row["code"], None)
        if want is None:
            return (f"community {row['code']}: in the registry, but no registry entry of the log adds it "
                    f"(added outside zhunru; {REBUILD_HINT})")
        for k in COMMUNITY:
            if row[k] != want[k]:
                return (f"community {row['code']}: {k} is {row[k]!r} in the registry, {want[k]!r} in the log "
                        f"(changed outside zhunru; {REBUILD_HINT})")
    if state:
        return (f"community {min(state)}: in the log's registry entries, missing from the registry "
                f"(deleted outside zhunru; {REBUILD_HINT})")
    return None


def _stream(conn, sql: str, mappings: bool = False):
    """A query's rows a batch at a time (a server-side cursor on PostgreSQL): memory stays flat."""
    result = conn.execution_options(stream_results=True, yield_per=2000).execute(text(sql))
    return result.mappings() if mappings else result


def _grouped(rows) -> Iterator[tuple[int, list]]:
    current, group = None, []
    for row in rows:
        if row[0] != current and group:
            yield current, group
            group = []
        current = row[0]
        group.append(tuple(row[1:]))
    if group:
        yield current, group


def rebuild_registry(conn) -> int | None:
    """Write the registry's communities and its recorded changes (those the chain recorded)
    again from the chain's entries; the number of communities, None when the chain records no
    registry. Runs in the caller's transaction, under the writers' lock."""
    if not has_entries(conn, REGISTRY):
        return None
    state: dict[str, dict] = {}
    changes = []
    for seq, payload in _entries(conn, REGISTRY):
        apply(state, payload, seq)
        if payload.get("action") != "baseline":
            changes.extend((*row, seq) for row in change_rows(payload))
    conn.execute(text("DELETE FROM zhunru_community"))
    columns = ("code", *COMMUNITY)
    rows = [{"code": code, **values} for code, values in sorted(state.items())]
    if rows:
        conn.execute(text(f"INSERT INTO zhunru_community ({', '.join(columns)}) VALUES "
                          f"({', '.join(':' + c for c in columns)})"), rows)
    conn.execute(text("DELETE FROM zhunru_community_change WHERE entry_seq IS NOT NULL"))
    if changes:
        names = (*CHANGE, "entry_seq")
        conn.execute(text(f"INSERT INTO zhunru_community_change ({', '.join(names)}) VALUES "
                          f"({', '.join(':' + c for c in names)})"), [dict(zip(names, c)) for c in changes])
    return len(rows)


# -- funding allocations -----------------------------------------------------------------------
def allocation_entry(allocation: dict, actor) -> dict:
    """The entry of one recorded allocation (ALLOCATED fields, its id included)."""
    payload = {"action": "record", "by": actor_name(actor), "actor": actor_record(actor),
               "allocation": {k: allocation[k] for k in ALLOCATED}}
    return entry(ALLOCATION, f"allocation:{allocation['community_code']}", "recorded", payload)


def allocation_baseline(allocations: list[dict]) -> dict:
    payload = {"action": "baseline", "at": _now(), "allocations": allocations}
    return entry(ALLOCATION, f"allocation:baseline of {len(allocations)}", "baseline", payload)


def allocation_state(conn) -> dict[int, dict]:
    state: dict[int, dict] = {}
    for _seq, payload in _entries(conn, ALLOCATION):
        for a in payload["allocations"] if payload.get("action") == "baseline" else [payload["allocation"]]:
            state[a["id"]] = {k: a.get(k) for k in ALLOCATED}
    return state


def verify_allocations(conn) -> str | None:
    """The allocations table holds exactly the allocations the chain recorded, as recorded."""
    if not has_entries(conn, ALLOCATION):
        return None
    try:
        state = allocation_state(conn)
    except (KeyError, TypeError, AttributeError):
        return "an allocation entry zhunru did not write"
    if "zhunru_allocation" not in set(inspect(conn).get_table_names()):
        return f"the allocations table is missing, but the log records allocations ({REBUILD_HINT})"
    for row in _stream(conn, f"SELECT {', '.join(ALLOCATED)} FROM zhunru_allocation", mappings=True):
        want = state.pop(row["id"], None)
        label = f"allocation #{row['id']} ({row['community_code']})"
        if want is None:
            return f"{label}: in the allocations, but the log never recorded it (added outside zhunru; {REBUILD_HINT})"
        for k in ALLOCATED:
            if row[k] != want[k]:
                return f"{label}: {k} is {row[k]!r}, the log recorded {want[k]!r} (changed outside zhunru; {REBUILD_HINT})"
    if state:
        a = state[min(state)]
        return (f"allocation #{a['id']} ({a['community_code']}, {a['year']} {a['level']} {a['fund']} {a['amount']}): "
                f"recorded in the log, missing from the allocations (deleted outside zhunru; {REBUILD_HINT})")
    return None


def rebuild_allocations(conn) -> int | None:
    if not has_entries(conn, ALLOCATION):
        return None
    state = allocation_state(conn)
    conn.execute(text("DELETE FROM zhunru_allocation"))
    rows = [state[k] for k in sorted(state)]
    if rows:
        conn.execute(text(f"INSERT INTO zhunru_allocation ({', '.join(ALLOCATED)}) VALUES "
                          f"({', '.join(':' + c for c in ALLOCATED)})"), rows)
    return len(rows)


def verify(conn) -> str | None:
    return verify_registry(conn) or verify_allocations(conn)
