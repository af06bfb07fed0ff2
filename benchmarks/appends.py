"""Concurrent appends to the decision log: group commit under W writer threads (see benchmarks/README.md).

    .venv/bin/python benchmarks/appends.py                       # writers 1,4,16; SQLite and PostgreSQL; 10 s each
    .venv/bin/python benchmarks/appends.py --seconds 3 --writers 16 --backends sqlite
    .venv/bin/python benchmarks/appends.py --records 20000 --json appends.json   # a fixed count per run
    .venv/bin/python benchmarks/appends.py --writers 16 --seconds 5 --profile    # cProfile of the transactions

What is measured, per backend (a fresh SQLite file / a fresh PostgreSQL schema for every run):

  floor    one thread, the plain driver (sqlite3 / psycopg): the same rows in transactions of 500
           with executemany, into a bare table with zhunru_log's columns and no index but the
           primary key; no hashing, no attachments, no target rows. The disk/driver floor.
           (Timed runs go over the prepared rows again, renumbered, until the time is up.)
  W × 1    W threads, each calling `DecisionLog.append([record])` with ONE decision record per
           call, as fast as it can (like W concurrent service requests); the log gathers the
           waiting appends into one transaction (group commit, engine/log/store.py).
  1 × 500  one thread appending chunks of 500 records per call (the CLI batch path).

Each run lasts --seconds (default 10) or, with --records N, until N records are appended.
Reported: rows/s (committed rows / elapsed; for the W × 1 runs that is appends/s), the
latency of one append call (p50, p99, ms; for the floor, one chunk of 500), rows and
milliseconds per transaction and "busy", the share of the run a transaction was under way
(from a wrapper around the log's `_commit` that only times it), and the throughput as a
ratio to the floor. --profile adds a cProfile of the log's transactions. After every run
`DecisionLog(url).verify()` must return (rows, None) and `count()` must equal the rows
appended — one chain under concurrency — or the benchmark fails.

The records are real decisions of ../shared/tools/mixed_requests.py (unique request ids),
decided (`Zhunru(db=None).decide(..., log=False)`) and built (`decision_record`) before any
timing, so only appends are timed. They carry their funding attachments and target rows but
no cap (cap=None): the per-record cap re-check of capped admissions is not measured here.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
os.environ.setdefault("ZHUNRU_PLUGINS", "")  # no third-party plugins (built-ins always load)
PY = sys.executable
MIXED = HERE.parent.parent / "shared" / "tools" / "mixed_requests.py"  # ../shared beside the repository
PG_BASE = os.environ.get("ZHUNRU_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
CHUNK = 500
TARGET = 5000  # appends/s sustained with 16 concurrent writers, on each backend
TARGET_WRITERS = 16


# -- the records ---------------------------------------------------------------------------------
def build_records(n: int, seed: int) -> list:
    """n decision records of the mixed workload, decided and built now (not timed)."""
    from zhunru.app import Zhunru
    from zhunru.log.store import decision_record

    lines = subprocess.run([PY, str(MIXED), str(n), str(seed)], capture_output=True, text=True,
                           check=True).stdout.splitlines()
    app = Zhunru(db=None)
    records = []
    for start in range(0, n, 10000):  # in slices: the Request and Decision objects do not pile up
        requests = app.prepare([json.loads(line) for line in lines[start:start + 10000]])
        decisions = app.decide(requests, log=False)
        records.extend(decision_record(r, d) for r, d in zip(requests, decisions))
    ids = {r.entry["decision_key"] for r in records} | {r.entry["entry_id"] for r in records}
    if len(ids) != 2 * n:
        raise SystemExit("the workload's request or decision ids are not unique: the log would not write them all")
    return records


# -- fresh databases ---------------------------------------------------------------------------
@contextmanager
def fresh_db(backend: str, tmp: Path):
    """A URL to an empty database: a new SQLite file, or a new PostgreSQL schema (dropped after)."""
    if backend == "sqlite":
        path = tmp / f"{uuid.uuid4().hex[:8]}.sqlite"
        try:
            yield f"sqlite:///{path}"
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    import psycopg

    schema = "t_bench_" + uuid.uuid4().hex[:12]
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{PG_BASE}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(PG_BASE, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


# -- the floor: plain driver, bare table, one thread, 500 rows a transaction --------------------
def floor_rows(records: list) -> list[tuple]:
    from zhunru.log.store import FORMAT, GENESIS, STORED_FIELDS

    fake = {"prev_hash": GENESIS, "hash": GENESIS, "fmt": FORMAT}  # no hashing: 64 characters as stored
    return [tuple((seq if k == "seq" else fake[k] if k in fake else r.entry.get(k)) for k in STORED_FIELDS)
            for seq, r in enumerate(records, 1)]


def run_floor(backend: str, url: str, rows: list[tuple], seconds: float) -> dict:
    from sqlalchemy.dialects import postgresql, sqlite
    from zhunru.log.store import STORED_FIELDS, LogEntry

    dialect = sqlite.dialect() if backend == "sqlite" else postgresql.dialect()
    columns = LogEntry.__table__.columns
    ddl = ", ".join(f"{c} {columns[c].type.compile(dialect)}" + (" PRIMARY KEY" if c == "seq" else "")
                    for c in STORED_FIELDS)
    mark = "?" if backend == "sqlite" else "%s"
    insert = f"INSERT INTO floor_log ({', '.join(STORED_FIELDS)}) VALUES ({', '.join(mark for _ in STORED_FIELDS)})"
    if backend == "sqlite":
        import sqlite3

        conn = sqlite3.connect(url.split(":///", 1)[1], isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")  # as the log's own connections (synchronous left as they leave it)
        conn.execute(f"CREATE TABLE floor_log ({ddl})")

        def write(chunk):
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(insert, chunk)
            conn.execute("COMMIT")
    else:
        import psycopg

        conn = psycopg.connect(url)
        conn.execute(f"CREATE TABLE floor_log ({ddl})")
        conn.commit()
        cursor = conn.cursor()

        def write(chunk):
            with conn.transaction():
                cursor.executemany(insert, chunk)  # psycopg 3 pipelines executemany

    # With --records, the rows once; otherwise the prepared rows over and over (renumbered) until
    # the deadline: the bare table has no unique column but seq, and the floor outruns any pool.
    total = len(rows) if seconds == float("inf") else sys.maxsize
    latencies, done = [], 0
    start = time.perf_counter()
    deadline = start + seconds
    while done < total and time.perf_counter() < deadline:
        i = done % len(rows)
        chunk = rows[i:i + min(CHUNK, total - done)]
        if done >= len(rows):  # a later lap: new sequence numbers, the same content
            chunk = [(done + j + 1, *row[1:]) for j, row in enumerate(chunk)]
        t0 = time.perf_counter()
        write(chunk)
        latencies.append(time.perf_counter() - t0)
        done += len(chunk)
    elapsed = time.perf_counter() - start
    stored = conn.execute("SELECT count(*) FROM floor_log").fetchone()[0]
    conn.close()
    if stored != done:
        raise SystemExit(f"{backend} floor: {stored} rows stored, {done} inserted")
    return _result(done, elapsed, latencies, commits=len(latencies), exhausted=False)


# -- DecisionLog.append under W threads ----------------------------------------------------------
def run_appends(url: str, records: list, writers: int, per_call: int, seconds: float, profile: bool) -> dict:
    """`writers` threads appending `per_call` records per call until the deadline or their share
    of `records` runs out; then the log is verified."""
    from zhunru.log.store import DecisionLog

    log = DecisionLog(url)  # creates the tables: not timed
    commits: list[tuple[int, float]] = []  # (rows, seconds) of each transaction, from the leader
    real_commit = log._commit

    leader = cProfile.Profile() if profile else None

    def timed_commit(group):  # timing only: the log's own _commit does the work
        t0 = time.perf_counter()
        if leader:  # commits never overlap: one profiler, enabled in whichever thread leads
            leader.enable()
        try:
            real_commit(group)
        finally:
            if leader:
                leader.disable()
        commits.append((sum(len(job.records) for job in group), time.perf_counter() - t0))

    log._commit = timed_commit
    shares = [records[i::writers] for i in range(writers)]
    calls = [[share[j:j + per_call] for j in range(0, len(share), per_call)] for share in shares]
    latencies: list[list[float]] = [[] for _ in range(writers)]
    written = [0] * writers
    finished = [0.0] * writers
    errors: list[BaseException] = []
    gate = threading.Barrier(writers + 1)
    clock = {"deadline": float("inf")}

    def writer(i: int) -> None:
        mine, count = latencies[i], 0
        try:
            gate.wait()
            deadline = clock["deadline"]
            for batch in calls[i]:
                t0 = time.perf_counter()
                if t0 >= deadline:
                    break
                out = log.append(batch)
                mine.append(time.perf_counter() - t0)
                fresh = sum(1 for e in out if not e.get("existing"))
                if fresh != len(batch):
                    raise RuntimeError(f"{len(batch) - fresh} of {len(batch)} records were already logged")
                count += fresh
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            written[i], finished[i] = count, time.perf_counter()

    threads = [threading.Thread(target=writer, args=(i,), name=f"writer-{i}") for i in range(writers)]
    for t in threads:
        t.start()
    start = time.perf_counter()
    clock["deadline"] = start + seconds
    gate.wait()
    for t in threads:
        t.join()
    elapsed = max(finished) - start
    log.close()
    if errors:
        raise SystemExit(f"{writers} writers × {per_call}: {errors[0]!r}")
    rows = sum(written)
    check = DecisionLog(url)
    verified, count = check.verify(), check.count()
    check.close()
    if verified != (rows, None) or count != rows:
        raise SystemExit(f"{writers} writers × {per_call}: appended {rows} rows but verify() = {verified}, "
                         f"count() = {count}: the chain broke under concurrency")
    res = _result(rows, elapsed, [x for lat in latencies for x in lat], commits=len(commits),
                  exhausted=any(len(c) == len(lat) for c, lat in zip(calls, latencies)) and seconds != float("inf"))
    busy = sum(s for _, s in commits)
    res["ms_per_txn"] = busy / len(commits) * 1000 if commits else None
    res["busy"] = busy / elapsed if elapsed else None  # share of the time a transaction was under way
    if leader:
        res["profile"] = _profile_text(leader)
    return res


def _result(rows: int, elapsed: float, latencies: list[float], commits: int, exhausted: bool) -> dict:
    cuts = statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1 else latencies * 99
    return {"rows": rows, "seconds": elapsed, "rows_per_s": rows / elapsed if elapsed else 0.0,
            "calls": len(latencies), "p50_ms": cuts[49] * 1000 if cuts else None,
            "p99_ms": cuts[98] * 1000 if cuts else None, "transactions": commits,
            "rows_per_txn": rows / commits if commits else None,
            "ms_per_txn": statistics.fmean(latencies) * 1000 if latencies else None, "busy": None,
            "pool_exhausted": exhausted}


def _profile_text(leader: cProfile.Profile) -> str:
    out = io.StringIO()
    stats = pstats.Stats(leader, stream=out)
    stats.sort_stats("cumulative").print_stats(30)
    stats.sort_stats("tottime").print_stats(20)
    return out.getvalue()


# -- the report ------------------------------------------------------------------------------
def label(run: dict) -> str:
    if run["path"] == "floor":
        return f"floor: {'sqlite3' if run['backend'] == 'sqlite' else 'psycopg'} executemany ×{CHUNK}"
    return f"append([r]) × {run['writers']} writers" if run["per_call"] == 1 else f"append({CHUNK} records) × 1 writer"


def print_table(runs: list[dict]) -> None:
    print(f"\n{'backend':10} {'path':32} {'rows':>8} {'s':>6} {'rows/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'rows/txn':>8} {'ms/txn':>7} {'busy':>5} {'÷ floor':>7}")
    for run in runs:
        floor = next(r for r in runs if r["backend"] == run["backend"] and r["path"] == "floor")
        flag = " *" if run["pool_exhausted"] else ""
        busy = f"{run['busy']:5.0%}" if run["busy"] is not None else f"{'-':>5}"
        print(f"{run['backend']:10} {label(run):32} {run['rows']:8,} {run['seconds']:6.2f} {run['rows_per_s']:8,.0f} "
              f"{run['p50_ms']:7.2f} {run['p99_ms']:7.2f} {run['rows_per_txn']:8.1f} {run['ms_per_txn']:7.2f} {busy} "
              f"{run['rows_per_s'] / floor['rows_per_s']:7.2f}{flag}")
    print("rows/s: committed rows / elapsed (= appends/s for append([r])); p50/p99: one call; rows/txn, ms/txn: "
          "per transaction; busy: share of the time a transaction was under way")
    if any(r["pool_exhausted"] for r in runs):
        print("* a writer ran out of prepared records before --seconds was up (raise --pool)")
    sys.stdout.flush()


def print_targets(runs: list[dict]) -> None:
    print(f"\n## Target: ≥ {TARGET:,} appends/s sustained with {TARGET_WRITERS} concurrent writers")
    for run in runs:
        if run["path"] == "append" and run["per_call"] == 1 and run["writers"] == TARGET_WRITERS:
            ok = run["rows_per_s"] >= TARGET
            print(f"[{'ok' if ok else 'MISS'}] {run['backend']}: {run['rows_per_s']:,.0f} appends/s "
                  f"({run['rows_per_s'] / TARGET:.2f}× the target), p99 {run['p99_ms']:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description="concurrent DecisionLog appends (see benchmarks/README.md)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each run (default 10)")
    parser.add_argument("--writers", default="1,4,16", help="writer thread counts, comma-separated (default 1,4,16)")
    parser.add_argument("--backends", default="sqlite,postgresql", help="sqlite,postgresql (default both)")
    parser.add_argument("--records", type=int, help="append exactly N records per run instead of running --seconds")
    parser.add_argument("--pool", type=int, default=200_000,
                        help="records prepared for the timed runs (default 200,000); an append run stops early "
                             "when it has used them all (flagged *)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-chunked", action="store_true", help=f"skip the 1 writer × {CHUNK} records run")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile the log's transactions (whichever thread leads; slows the runs) and print the top costs")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args()
    writer_counts = [int(w) for w in args.writers.split(",") if w.strip()]
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    for b in backends:
        if b not in ("sqlite", "postgresql"):
            parser.error(f"--backends: unknown backend {b}")
    if not MIXED.is_file():
        raise SystemExit(f"{MIXED} not found (the shared workload generator)")
    seconds = float("inf") if args.records else args.seconds
    n = args.records or args.pool

    print(f"preparing {n:,} decision records …", file=sys.stderr)
    t0 = time.perf_counter()
    records = build_records(n, args.seed)
    rows = floor_rows(records)
    print(f"prepared in {time.perf_counter() - t0:.1f} s", file=sys.stderr)

    results = {"machine": {"nproc": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
               "seconds": None if args.records else args.seconds, "records": args.records, "runs": []}
    runs = results["runs"]
    plan = [(w, 1) for w in writer_counts] + ([] if args.no_chunked else [(1, CHUNK)])
    with tempfile.TemporaryDirectory(prefix="zhunru-appends-") as tmp_name:
        tmp = Path(tmp_name)
        for backend in backends:
            print(f"[{backend}] floor …", file=sys.stderr)
            with fresh_db(backend, tmp) as url:
                runs.append({"backend": backend, "path": "floor", "writers": 1, "per_call": CHUNK,
                             **run_floor(backend, url, rows, seconds)})
            for writers, per_call in plan:
                print(f"[{backend}] {writers} writers × {per_call} …", file=sys.stderr)
                with fresh_db(backend, tmp) as url:
                    res = run_appends(url, records, writers, per_call, seconds, args.profile)
                text_ = res.pop("profile", None)
                runs.append({"backend": backend, "path": "append", "writers": writers, "per_call": per_call, **res})
                if text_:
                    print(f"\n### profile: {backend}, {writers} writers × {per_call} (the leader's _commit calls)")
                    print(text_)
            if args.json:
                Path(args.json).write_text(json.dumps(results, indent=2))
    print(f"\n## DecisionLog appends — nproc {os.cpu_count()}, Python {platform.python_version()}, "
          + (f"{args.records:,} records a run" if args.records else f"{args.seconds:g} s a run"))
    print_table(runs)
    print_targets(runs)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
