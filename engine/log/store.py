"""The decision log: append-only, one SHA-256 hash chain over every entry (sqlmodel).

An entry is a decision, or a later act on one (approval, refusal, withdrawal, a request to
withdraw), or a change of what decisions rest on: the community registry and the funding
allocations (`registry_change`, `funding_allocation`: beside.py, written with their tables by
`append_beside`). Each row stores the previous row's hash; the row hash covers its sequence
number, its content and its funding attachments, so `verify` detects a changed byte, a deleted
row and reordered rows. The ruleset a decision rests on is part of its content: the row's
`ruleset` (id@version) and `ruleset_sha256` (of the version's file) are hashed with it, so the
version a decision was made under is in the chain and cannot be changed without breaking it;
`log replay` compares that sha256 with the file loaded now. An entry and its
attachments are written in one transaction or not at all. Writers serialise on a lock (SQLite:
BEGIN IMMEDIATE; PostgreSQL: a transaction-level advisory lock) so concurrent processes keep one
chain. Decisions are idempotent by request id: logging a request already logged returns the
logged decision instead of writing a second one.

A row's content hash is taken over its stored values before the lock (format 2, `content_digest`);
under the lock only the sequence number and the chain hash are assigned. Appends from many
threads are committed together (group commit, `append`) through one driver connection
(writer.py). The rows of what each community carries (targets.py) are written in the same
transaction, and a cap is checked there. Readers take no write lock and stream. `verify` also
checks the target rows, the registry and the allocations against the chain; `rebuild_targets`
and `rebuild_beside` write them again from it.

Only commands that need the database import this module (it pulls in SQLAlchemy).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Index, event, func, text
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlmodel import Field, Session, SQLModel, create_engine, select

from zhunru.errors import CheckFailed, InputError
from zhunru.log import checkpoint as checkpoints
from zhunru.log import targets
from zhunru.log.checkpoint import SKEW, Checkpoint, CheckpointRow
from zhunru.log.lookups import PointReader
from zhunru.log.targets import Carried, Target
from zhunru.log.writer import GENESIS, Writer

ADVISORY_LOCK = 0x7A68756E7275  # "zhunru"
GATHER_SECONDS = 0.004  # the longest a group waits for more writers (see _lead)
MAX_ROUNDS = 16  # groups one caller commits before it hands the committer's role on
BESIDE_WHERE = "entry_type IN ('registry_change', 'funding_allocation')"  # beside.TYPES
FORMAT = 2  # rows written now: hashed as stored bytes (content_digest); 1 / NULL: row_hash of sorted JSON


class LogEntry(SQLModel, table=True):
    __tablename__ = "zhunru_log"
    __table_args__ = (
        # what awaits the district body: a small partial index, not one over every row
        Index("ix_zhunru_log_pending", "seq", sqlite_where=text("outcome = 'needs_approval' AND entry_type = 'decision'"),
              postgresql_where=text("outcome = 'needs_approval' AND entry_type = 'decision'")),
        # the few entries of the registry and the allocations (beside.py), found without a scan
        Index("ix_zhunru_log_beside", "entry_type", "seq", sqlite_where=text(BESIDE_WHERE),
              postgresql_where=text(BESIDE_WHERE)),
    )
    seq: int = Field(primary_key=True)
    entry_id: str = Field(index=True, unique=True, max_length=64)
    # decision | approval | refusal | withdrawal | withdrawal_request | registry_change | funding_allocation
    entry_type: str = Field(max_length=32)
    request_id: str = Field(max_length=128)
    decision_key: str | None = Field(default=None, unique=True, max_length=128)  # request id of a decision
    refers_to: str | None = Field(default=None, max_length=64)  # decision an act is about
    act_key: str | None = Field(default=None, unique=True, max_length=128)  # one approval/refusal per decision
    created_at: str = Field(max_length=40)
    city: str = Field(max_length=64)
    ruleset: str = Field(max_length=128)
    ruleset_sha256: str = Field(max_length=64)
    outcome: str = Field(max_length=32)
    kind: str | None = Field(default=None, max_length=32)
    request_date: str | None = Field(default=None, max_length=10)
    department: str | None = Field(default=None, max_length=200)
    matter: str | None = Field(default=None, max_length=200)  # catalogue code, else name
    request_json: str
    payload_json: str
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
    fmt: int | None = None


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


TABLES = [LogEntry.__table__, Head.__table__, Attachment.__table__, Target.__table__, Carried.__table__,
          CheckpointRow.__table__]
# Format 1 rows (before the derived columns): their hash covers these, as sorted-key JSON.
ENTRY_FIELDS = ("seq", "entry_id", "entry_type", "request_id", "decision_key", "refers_to", "act_key",
                "created_at", "city", "ruleset", "ruleset_sha256", "outcome", "request_json", "payload_json",
                "prev_hash")
# Format 2: the content digest covers these stored values, in this order; the chain hash covers
# the sequence number, the previous hash and the digest.
HASHED_FIELDS = ("entry_id", "entry_type", "request_id", "decision_key", "refers_to", "act_key", "created_at",
                 "city", "ruleset", "ruleset_sha256", "outcome", "kind", "request_date", "department", "matter",
                 "request_json", "payload_json")
ATTACHMENT_FIELDS = ("position", "amount", "source", "document", "kind", "path", "size", "sha256")
STORED_FIELDS = ("seq", *HASHED_FIELDS, "prev_hash", "hash", "fmt")
DERIVED_FIELDS = ("kind", "request_date", "department", "matter")


def row_hash(entry: dict, attachments: list[dict]) -> str:
    """Format 1: the SHA-256 of the row's fields as sorted-key JSON (rows written before format 2)."""
    body = {k: entry.get(k) for k in ENTRY_FIELDS}
    body["attachments"] = [{k: a.get(k) for k in ATTACHMENT_FIELDS} for a in attachments]
    return hashlib.sha256(json.dumps(body, ensure_ascii=False, sort_keys=True,
                                     separators=(",", ":")).encode()).hexdigest()


def _field_bytes(value) -> bytes:
    if value is None:
        return b"N"
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError(f"a stored value is {type(value).__name__}")
    data = (value if isinstance(value, str) else str(value)).encode()
    return b"S" + len(data).to_bytes(8, "big") + data


def content_digest(entry: dict, attachments: list[dict]) -> bytes:
    """Format 2: the SHA-256 of the stored values themselves, each length-prefixed (no JSON
    re-encoding). Computed before the writers' lock; only `chain_hash` runs under it."""
    digest = hashlib.sha256(b"zhunru-row-2")
    for k in HASHED_FIELDS:
        digest.update(_field_bytes(entry.get(k)))
    digest.update(len(attachments).to_bytes(4, "big"))
    for a in attachments:
        for k in ATTACHMENT_FIELDS:
            digest.update(_field_bytes(a.get(k)))
    return digest.digest()


def chain_hash(seq: int, prev: str, digest: bytes) -> str:
    return hashlib.sha256(b"%d:%s:" % (seq, prev.encode()) + digest).hexdigest()


def file_attachment(path: str, amount: Decimal, source: str, document: str | None = None) -> dict:
    """An attachment record for a file given with --attach: its path, size and sha256."""
    from zhunru.safe_io import digest_regular

    p = Path(path)
    size, digest = digest_regular(p, MAX_ATTACHMENT, "--attach")  # a FIFO or /dev/zero is refused, not read
    return {"amount": str(amount), "source": source, "document": document, "kind": "file",
            "path": str(p.resolve()), "size": size, "sha256": digest}


MAX_ATTACHMENT = 512 * 1024 * 1024  # the funding document's file: hashed, not stored


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
    scheme = url.split("://", 1)[0]
    if scheme not in ("sqlite", "postgresql+psycopg"):
        raise InputError(f"--db: {scheme!r} is not supported (sqlite:///PATH, a file path, or postgresql://…)")
    return url


@dataclass
class Record:
    """One entry to append: its fields, its attachments, and what it does to the target rows
    (targets.py): a decision adds `targets`; an act sets its decision's rows to `act_state`.
    `cap` is set on an admission of a capped kind: the number of matters of that kind a target
    community may carry, checked again inside the writers' transaction."""

    entry: dict
    attachments: list[dict] = field(default_factory=list)
    targets: list[dict] = field(default_factory=list)
    act_state: str | None = None
    cap: int | None = None


class LogError(InputError):
    """The log cannot be written or read (read-only, disk full, unreachable server)."""

    exit_code = 4


class LogFileLost(LogError):
    """The SQLite file was deleted or replaced while this process wrote to it: what it wrote
    went to the old file (gone with it), not to the file now at the path."""


class CapConflict(Exception):
    """Another writer admitted to a community first: the admission would pass the cap. Nothing
    of the append was written; decide again against the new standing state."""

    def __init__(self, request_id: str, community: str):
        super().__init__(f"request {request_id}: community {community} reached its cap meanwhile")
        self.request_id, self.community = request_id, community


def _sqlite_engine(url: str, write: bool):
    engine = create_engine(url, connect_args={"timeout": 60, "isolation_level": None, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragma(dbapi_conn, _record):
        dbapi_conn.execute("PRAGMA busy_timeout=60000")
        dbapi_conn.execute("PRAGMA foreign_keys=ON")
        dbapi_conn.execute("PRAGMA journal_mode=WAL")

    @event.listens_for(engine, "begin")
    def _begin(conn):  # writers take the write lock up front: one chain, no lost updates
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


@dataclass
class _Job:
    records: list[Record]
    digests: list[bytes]
    result: list[dict] | None = None
    error: BaseException | None = None
    done: bool = False
    lead: bool = False  # handed the committer's role before its own records were written
    event: threading.Event = field(default_factory=threading.Event)  # set when done, or when handed the role


class DecisionLog:
    """The log at `url`. Thread-safe: appends from many threads are committed together (group
    commit: whoever finds no commit under way takes every waiting append into one transaction)."""

    def __init__(self, url: str | None = None, read_only: bool = False):
        """`read_only`: for commands that only read (list, show, verify, queue, notice, publish,
        report): a SQLite path whose folder does not exist is an error (a mistyped --db makes no
        folders and no empty log), and a log on a read-only file or medium can still be read."""
        self.url = normalise_url(url or default_url())
        self.is_sqlite = self.url.startswith("sqlite")
        if self.is_sqlite:
            path = self.url.split(":///", 1)[1] if ":///" in self.url else ""
            path = path.removeprefix("file:").split("?", 1)[0]  # a URI such as file:x.sqlite?mode=ro
            if read_only and path and path != ":memory:" and not Path(path).parent.is_dir():
                raise InputError(f"--db: no log at {path}: its folder {Path(path).parent} does not exist "
                                 "(check the path)")
            if path and path != ":memory:" and not read_only:
                try:
                    Path(path).parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise LogError(f"--db: cannot create {Path(path).parent} ({exc.strerror})") from None
            self.engine = _sqlite_engine(self.url, write=True)
            # Readers take no write lock (WAL: they see the last commit, writers go on).
            self.reader = _sqlite_engine(self.url, write=False)
        else:
            self.engine = self.reader = create_engine(self.url, pool_pre_ping=True)
        self._points = PointReader(self.reader)
        self._mutex = threading.Lock()
        self._arrived = threading.Condition(self._mutex)  # notified at every append
        self._gap = 0.0  # the usual time between appends while a group forms (moving average, s)
        self._last_arrival = 0.0
        self._waiting: list[_Job] = []
        self._committing = False
        self._last_group = 1
        self._writer = Writer(self.engine, self.is_sqlite, ADVISORY_LOCK, STORED_FIELDS)
        self._file = None
        if read_only and self._readable():
            return  # nothing to create or upgrade: the reader is all it needs
        try:
            with self.engine.begin() as conn:
                self._lock(conn)  # concurrent first runs would race to CREATE TABLE
                upgrade = _needs_upgrade(conn)
                SQLModel.metadata.create_all(conn, tables=TABLES)
                if upgrade:
                    _upgrade(conn)
                _ensure_indexes(conn, self.is_sqlite)
                checkpoints.add_root_column(conn)  # checkpoints sign a Merkle root since version 2
        except OperationalError as exc:
            raise LogError(f"--db: cannot open the log at {self.display_url} ({_short(exc)})") from None
        self._file = self._identity()  # checked at every commit: a deleted or swapped file is noticed

    def _identity(self) -> tuple[str, int, int] | None:
        if not self.is_sqlite:
            return None
        path = self.url.split(":///", 1)[1].removeprefix("file:").split("?", 1)[0] if ":///" in self.url else ""
        if not path or path == ":memory:":
            return None
        try:
            found = os.stat(path)
        except OSError:
            return (path, -1, -1)
        return (path, found.st_dev, found.st_ino)

    def _check_file(self) -> None:
        if self._file is not None and self._identity() != self._file:
            raise LogFileLost(f"--db: the log file {self._file[0]} was deleted or replaced while this run wrote "
                              "to it; what this run logged went to the removed file and is not in the file now at "
                              "that path; nothing more was written")

    def _readable(self) -> bool:
        """Every table of the current format is there (so a reader needs no writes)."""
        from sqlalchemy import inspect

        try:
            with self.reader.connect() as conn:
                inspector = inspect(conn)
                return all(inspector.has_table(t.name) for t in TABLES) and not _needs_upgrade(conn)
        except SQLAlchemyError as exc:
            raise LogError(f"--db: cannot read the log at {self.display_url} ({_short(exc)})") from None

    @property
    def display_url(self) -> str:
        return self.url.replace("postgresql+psycopg://", "postgresql://")

    def close(self) -> None:
        with self._mutex:
            self._writer.close()
        self.engine.dispose()
        self.reader.dispose()

    def _lock(self, conn) -> None:
        """The writers' lock (SQLite takes it with BEGIN IMMEDIATE)."""
        if not self.is_sqlite:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ADVISORY_LOCK})

    # -- writing ---------------------------------------------------------------------------
    def append(self, records: Iterable[Record]) -> list[dict]:
        """Append records in one transaction, all or nothing. A decision whose request id is
        already logged is not written again; its logged entry is returned in its place.

        Raises CapConflict (nothing written) when an admission of a capped kind would pass the
        cap because another writer admitted first, and LogError when the database fails.
        Concurrent callers' appends are committed together; each caller's records stay
        together, in order, and fail or succeed on their own."""
        records = list(records)
        # Everything that needs no lock is done here: the content hash of each row.
        job = _Job(records, [content_digest(r.entry, _positioned(r.attachments)) for r in records])
        with self._mutex:
            now = time.perf_counter()
            if self._committing:  # a group is forming or committing: how far apart writers come
                self._gap += (min(now - self._last_arrival, GATHER_SECONDS) - self._gap) / 8
            self._last_arrival = now
            self._waiting.append(job)
            lead = not self._committing
            self._committing = True
            self._arrived.notify()
        if not lead:
            job.event.wait()  # until our records are written, or we are handed the committer's role
            lead = job.lead
        if lead:
            self._lead()
        if job.error is not None:
            raise job.error
        return job.result

    def _lead(self) -> None:
        """Commit what waits, group after group, until nothing does; after MAX_ROUNDS hand the
        role to the oldest waiting caller (whose records are then written first), so no caller
        serves the others for ever.

        Writers freed by a commit come back one by one, so the committer gathers before it
        commits, or the first would be committed alone and the rest behind it, each transaction
        paying its fixed cost (round trips, the lock, the commit's flush) for one writer. While
        fewer wait than the last group had it waits for them; once as many wait, it waits on
        only while writers keep coming, each within four of their usual gaps — so groups can
        grow, and a burst that is over is committed soon. GATHER_SECONDS bounds it all.
        A lone writer (a batch, the CLI) never waits: its last group was one.
        Measured on this VM (2 cores, PostgreSQL on loopback): service workers, whose requests
        reach the log a fraction of a millisecond apart (each decided in turn under the GIL),
        commit fewer, larger groups than with the fixed 4 × 0.2 ms wait before — 4 workers,
        logged evaluates: 1,220 → 1,590 a second, server CPU 1.19 → 0.93 ms a request — while
        threads that only append (benchmarks/appends.py), microseconds apart, keep their rate
        (16 writers: 6,891 a second; 4 × 1 ms sleeps instead had cost them a fifth)."""
        for _round in range(MAX_ROUNDS):
            with self._mutex:
                deadline = time.perf_counter() + GATHER_SECONDS
                while self._waiting:
                    left = deadline - time.perf_counter()
                    patience = left if len(self._waiting) < self._last_group else min(4 * self._gap, left)
                    if patience <= 0 or not self._arrived.wait(patience):
                        break  # the time is up, or no one came within it
                if not self._waiting:
                    self._committing = False
                    return
                group, self._waiting = self._waiting, []
                self._last_group = len(group)
            self._commit(group)
        with self._mutex:
            if not self._waiting:
                self._committing = False
                return
            successor = self._waiting[0]
        successor.lead = True
        successor.event.set()

    def _commit(self, group: list[_Job]) -> None:
        """One transaction for every job of the group; a job that would pass a cap is left out
        (CapConflict), the others are written. Runs in one thread at a time (see append)."""
        writer = self._writer
        try:
            self._check_file()
            records = [r for job in group for r in job.records]
            cur, (seq, prev), logged = writer.begin({column: sorted({r.entry[column] for r in records if r.entry.get(column)})
                                                     for column in ("decision_key", "act_key")})
            existing = {key: row for row in logged if (key := _key(row)) is not None}
            rows, att_rows, target_rows, acts = [], [], [], []
            carried: dict[tuple[str, str, str], set[str]] = {}  # what this group admits, for caps
            for job in group:
                mark = (seq, prev, len(rows), len(att_rows), len(target_rows), len(acts), dict(existing))
                try:
                    out, seq, prev = self._place(cur, job, seq, prev, existing, carried, rows, att_rows,
                                                 target_rows, acts)
                except CapConflict as exc:
                    seq, prev = mark[0], mark[1]
                    del rows[mark[2]:], att_rows[mark[3]:], target_rows[mark[4]:], acts[mark[5]:]
                    existing.clear()
                    existing.update(mark[6])
                    carried.clear()  # recounted from the rows kept
                    for t in target_rows:
                        if t["state"] == "in_effect":
                            carried.setdefault((t["city"], t["kind"], t["community"]), set()).add(t["matter"])
                    job.error = exc
                    continue
                job.result = out
            with writer.pipelined():
                writer.insert(cur, LogEntry.__table__, STORED_FIELDS, rows)
                writer.insert(cur, Attachment.__table__, (*ATTACHMENT_FIELDS, "entry_seq"), att_rows)
                writer.insert(cur, Target.__table__, targets.COLUMNS,
                              [tuple(t[c] for c in targets.COLUMNS) for t in target_rows])
                writer.insert(cur, Carried.__table__, targets.CARRIED_COLUMNS,
                              [(t["community"], t["kind"], t["city"], t["matter"], t["decision_seq"])
                               for t in target_rows if t["state"] == "in_effect"], or_ignore=True)
                for decision_id, state, act_seq in acts:
                    writer.act(cur, decision_id, state, act_seq)
                if rows:
                    writer.set_head(cur, seq, prev)
                writer.commit(cur)  # in the same round trip on PostgreSQL
            self._check_file()  # committed to a file someone removed meanwhile: say so, do not report success
        except BaseException as exc:  # noqa: BLE001 - every waiting caller must hear of it
            writer.rollback()
            if _is_db_error(exc):
                writer.discard()
                exc = LogError(f"--db: could not write the log at {self.display_url} ({_short(exc)}); "
                               "nothing of this part was written")
            for job in group:
                job.result, job.error = None, job.error or exc
        finally:
            for job in group:
                job.done = True
                job.event.set()

    def _place(self, cur, job: _Job, seq: int, prev: str, existing: dict, carried: dict,
               rows: list, att_rows: list, target_rows: list, acts: list) -> tuple[list[dict], int, str]:
        """Give one job's records their sequence numbers and chain hashes (under the lock)."""
        out = []
        for record, digest in zip(job.records, job.digests):
            entry = dict(record.entry)
            key = _key(entry)
            if key is not None and key in existing:
                out.append(dict(existing[key], existing=True))
                continue
            if record.cap is not None:
                self._check_cap(cur, record, carried)
            seq += 1
            entry.update(seq=seq, prev_hash=prev, fmt=FORMAT)
            entry["hash"] = prev = chain_hash(seq, prev, digest)
            rows.append(tuple(entry.get(k) for k in STORED_FIELDS))
            att_rows.extend(tuple(a.get(k) for k in ATTACHMENT_FIELDS) + (seq,) for a in _positioned(record.attachments))
            for t in record.targets:
                row = dict(t, decision_seq=seq)
                target_rows.append(row)
                if row["state"] == "in_effect":
                    carried.setdefault((row["city"], row["kind"], row["community"]), set()).add(row["matter"])
            if record.act_state is not None:
                acts.append((entry["refers_to"], record.act_state, seq))
            out.append(entry)
            if key is not None:  # the same request twice in one run: log it once
                existing[key] = entry
        return out, seq, prev

    def _check_cap(self, cur, record: Record, carried: dict) -> None:
        for t in record.targets:
            key = (t["city"], t["kind"], t["community"])
            matters = carried.get(key, set()) | self._writer.carried(cur, *key)
            if len(matters - {t["matter"]}) >= record.cap:
                raise CapConflict(record.entry["request_id"], t["community"])

    def append_beside(self, work):
        """Append entries together with changes to tables kept beside the chain (the registry,
        the allocations: beside.py), in one transaction under the writers' lock, so a change
        and its entry are both written or neither. `work(conn, seq)` makes its changes on
        `conn` and returns (result, entry dicts); its entries take rows seq, seq + 1, ….
        Returns (result, the entries as written). Database errors are the caller's to word."""
        self._check_file()
        with self.engine.begin() as conn:  # SQLite: BEGIN IMMEDIATE, the writers' lock
            self._lock(conn)
            head = conn.execute(select(Head.seq, Head.hash).where(Head.id == 1)).first()
            seq, prev = (head[0], head[1]) if head else (0, GENESIS)
            result, entries = work(conn, seq + 1)
            rows = []
            for fields in entries:
                seq += 1
                entry = dict(fields, seq=seq, prev_hash=prev, fmt=FORMAT)
                entry["hash"] = prev = chain_hash(seq, prev, content_digest(entry, []))
                rows.append({k: entry.get(k) for k in STORED_FIELDS})
            if rows:
                conn.execute(LogEntry.__table__.insert(), rows)
                conn.execute(text("INSERT INTO zhunru_head (id, seq, hash) VALUES (1, :s, :h) "
                                  "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash"),
                             {"s": seq, "h": prev})
        self._check_file()
        return result, rows

    def _insert(self, conn, table, columns, rows: list[tuple] | list[dict], or_ignore: bool = False) -> None:
        if not rows:
            return
        if isinstance(rows[0], dict):
            rows = [tuple(r[c] for c in columns) for r in rows]
        marks = ", ".join("?" if self.is_sqlite else "%s" for _ in columns)
        # The driver's executemany directly (prepared once; psycopg pipelines it): SQLAlchemy's
        # per-row parameter processing would cost as much as the insert itself.
        conn.exec_driver_sql(f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})"
                             + (" ON CONFLICT DO NOTHING" if or_ignore else ""), rows)

    def rebuild_targets(self) -> int:
        """Write the target rows again from the log (under the writers' lock); their count."""
        written = 0
        with self.engine.begin() as conn:
            self._lock(conn)
            conn.execute(Target.__table__.delete())
            batch: list[dict] = []
            for rows in _expected_targets(conn):
                batch.extend(rows)
                if len(batch) >= 2000:
                    self._insert(conn, Target.__table__, targets.COLUMNS, batch)
                    written += len(batch)
                    batch = []
            self._insert(conn, Target.__table__, targets.COLUMNS, batch)
            written += len(batch)
            _rebuild_carried(conn)
        return written

    def rebuild_beside(self) -> dict:
        """Write the registry and the allocations again from the chain's entries (under the
        writers' lock): {"registry": communities, "allocations": rows}, None for a table the
        chain does not record yet (left as it is)."""
        from zhunru.log import beside

        with self.engine.begin() as conn:
            self._lock(conn)
            return {"registry": beside.rebuild_registry(conn), "allocations": beside.rebuild_allocations(conn)}

    # -- reading ---------------------------------------------------------------------------
    def entries(self, limit: int | None = None, newest_first: bool = True, **where) -> list[LogEntry]:
        with Session(self.reader) as session:
            query = select(LogEntry)
            for key, value in where.items():
                if value is not None:
                    query = query.where(getattr(LogEntry, key) == value)
            query = query.order_by(LogEntry.seq.desc() if newest_first else LogEntry.seq)
            if limit:
                query = query.limit(limit)
            return list(session.exec(query).all())

    def carried(self, keys: Iterable[tuple[str, str, str]]) -> dict[tuple[str, str, str], set[str]]:
        """(city, kind, community) → the matters in effect for it (targets.STATES), for the
        given keys only: what the caps of one chunk of requests need, by index."""
        found: dict[tuple[str, str, str], set[str]] = {}
        wanted = set(keys)
        by_kind: dict[str, set[str]] = {}
        for _city, kind, community in wanted:
            by_kind.setdefault(kind, set()).add(community)
        # on the calling thread's own connection (lookups.py): a request of a capped kind asks
        # this before every decision, and a pool checkout with its ping cost more than the query
        for kind, communities in by_kind.items():
            names = sorted(communities)
            for city, community, matter in self._points.all(_CARRIED_MANY[self.is_sqlite],
                                                            (json.dumps(names) if self.is_sqlite else names, kind)):
                if (city, kind, community) in wanted:
                    found.setdefault((city, kind, community), set()).add(matter)
        return found

    def find(self, ident: str) -> LogEntry | None:
        """An entry by entry id, request id (its decision) or sequence number."""
        with Session(self.reader) as session:
            for column in (LogEntry.entry_id, LogEntry.decision_key):
                found = session.exec(select(LogEntry).where(column == ident)).first()
                if found:
                    return found
            if ident.isdigit() and len(ident) < 19:
                return session.get(LogEntry, int(ident))
        return None

    def act_on(self, decision_id: str) -> LogEntry | None:
        """The district body's act (approval or refusal) on a decision, if any."""
        with Session(self.reader) as session:
            return session.exec(select(LogEntry).where(LogEntry.act_key == decision_id)).first()

    def withdrawal_of(self, decision_id: str) -> LogEntry | None:
        """The withdrawal (撤销) of a decision that was in effect, if any."""
        with Session(self.reader) as session:
            return session.exec(select(LogEntry).where(LogEntry.act_key == targets.WITHDRAWAL_KEY + decision_id)).first()

    def attachments(self, seq: int) -> list[Attachment]:
        with Session(self.reader) as session:
            return list(session.exec(select(Attachment).where(Attachment.entry_seq == seq)
                                     .order_by(Attachment.position)).all())

    def count(self) -> int:
        with Session(self.reader) as session:
            return session.exec(select(func.count()).select_from(LogEntry)).one()

    def verify(self, since: Checkpoint | None = None) -> tuple[int, str | None]:
        """(rows checked, first problem or None). Streams the log, its attachments and its
        target rows side by side in sequence order: memory does not grow with the log.
        `since`: a checkpoint already verified — the rows up to it are taken as its head says
        (its row must still carry that hash) and only the rows after it are read."""
        checked, prev, expected_seq = 0, GENESIS, 1
        with self._snapshot() as conn:
            after = 0
            if since is not None and since.count:
                at = conn.execute(select(LogEntry.hash).where(LogEntry.seq == since.count)).first()
                if at is None or at[0] != since.head:
                    return 0, (f"row {since.count}: does not carry the hash of the checkpoint of {since.at} "
                               "(the log was rewritten, cut or wiped since)")
                after, checked, prev, expected_seq = since.count, since.count, since.head, since.count + 1
            atts = _grouped(_streamed(conn, select(Attachment.__table__).where(Attachment.entry_seq > after)
                                      .order_by(Attachment.entry_seq, Attachment.position)), "entry_seq")
            pending_atts = next(atts, None)
            for row in _streamed(conn, select(LogEntry.__table__).where(LogEntry.seq > after).order_by(LogEntry.seq)):
                label = f"row {row['seq']} ({row['entry_type']} {row['entry_id']})"
                if row["seq"] != expected_seq:
                    return checked, f"{label}: expected row {expected_seq} here (a row was deleted or reordered)"
                if row["prev_hash"] != prev:
                    return checked, f"{label}: previous-hash link broken (a row before it was changed, deleted or reordered)"
                mine: list[dict] = []
                if pending_atts is not None and pending_atts[0] < row["seq"]:
                    return checked, (f"row {pending_atts[0]}: an attachment belongs to no row "
                                     "(its row was deleted)")
                if pending_atts is not None and pending_atts[0] == row["seq"]:
                    mine = pending_atts[1]
                    pending_atts = next(atts, None)
                if _rehash(row, mine) != row["hash"]:
                    return checked, f"{label}: content does not match its hash (the row or its attachments were changed)"
                prev, expected_seq, checked = row["hash"], expected_seq + 1, checked + 1
            head = conn.execute(select(Head.seq, Head.hash).where(Head.id == 1)).first()
            recorded = (head[0], head[1]) if head else (0, GENESIS)
            if recorded != (checked, prev):
                return checked, (f"the log ends at row {checked} but its head record says row {recorded[0]}"
                                 " (rows were cut off the end, or the head was changed)")
            from zhunru.log import beside

            return checked, _verify_targets(conn, after) or _verify_carried(conn) or beside.verify(conn)

    # -- anchors outside the database (log/checkpoint.py) -----------------------------------------
    def checkpoint(self, key) -> Checkpoint:
        """Sign the log's current count, head and Merkle root (merkle.py) with `key`, store the
        checkpoint, return it. The root is taken over the rows of the same snapshot as the head."""
        from zhunru.log import merkle

        with self._snapshot() as conn:
            if not checkpoints.has_root_column(conn):
                raise LogError("--db: the log's checkpoint table has no root column yet (a log made before "
                               "zhunru-checkpoint/2): open it once as the tables' owner, e.g. zhunru log protect")
            head = conn.execute(select(Head.seq, Head.hash).where(Head.id == 1)).first()
            count, hash_ = (head[0], head[1]) if head else (0, GENESIS)
            try:
                root = merkle.root(row_hashes(conn, count)).hex()
            except ValueError as exc:
                raise CheckFailed(f"log: {exc}; no checkpoint signed (zhunru log verify)") from None
        signed = checkpoints.sign(key, count, hash_, root)
        with Session(self.engine) as session, session.begin():
            session.add(CheckpointRow(**{k: v for k, v in signed.as_dict().items() if k != "version"}))
        return signed

    def latest_checkpoint(self, key_hex: str | None = None, covering: int = 0,
                          with_root: bool = False) -> Checkpoint | None:
        """The last checkpoint stored here (signed by `key_hex`, when given) whose signature
        holds and that covers row `covering` (`with_root`: a version 2 one, with a Merkle root)."""
        table = CheckpointRow.__table__
        with self.reader.connect() as conn:
            has_root = checkpoints.has_root_column(conn)  # a log made before version 2 may lack it
            if with_root and not has_root:
                return None
            columns = [c for c in table.c if has_root or c.name != "root"]
            query = select(*columns).where(table.c.count >= covering)
            if key_hex is not None:
                query = query.where(table.c.key == key_hex)
            if with_root:
                query = query.where(table.c.root.is_not(None))
            rows = [dict(r) for r in conn.execute(query.order_by(table.c.count.desc(), table.c.id.desc())
                                                  .limit(20)).mappings()]
        for row in rows:
            found = checkpoints.from_row(row)
            try:
                found.check_signature()
            except InputError:
                continue  # a stored checkpoint someone changed: never start from it
            return found
        return None

    def extends(self, anchors: list[Checkpoint], trusted: set[str] | None = None) -> str | None:
        """The first way the log fails to extend one of `anchors`, or None: each signature holds
        (under a `trusted` key when given), the row at its count carries its head, and no row
        after it is dated before it nor any row up to it after it (back-dating)."""
        for cp in sorted(anchors, key=lambda c: c.count):
            cp.check_signature()
            if trusted is not None and cp.key not in trusted:
                return f"checkpoint at row {cp.count}: signed by key {cp.key[:16]}…, not a trusted key (--key)"
            with self._snapshot() as conn:
                if cp.count:
                    at = conn.execute(select(LogEntry.hash).where(LogEntry.seq == cp.count)).first()
                    if at is None:
                        last = conn.execute(select(func.max(LogEntry.seq))).scalar() or 0
                        return (f"checkpoint of {cp.at}: the log had {cp.count} rows then and has {last} now "
                                "(rows were cut off or wiped)")
                    if at[0] != cp.head:
                        return (f"checkpoint of {cp.at}: row {cp.count} no longer carries the hash it had "
                                "(a row up to it was rewritten)")
                floor = (cp.time - SKEW).isoformat()
                late = conn.execute(select(LogEntry.seq, LogEntry.created_at).where(LogEntry.seq > cp.count,
                                                                                   LogEntry.created_at < floor)
                                    .order_by(LogEntry.seq).limit(1)).first()
                if late:
                    return (f"row {late[0]}: dated {late[1][:19]}, before the checkpoint of {cp.at} that it "
                            "comes after (back-dated)")
                ceiling = (cp.time + SKEW).isoformat()
                early = conn.execute(select(LogEntry.seq, LogEntry.created_at).where(LogEntry.seq <= cp.count,
                                                                                    LogEntry.created_at > ceiling)
                                     .order_by(LogEntry.seq).limit(1)).first()
                if early:
                    return (f"row {early[0]}: dated {early[1][:19]}, after the checkpoint of {cp.at} that "
                            "covers it (the time was changed)")
        return None

    @contextmanager
    def _snapshot(self):
        """One connection that sees one state of the log throughout, while writers go on."""
        with self.reader.connect() as conn:
            if not self.is_sqlite:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn


def row_hashes(conn, last: int, page: int = 50000) -> Iterator[bytes]:
    """The stored hashes of rows 1..`last`, as bytes, in sequence order: the leaves of the Merkle
    tree (merkle.py). Reads only seq and hash, page by page (keyset) on the connection's own
    driver cursor (SQLAlchemy's rows would cost three times the hashing): memory stays bounded.
    ValueError naming the row where a row is missing or its hash is not 64 hex digits."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    query = f"SELECT seq, hash FROM zhunru_log WHERE seq > {mark} AND seq <= {mark} ORDER BY seq LIMIT {mark}"
    cursor = conn.connection.dbapi_connection.cursor()
    expected, fromhex = 1, bytes.fromhex
    try:
        while expected <= last:
            cursor.execute(query, (expected - 1, last, page))
            rows = cursor.fetchall()
            if not rows:
                break
            for seq, hash_ in rows:
                if seq != expected:
                    raise ValueError(f"row {expected} is missing")
                try:
                    if len(hash_) != 64:
                        raise ValueError
                    yield fromhex(hash_)
                except (ValueError, TypeError):
                    raise ValueError(f"row {seq}: its hash is not 64 hex digits") from None
                expected += 1
    finally:
        cursor.close()
    if expected <= last:
        raise ValueError(f"row {expected} is missing")


def _verify_targets(conn, after: int = 0) -> str | None:
    """The target rows agree with the log, decision by decision (`zhunru log rebuild` writes
    them again from the log)."""
    columns = [Target.__table__.c[c] for c in targets.COLUMNS]
    stored = _grouped(_streamed(conn, select(*columns).where(Target.decision_seq > after)
                                .order_by(Target.decision_seq, Target.position)), "decision_seq")
    have = next(stored, None)
    for expected in _expected_targets(conn, after):
        if not expected:
            continue
        seq = expected[0]["decision_seq"]
        if have is not None and have[0] < seq:
            return f"target rows of row {have[0]} have no decision behind them (zhunru log rebuild)"
        rows = have[1] if have is not None and have[0] == seq else []
        if [_target_tuple(r) for r in rows] != [_target_tuple(r) for r in expected]:
            return (f"row {seq}: the community rows kept for caps, publication and reports disagree "
                    "with the log (zhunru log rebuild writes them again)")
        if rows:
            have = next(stored, None)
    if have is not None:
        return f"target rows of row {have[0]} have no decision behind them (zhunru log rebuild)"
    return None


_CARRIED_MANY = {  # is_sqlite → the matters carried by a list of communities for one kind ({p}: lookups.py)
    True: "SELECT city, community, matter FROM zhunru_carried "
          "WHERE community IN (SELECT value FROM json_each({p})) AND kind = {p}",
    False: "SELECT city, community, matter FROM zhunru_carried WHERE community = ANY({p}::text[]) AND kind = {p}",
}
_CARRIED_FROM_TARGETS = ("SELECT community, kind, city, matter FROM zhunru_target WHERE state = 'in_effect' "
                         "GROUP BY community, kind, city, matter")


def _rebuild_carried(conn) -> None:
    conn.execute(Carried.__table__.delete())
    conn.execute(text("INSERT INTO zhunru_carried (community, kind, city, matter, since_seq) "
                      "SELECT community, kind, city, matter, MIN(decision_seq) FROM zhunru_target "
                      "WHERE state = 'in_effect' GROUP BY community, kind, city, matter"))


def _verify_carried(conn) -> str | None:
    """zhunru_carried holds exactly the (community, kind, city, matter) in effect in the target rows."""
    columns = "community, kind, city, matter"
    for left, right, what in ((_CARRIED_FROM_TARGETS, f"SELECT {columns} FROM zhunru_carried", "missing from"),
                              (f"SELECT {columns} FROM zhunru_carried", _CARRIED_FROM_TARGETS, "extra in")):
        found = conn.execute(text(f"SELECT {columns} FROM ({left} EXCEPT {right}) AS d LIMIT 1")).first()
        if found:
            return (f"community {found[0]}: {found[1]} {found[3]} is {what} the rows the caps count "
                    "(zhunru log rebuild writes them again)")
    return None


def _positioned(attachments: list[dict]) -> list[dict]:
    return [dict(a, position=i) for i, a in enumerate(attachments)]


def _target_tuple(row) -> tuple:
    return tuple(bool(row[c]) if c in ("funded", "staffed") else row[c] for c in targets.COLUMNS)


def _streamed(conn, query, size: int = 2000) -> Iterator[dict]:
    result = conn.execution_options(stream_results=True, yield_per=size).execute(query).mappings()
    for row in result:
        yield dict(row)


def _grouped(rows: Iterator[dict], key: str) -> Iterator[tuple[int, list[dict]]]:
    """Consecutive rows with the same `key`, as (key, rows)."""
    current, group = None, []
    for row in rows:
        if row[key] != current and group:
            yield current, group
            group = []
        current = row[key]
        group.append(row)
    if group:
        yield current, group


def _paged(conn, query, key, size: int = 2000) -> Iterator[dict]:
    """Rows of `query` in `key` order, fetched page by page (keyset): bounded memory on any
    driver, and the connection stays free for lookups between pages."""
    last = None
    while True:
        page = query if last is None else query.where(key > last)
        found = [dict(r) for r in conn.execute(page.order_by(key).limit(size)).mappings()]
        if not found:
            return
        yield from found
        last = found[-1][key.key]


def _expected_targets(conn, after: int = 0) -> Iterator[list[dict]]:
    """The target rows each decision of the log (after row `after`) implies, in log order, with
    the state its act (if any) gave it."""
    query = (select(LogEntry.seq, LogEntry.entry_id, LogEntry.outcome, LogEntry.request_json, LogEntry.payload_json)
             .where(LogEntry.entry_type == "decision", LogEntry.seq > after))
    # withdrawals are few: read them once rather than asking for each decision
    withdrawn = {r[0] for r in conn.execute(select(LogEntry.refers_to).where(LogEntry.entry_type == "withdrawal"))}
    for row in _paged(conn, query, LogEntry.seq):
        state = None
        if row["entry_id"] in withdrawn:
            state = "withdrawn"
        try:
            payload = json.loads(row["payload_json"])
            if state is None and targets.may_be_acted_on(row["outcome"], bool(payload.get("advisory"))):
                act = conn.execute(select(LogEntry.entry_type).where(LogEntry.act_key == row["entry_id"])).first()
                state = targets.ACT_STATES.get(act[0]) if act else None
            yield targets.rows_for(row["seq"], json.loads(row["request_json"]), payload, state)
        except (ValueError, KeyError, TypeError, AttributeError):
            yield []  # a row zhunru did not write: its hash already says so


def _ensure_indexes(conn, is_sqlite: bool) -> None:
    """Indexes added to the log and target tables after they were first made (create_all makes only those of
    new tables). A role that may not create them (`log protect`'s application role) goes on
    without: the queries they serve then scan."""
    from sqlalchemy import inspect
    from sqlalchemy.exc import ProgrammingError

    inspector = inspect(conn)
    have = {i["name"] for table in (LogEntry.__table__, Target.__table__) for i in inspector.get_indexes(table.name)}
    for index in (*LogEntry.__table__.indexes, *Target.__table__.indexes):
        if index.name in have:
            continue
        if is_sqlite:
            index.create(conn)
            continue
        try:
            with conn.begin_nested():
                index.create(conn)
        except ProgrammingError:
            pass


def _needs_upgrade(conn) -> bool:
    """A log written before format 2 (no derived columns): upgraded in place on first open."""
    from sqlalchemy import inspect

    inspector = inspect(conn)
    return inspector.has_table("zhunru_log") and "fmt" not in {c["name"] for c in inspector.get_columns("zhunru_log")}


def _upgrade(conn) -> None:
    """Add format 2's columns to a format 1 log (its rows keep their format 1 hashes: `fmt` NULL),
    fill the derived columns and write the target rows. Runs under the writers' lock."""
    for column, kind in (("kind", "VARCHAR(32)"), ("request_date", "VARCHAR(10)"), ("department", "VARCHAR(200)"),
                         ("matter", "VARCHAR(200)"), ("fmt", "INTEGER")):
        conn.exec_driver_sql(f"ALTER TABLE zhunru_log ADD COLUMN {column} {kind}")
    for index in LogEntry.__table__.indexes:
        if index.name == "ix_zhunru_log_pending":
            index.create(conn, checkfirst=True)
    updates = []
    for row in _paged(conn, select(LogEntry.seq, LogEntry.request_json, LogEntry.payload_json), LogEntry.seq):
        updates.append(dict(derived(row["request_json"], row["payload_json"]), s=row["seq"]))
        if len(updates) >= 2000:
            _fill_derived(conn, updates)
    _fill_derived(conn, updates)
    conn.execute(Target.__table__.delete())
    for expected in _expected_targets(conn):
        if expected:
            conn.execute(Target.__table__.insert(), expected)
    _rebuild_carried(conn)


def _fill_derived(conn, updates: list[dict]) -> None:
    if updates:
        conn.execute(text("UPDATE zhunru_log SET kind = :kind, request_date = :request_date, "
                          "department = :department, matter = :matter WHERE seq = :s"), updates)
        updates.clear()


def derived(request_json: str, payload_json: str) -> dict:
    """The indexed columns a row's request and decision give (kind, date, department, matter)."""
    try:
        request = json.loads(request_json)
        decision = json.loads(payload_json)
        matter = decision.get("matter") or {}
        return {"kind": request.get("kind"), "request_date": request.get("date"),
                "department": (request.get("department") or {}).get("name"),
                "matter": matter.get("code") or matter.get("name")}
    except (ValueError, AttributeError, TypeError):
        return dict.fromkeys(DERIVED_FIELDS)


def _rehash(row: dict, attachments: list[dict]) -> str | None:
    """The hash of a stored row, by its format; None when a value is no longer what zhunru
    writes (text, numbers): a tampered row must be reported, not crash verify."""
    try:
        if row.get("fmt") == FORMAT:
            return chain_hash(row["seq"], row["prev_hash"], content_digest(row, attachments))
        if row.get("fmt") is None and any(row.get(k) != v for k, v in
                                           derived(row["request_json"], row["payload_json"]).items()):
            return None  # a format 1 row's derived columns are not hashed: they must agree with it
        return row_hash(row, attachments)
    except (TypeError, ValueError):
        return None


def _key(entry: dict) -> tuple[str, str] | None:
    for column in ("decision_key", "act_key"):
        if entry.get(column):
            return column, entry[column]
    return None


def _is_db_error(exc: BaseException) -> bool:
    """An error of the database or its driver (not of zhunru's own code)."""
    if isinstance(exc, SQLAlchemyError):
        return True
    module = type(exc).__module__ or ""
    return module.startswith(("sqlite3", "psycopg"))


def _short(exc: Exception) -> str:
    text_ = str(getattr(exc, "orig", exc)).strip().splitlines()
    return text_[0][:200] if text_ else exc.__class__.__name__


def act_record(decision_entry: LogEntry, act: str, by: str, note: str | None, actor: dict | None = None) -> Record:
    """The log record of the district body's act on a decision: approval or refusal (at most
    one of them: `act_key` is the decision id) or withdrawal of what was in effect (撤销; at
    most one: `act_key` is "withdrawal:" + the decision id). The decision is never changed.
    `actor`: the authenticated account and where it acted from ({"account", "role", "scope",
    "via": console|web|api, "os_user"?}), hashed with the row."""
    if act not in targets.ACT_STATES and act != "withdrawal_request":
        raise ValueError(act)
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")
    payload = {"act": act, "by": by, "note": note, "decision_id": decision_entry.entry_id,
               "request_id": decision_entry.request_id, "at": now}
    if actor:
        payload["actor"] = actor
    entry = {
        "entry_id": hashlib.sha256(f"{act}:{decision_entry.entry_id}:{now}".encode()).hexdigest()[:32],
        "entry_type": act, "request_id": decision_entry.request_id, "decision_key": None,
        "refers_to": decision_entry.entry_id, "created_at": now,
        # a community's request to withdraw is not an act: any number of them, no key
        "act_key": None if act == "withdrawal_request"
        else (targets.WITHDRAWAL_KEY if act == "withdrawal" else "") + decision_entry.entry_id,
        "city": decision_entry.city, "ruleset": decision_entry.ruleset, "ruleset_sha256": decision_entry.ruleset_sha256,
        "outcome": {"approval": "admitted", "refusal": "rejected", "withdrawal": "withdrawn",
                    "withdrawal_request": "withdrawal_requested"}[act],
        **derived(decision_entry.request_json, decision_entry.payload_json),
        "request_json": decision_entry.request_json, "payload_json": json.dumps(payload, ensure_ascii=False),
    }
    return Record(entry, act_state=targets.ACT_STATES.get(act))


def decision_record(request, decision, attachments: list[dict] | None = None, cap: int | None = None) -> Record:
    """The log record of a decision: the request, the decision by reference (its reasons'
    codes, values and clauses; Decision.stored_json) and the funding attachments. `cap`: the
    ruleset's cap for the request's kind, checked again as the row is written."""
    atts = list(attachments or [])
    if request.funding is not None:
        atts.insert(0, {"amount": str(request.funding.amount), "source": request.funding.source,
                        "document": request.funding.document, "kind": request.funding.kind,
                        "path": None, "size": None, "sha256": None})
    request_json = request.model_dump_json(exclude_none=True)
    payload_json = decision.stored_json()
    entry = {
        "entry_id": decision.decision_id, "entry_type": "decision", "request_id": decision.request_id,
        "decision_key": decision.request_id, "refers_to": None, "act_key": None,
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds"),
        "city": decision.ruleset.id, "ruleset": f"{decision.ruleset.id}@{decision.ruleset.version}",
        "ruleset_sha256": decision.ruleset.sha256, "outcome": decision.outcome,
        "kind": request.kind, "request_date": request.date.isoformat(), "department": request.department.name,
        "matter": decision.matter.code or decision.matter.name,
        "request_json": request_json, "payload_json": payload_json,
    }
    state = targets.state_of(decision.outcome, decision.advisory)
    rows = targets.rows(city=request.city, kind=request.kind, category=decision.category, matter=entry["matter"],
                        request_date=entry["request_date"], state=state,
                        funded=request.funding is not None and request.funding.amount > 0, staffed=request.personnel > 0,
                        communities=[(c.name, c.code, c.district, c.street) for c in request.communities])
    return Record(entry, atts, rows, cap=cap if state == "in_effect" else None)
