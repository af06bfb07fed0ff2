"""The decision log: append-only, one SHA-256 hash chain over every entry (sqlmodel).

An entry is a decision, or a later act on one (approval, refusal). Each row stores the previous
row's hash; the row hash covers its sequence number, its content and its funding attachments,
so `verify` detects a changed byte, a deleted row and reordered rows. An entry and its
attachments are written in one transaction or not at all. Writers serialise on a lock (SQLite:
BEGIN IMMEDIATE; PostgreSQL: a transaction-level advisory lock) so concurrent processes keep one
chain. Decisions are idempotent by request id: logging a request already logged returns the
logged decision instead of writing a second one.

Only commands that need the database import this module (it pulls in SQLAlchemy).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from sqlalchemy import bindparam, event, func, text
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlmodel import Field, Session, SQLModel, create_engine, select

from zhunru.errors import InputError

GENESIS = "0" * 64
ADVISORY_LOCK = 0x7A68756E7275  # "zhunru"


class LogEntry(SQLModel, table=True):
    __tablename__ = "zhunru_log"
    seq: int = Field(primary_key=True)
    entry_id: str = Field(index=True, unique=True, max_length=64)
    entry_type: str = Field(max_length=32)  # decision | approval | refusal
    request_id: str = Field(index=True, max_length=128)
    decision_key: str | None = Field(default=None, unique=True, max_length=128)  # request id of a decision
    refers_to: str | None = Field(default=None, index=True, max_length=64)  # decision an act is about
    act_key: str | None = Field(default=None, unique=True, max_length=128)  # one approval/refusal per decision
    created_at: str = Field(max_length=40)
    city: str = Field(max_length=64)
    ruleset: str = Field(max_length=128)
    ruleset_sha256: str = Field(max_length=64)
    outcome: str = Field(max_length=32)
    request_json: str
    payload_json: str
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class Head(SQLModel, table=True):
    """The chain's last row (seq and hash), written in the same transaction as the rows: a
    hash chain alone cannot show that rows were cut off its end."""

    __tablename__ = "zhunru_head"
    id: int = Field(default=1, primary_key=True)
    seq: int
    hash: str = Field(max_length=64)


class Attachment(SQLModel, table=True):
    __tablename__ = "zhunru_attachment"
    id: int | None = Field(default=None, primary_key=True)
    entry_seq: int = Field(foreign_key="zhunru_log.seq", index=True)
    position: int
    amount: str = Field(max_length=40)  # a Decimal as text: exact
    source: str = Field(max_length=200)
    document: str | None = Field(default=None, max_length=200)
    kind: str | None = Field(default=None, max_length=40)
    path: str | None = None
    size: int | None = None
    sha256: str | None = Field(default=None, max_length=64)


ENTRY_FIELDS = ("seq", "entry_id", "entry_type", "request_id", "decision_key", "refers_to", "act_key",
                "created_at", "city", "ruleset", "ruleset_sha256", "outcome", "request_json", "payload_json",
                "prev_hash")
ATTACHMENT_FIELDS = ("position", "amount", "source", "document", "kind", "path", "size", "sha256")


def row_hash(entry: dict, attachments: list[dict]) -> str:
    body = {k: entry.get(k) for k in ENTRY_FIELDS}
    body["attachments"] = [{k: a.get(k) for k in ATTACHMENT_FIELDS} for a in attachments]
    return hashlib.sha256(json.dumps(body, ensure_ascii=False, sort_keys=True,
                                     separators=(",", ":")).encode()).hexdigest()


def file_attachment(path: str, amount: Decimal, source: str, document: str | None = None) -> dict:
    """An attachment record for a file given with --attach: its path, size and sha256."""
    p = Path(path)
    try:
        digest = hashlib.sha256()
        with p.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        size = p.stat().st_size
    except OSError as exc:
        raise InputError(f"--attach: cannot read {path} ({exc.strerror})") from None
    return {"amount": str(amount), "source": source, "document": document, "kind": "file",
            "path": str(p.resolve()), "size": size, "sha256": digest.hexdigest()}


def default_url() -> str:
    url = os.environ.get("ZHUNRU_DB")
    if url:
        return url
    import platformdirs

    folder = Path(platformdirs.user_data_dir("zhunru", appauthor=False))
    return f"sqlite:///{folder / 'log.sqlite'}"


def normalise_url(url: str) -> str:
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if "://" not in url:  # a plain file path
        return f"sqlite:///{Path(url).expanduser().resolve()}"
    return url


@dataclass
class Record:
    """One entry to append: its fields, and its attachments."""

    entry: dict
    attachments: list[dict] = field(default_factory=list)


class LogError(InputError):
    """The log cannot be written or read (read-only, disk full, unreachable server)."""

    exit_code = 4


class DecisionLog:
    def __init__(self, url: str | None = None):
        self.url = normalise_url(url or default_url())
        self.is_sqlite = self.url.startswith("sqlite")
        if self.is_sqlite:
            path = self.url.split(":///", 1)[1] if ":///" in self.url else ""
            path = path.removeprefix("file:").split("?", 1)[0]  # a URI such as file:x.sqlite?mode=ro
            if path and path != ":memory:":
                try:
                    Path(path).parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise LogError(f"--db: cannot create {Path(path).parent} ({exc.strerror})") from None
            self.engine = create_engine(self.url, connect_args={"timeout": 60, "isolation_level": None})

            @event.listens_for(self.engine, "connect")
            def _pragma(dbapi_conn, _record):
                dbapi_conn.execute("PRAGMA busy_timeout=60000")
                dbapi_conn.execute("PRAGMA foreign_keys=ON")
                dbapi_conn.execute("PRAGMA journal_mode=WAL")

            @event.listens_for(self.engine, "begin")
            def _begin(conn):  # take the write lock up front: one chain, no lost updates
                conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            self.engine = create_engine(self.url, pool_pre_ping=True)
        try:
            with self.engine.begin() as conn:
                if not self.is_sqlite:  # concurrent first runs would race to CREATE TABLE
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ADVISORY_LOCK})
                SQLModel.metadata.create_all(conn)
        except OperationalError as exc:
            raise LogError(f"--db: cannot open the log at {self.display_url} ({_short(exc)})") from None

    @property
    def display_url(self) -> str:
        return self.url.replace("postgresql+psycopg://", "postgresql://")

    def close(self) -> None:
        self.engine.dispose()

    # -- writing ---------------------------------------------------------------------------
    def append(self, records: Iterable[Record]) -> list[dict]:
        """Append records in one transaction. A decision whose request id is already logged is
        not written again; its logged entry is returned in its place.

        Rows go in with bulk Core inserts and the already-logged keys are looked up once per
        call, not per row: per-row ORM objects and queries cost ten times the I/O itself."""
        records = list(records)
        out: list[dict] = []
        try:
            with Session(self.engine) as session, session.begin():
                if not self.is_sqlite:
                    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ADVISORY_LOCK})
                last = session.exec(select(LogEntry.seq, LogEntry.hash).order_by(LogEntry.seq.desc()).limit(1)).first()
                seq, prev = (last[0], last[1]) if last else (0, GENESIS)
                existing = self._existing(session, records)
                rows: list[dict] = []
                att_rows: list[dict] = []
                for record in records:
                    entry = dict(record.entry)
                    key = _key(entry)
                    if key is not None and key in existing:
                        out.append(dict(existing[key], existing=True))
                        continue
                    seq += 1
                    entry.update(seq=seq, prev_hash=prev)
                    attachments = [dict(a, position=i) for i, a in enumerate(record.attachments)]
                    entry["hash"] = prev = row_hash(entry, attachments)
                    rows.append({k: entry.get(k) for k in (*ENTRY_FIELDS, "hash")})
                    att_rows.extend({k: a.get(k) for k in ATTACHMENT_FIELDS} | {"entry_seq": seq}
                                    for a in attachments)
                    out.append(entry)
                    if key is not None:  # the same request twice in one run: log it once
                        existing[key] = entry
                self._insert(session, LogEntry.__table__, rows)
                self._insert(session, Attachment.__table__, att_rows)
                if rows:
                    head = Head.__table__
                    moved = session.execute(head.update().where(head.c.id == 1).values(seq=seq, hash=prev))
                    if moved.rowcount == 0:
                        session.execute(head.insert().values(id=1, seq=seq, hash=prev))
        except SQLAlchemyError as exc:
            raise LogError(f"--db: could not write the log at {self.display_url} ({_short(exc)}); "
                           "nothing was written") from None
        return out

    def _insert(self, session: Session, table, rows: list[dict]) -> None:
        if not rows:
            return
        if not self.is_sqlite:
            session.execute(table.insert(), rows)
            return
        # SQLite: the driver's executemany directly; SQLAlchemy's per-row parameter processing
        # would cost as much as the insert itself.
        columns = list(rows[0])
        sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        session.connection().exec_driver_sql(sql, [tuple(row[c] for c in columns) for row in rows])

    def _existing(self, session: Session, records: list[Record]) -> dict[tuple[str, str], dict]:
        """Already-logged entries for the records' idempotency keys, by (column, key)."""
        found: dict[tuple[str, str], dict] = {}
        for column in ("decision_key", "act_key"):
            keys = sorted({r.entry[column] for r in records if r.entry.get(column)})
            # One cached statement with an expanding parameter: a literal IN list of 500 keys
            # would be compiled anew for every chunk (as costly as the chunk's inserts).
            query = select(LogEntry).where(getattr(LogEntry, column).in_(bindparam("keys", expanding=True)))
            for start in range(0, len(keys), 500):
                for row in session.exec(query, params={"keys": keys[start:start + 500]}):
                    found[(column, getattr(row, column))] = row.model_dump()
        return found

    # -- reading ---------------------------------------------------------------------------
    def entries(self, limit: int | None = None, newest_first: bool = True, **where) -> list[LogEntry]:
        with Session(self.engine) as session:
            query = select(LogEntry)
            for key, value in where.items():
                if value is not None:
                    query = query.where(getattr(LogEntry, key) == value)
            query = query.order_by(LogEntry.seq.desc() if newest_first else LogEntry.seq)
            if limit:
                query = query.limit(limit)
            return list(session.exec(query).all())

    def admitted_matters(self, kinds: set[str]) -> dict[tuple[str, str, str], set[str]]:
        """(city, kind, community code or name) → matters in effect for it (log.matters.in_effect:
        admitted by an in-force ruleset, or approved). Read once per run for the kinds a ruleset caps."""
        from zhunru.decide.evaluate import community_key
        from zhunru.log.matters import in_effect
        from zhunru.models import Request

        found: dict[tuple[str, str, str], set[str]] = {}
        with Session(self.engine) as session:
            acts = {refers_to: act for refers_to, act in session.exec(select(LogEntry.refers_to, LogEntry.entry_type)
                                                                       .where(LogEntry.entry_type.in_(("approval", "refusal"))))}
            query = select(LogEntry.entry_id, LogEntry.outcome, LogEntry.request_json, LogEntry.payload_json).where(
                LogEntry.entry_type == "decision", LogEntry.outcome.in_(("admitted", "needs_approval")))
            for entry_id, outcome, request_json, payload_json in session.exec(query):
                if outcome != "admitted" and acts.get(entry_id) != "approval":
                    continue
                data = json.loads(request_json)
                if data.get("kind") not in kinds:
                    continue
                payload = json.loads(payload_json)
                if not in_effect(outcome, bool(payload.get("advisory")), acts.get(entry_id)):
                    continue
                request = Request.model_validate(data)
                matter = payload["matter"]
                for c in request.communities:
                    key = (request.city, request.kind, community_key(c))
                    found.setdefault(key, set()).add(matter.get("code") or matter["name"])
        return found

    def find(self, ident: str) -> LogEntry | None:
        """An entry by entry id, request id (its decision) or sequence number."""
        with Session(self.engine) as session:
            for column in (LogEntry.entry_id, LogEntry.decision_key):
                found = session.exec(select(LogEntry).where(column == ident)).first()
                if found:
                    return found
            if ident.isdigit():
                return session.get(LogEntry, int(ident))
        return None

    def act_on(self, decision_id: str) -> LogEntry | None:
        """The district body's act (approval or refusal) on a decision, if any."""
        with Session(self.engine) as session:
            return session.exec(select(LogEntry).where(LogEntry.act_key == decision_id)).first()

    def attachments(self, seq: int) -> list[Attachment]:
        with Session(self.engine) as session:
            return list(session.exec(select(Attachment).where(Attachment.entry_seq == seq)
                                     .order_by(Attachment.position)).all())

    def count(self) -> int:
        with Session(self.engine) as session:
            return session.exec(select(func.count()).select_from(LogEntry)).one()

    def verify(self) -> tuple[int, str | None]:
        """(rows checked, first problem or None)."""
        checked, prev, expected_seq = 0, GENESIS, 1
        with Session(self.engine) as session:
            atts: dict[int, list[dict]] = {}
            for att in session.exec(select(Attachment).order_by(Attachment.entry_seq, Attachment.position)):
                atts.setdefault(att.entry_seq, []).append(att.model_dump())
            for row in _stream(session):
                data = row.model_dump()
                label = f"row {row.seq} ({row.entry_type} {row.entry_id})"
                if row.seq != expected_seq:
                    return checked, f"{label}: expected row {expected_seq} here (a row was deleted or reordered)"
                if row.prev_hash != prev:
                    return checked, f"{label}: previous-hash link broken (a row before it was changed, deleted or reordered)"
                if _rehash(data, atts.get(row.seq, [])) != row.hash:
                    return checked, f"{label}: content does not match its hash (the row or its attachments were changed)"
                prev, expected_seq, checked = row.hash, expected_seq + 1, checked + 1
            head = session.get(Head, 1)
        recorded = (head.seq, head.hash) if head else (0, GENESIS)
        if recorded != (checked, prev):
            return checked, (f"the log ends at row {checked} but its head record says row {head.seq if head else 0}"
                             " (rows were cut off the end, or the head was changed)")
        return checked, None


def _rehash(entry: dict, attachments: list[dict]) -> str | None:
    """The hash of a stored row; None when a value is no longer what zhunru writes (text,
    numbers): a tampered row must be reported, not crash verify."""
    try:
        return row_hash(entry, attachments)
    except (TypeError, ValueError):
        return None


def _key(entry: dict) -> tuple[str, str] | None:
    for column in ("decision_key", "act_key"):
        if entry.get(column):
            return column, entry[column]
    return None


def _stream(session: Session) -> Iterator[LogEntry]:
    yield from session.exec(select(LogEntry).order_by(LogEntry.seq).execution_options(yield_per=2000))


def _short(exc: Exception) -> str:
    text_ = str(getattr(exc, "orig", exc)).strip().splitlines()
    return text_[0][:200] if text_ else exc.__class__.__name__


def act_record(decision_entry: LogEntry, act: str, by: str, note: str | None) -> Record:
    """The log record of the district body's act on a decision (approval or refusal). The
    original decision is never changed; `act_key` makes a second act on it impossible."""
    if act not in ("approval", "refusal"):
        raise ValueError(act)
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")
    payload = {"act": act, "by": by, "note": note, "decision_id": decision_entry.entry_id,
               "request_id": decision_entry.request_id, "at": now}
    entry = {
        "entry_id": hashlib.sha256(f"{act}:{decision_entry.entry_id}:{now}".encode()).hexdigest()[:32],
        "entry_type": act, "request_id": decision_entry.request_id, "decision_key": None,
        "refers_to": decision_entry.entry_id, "act_key": decision_entry.entry_id, "created_at": now,
        "city": decision_entry.city, "ruleset": decision_entry.ruleset, "ruleset_sha256": decision_entry.ruleset_sha256,
        "outcome": "admitted" if act == "approval" else "rejected",
        "request_json": decision_entry.request_json, "payload_json": json.dumps(payload, ensure_ascii=False),
    }
    return Record(entry)


def decision_record(request, decision, attachments: list[dict] | None = None) -> Record:
    """The log record of a decision: the request, the decision and the funding attachments."""
    atts = list(attachments or [])
    if request.funding is not None:
        atts.insert(0, {"amount": str(request.funding.amount), "source": request.funding.source,
                        "document": request.funding.document, "kind": request.funding.kind,
                        "path": None, "size": None, "sha256": None})
    entry = {
        "entry_id": decision.decision_id, "entry_type": "decision", "request_id": decision.request_id,
        "decision_key": decision.request_id, "refers_to": None, "act_key": None,
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds"),
        "city": decision.ruleset.id, "ruleset": f"{decision.ruleset.id}@{decision.ruleset.version}",
        "ruleset_sha256": decision.ruleset.sha256, "outcome": decision.outcome,
        "request_json": request.model_dump_json(), "payload_json": decision.to_json(),
    }
    return Record(entry, atts)
