"""zhunru throughput and start-up against baselines, in one run (see benchmarks/README.md).

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/bench.py                 # 10k and 100k, 3 repetitions
    .venv/bin/python benchmarks/bench.py --sizes 2000 --repeat 1 --quick

Every figure is the median of --repeat runs over the same seeded workload (workload.py):
  (a) I/O floor: parse each line (json + the pydantic Request), serialise the request and a
      decision-sized payload, hash-chain the rows (zhunru.log.row_hash) and insert them into the
      log's own tables in transactions of 500 — no decision logic. Two variants: minimal
      `sqlite3` (the floor the targets use) and zhunru's own DecisionLog.append.
  (b) `zhunru evaluate --batch FILE --db DB --format json > /dev/null` (the real CLI, subprocess)
  (c) the same with --no-log
  (d) Engine.evaluate alone, in process, against a plain dictionary lookup of the same answers
  (e) the same admission logic as a GoRules zen-engine decision table, created once and
      evaluated per request (needs the `bench` extra)
and cold start: `zhunru cert check` against `python -c "import pydantic, click"`.
Processes (a)–(c) are separate subprocesses, so each includes interpreter start-up.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("ZHUNRU_PLUGINS", "")  # no third-party plugins (built-ins always load)
PY = sys.executable
MIXED = HERE.parent.parent / "shared" / "tools" / "mixed_requests.py"  # ../shared beside the repository
ZHUNRU = str(Path(PY).with_name("zhunru"))
CHUNK = 500


# -- (a) the I/O floor, run as `bench.py _floor sqlite3|decisionlog FILE DB` in its own process ----
def _payload(request) -> dict:
    """A decision-shaped payload of typical size, without deciding anything."""
    import uuid

    return {"decision_id": uuid.uuid4().hex, "request_id": request.id, "outcome": "needs_approval",
            "category": "unlisted", "matter": {"code": None, "name": request.matter},
            "reasons": [{"code": "NOT_COVERED", "clause": f"{request.city}@1#X-00",
                         "message": "未列入清单的事项须经县(区)级城市社区建设工作领导协调机构准入审批并予以公布。" * 2,
                         "source": {"document": "003_ea72715f31ed26c3.txt", "quote": "部门工作需进社区" * 4}}],
            "funding": {"required": None, "attached": 0.0, "shortfall": None},
            "ruleset": {"id": request.city, "version": "1", "sha256": "0" * 64}, "advisory": False,
            "suggestions": [], "verdict": None}


def _floor_records(path: str):
    import datetime as dt

    from zhunru.decide.evaluate import parse_request

    with open(path, encoding="utf-8") as handle:
        for line in handle:
            request = parse_request(json.loads(line))
            payload = _payload(request)
            atts = []
            if request.funding is not None:
                atts.append({"amount": str(request.funding.amount), "source": request.funding.source,
                             "document": request.funding.document, "kind": request.funding.kind,
                             "path": None, "size": None, "sha256": None})
            entry = {"entry_id": payload["decision_id"], "entry_type": "decision", "request_id": request.id,
                     "decision_key": request.id, "refers_to": None, "act_key": None,
                     "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds"),
                     "city": request.city, "ruleset": f"{request.city}@1", "ruleset_sha256": "0" * 64,
                     "outcome": payload["outcome"], "request_json": request.model_dump_json(),
                     "payload_json": json.dumps(payload, ensure_ascii=False)}
            yield entry, atts


def floor_sqlite3(path: str, db: str) -> None:
    import sqlite3

    from zhunru.log.store import ATTACHMENT_FIELDS, ENTRY_FIELDS, GENESIS, row_hash

    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    cols = (*ENTRY_FIELDS, "hash")
    ins = f"INSERT INTO zhunru_log ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})"
    acols = (*ATTACHMENT_FIELDS, "entry_seq")
    ains = f"INSERT INTO zhunru_attachment ({','.join(acols)}) VALUES ({','.join('?' * len(acols))})"
    seq, prev, rows, att_rows = 0, GENESIS, [], []

    def flush():
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(ins, rows)
        conn.executemany(ains, att_rows)
        conn.execute("COMMIT")
        rows.clear()
        att_rows.clear()

    for entry, atts in _floor_records(path):
        seq += 1
        entry.update(seq=seq, prev_hash=prev)
        atts = [dict(a, position=i) for i, a in enumerate(atts)]
        entry["hash"] = prev = row_hash(entry, atts)
        rows.append(tuple(entry.get(c) for c in cols))
        att_rows.extend(tuple(a.get(c) for c in ATTACHMENT_FIELDS) + (seq,) for a in atts)
        if len(rows) >= CHUNK:
            flush()
    if rows:
        flush()
    conn.close()


def floor_decisionlog(path: str, db: str) -> None:
    from zhunru.log.store import DecisionLog, Record

    log = DecisionLog(f"sqlite:///{db}")
    pending = []
    for entry, atts in _floor_records(path):
        pending.append(Record(entry, atts))
        if len(pending) >= CHUNK:
            log.append(pending)
            pending = []
    if pending:
        log.append(pending)
    log.close()


# -- helpers -----------------------------------------------------------------------------------
def _timed(cmd: list[str], stdout=subprocess.DEVNULL) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=stdout, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return elapsed


def _fresh_db(tmp: Path) -> Path:
    from zhunru.log.store import DecisionLog

    db = tmp / f"log-{time.perf_counter_ns()}.sqlite"
    DecisionLog(f"sqlite:///{db}").close()  # the log's own schema, created outside the timing
    return db


def _median(fn, repeat: int) -> float:
    return statistics.median(fn() for _ in range(repeat))


def _rows(db: Path) -> int:
    import sqlite3

    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM zhunru_log").fetchone()[0]


# -- (d) and (e): decision logic in process ---------------------------------------------------
def _answers(engine, requests):
    """The dictionary baseline's table: (ruleset, kind, key) → (outcome, category), with the
    fallbacks per (ruleset, kind) — the same answers Engine gives for this workload."""
    from zhunru.rulebook.normalize import normalize

    table, fallback, refs = {}, {}, {}
    for r in requests:
        book = engine.book_for(r.city, r.date)
        ref = book.leaf.ref
        refs[(r.city, r.date)] = ref
        if (ref, "built") in table:
            continue
        table[(ref, "built")] = True
        for kind, names in book.names.items():
            for key, entry in names.items():
                table[(ref, kind, key)] = entry
            for key, entry in book.codes.get(kind, {}).items():
                table[(ref, kind, "code:" + key)] = entry
        for kind in ("task", "certificate", "nameplate", "posting", "meeting", "ledger", "report", "assessment"):
            if kind == "task":
                partial = any(book.coverage.get(("task", n)) == "partial" for n in ("duty", "assist"))
                fallback[(ref, kind)] = "partial" if partial else "commissioned"
            elif kind in book.otherwise:
                fallback[(ref, kind)] = book.otherwise[kind][0].outcome
            else:
                fallback[(ref, kind)] = "needs_approval"
    return table, fallback, refs, normalize


LIST_OUTCOME = {"negative": ("rejected", "negative"), "duty": ("admitted", "duty"), "assist": ("admitted", "assist"),
                "must_issue": ("admitted", "duty"), "may_issue": ("admitted", "allowed"),
                "must_not_issue": ("rejected", "forbidden"), "allowed": ("admitted", "allowed"),
                "forbidden": ("rejected", "forbidden")}
OTHERWISE = {"admitted": ("admitted", "allowed"), "rejected": ("rejected", "forbidden"),
             "needs_approval": ("needs_approval", "unlisted")}


def dict_decide(r, table, fallback, refs, normalize):
    ref = refs[(r.city, r.date)]
    entry = table.get((ref, r.kind, "code:" + r.matter.strip())) or table.get((ref, r.kind, normalize(r.matter)))
    if entry is not None:
        if entry.list_name == "allowed" and r.kind == "assessment":
            item = entry.item
            if ((item.assessor is not None and r.department.role not in item.assessor)
                    or (item.assessor_level is not None and r.department.level not in item.assessor_level)):
                return "rejected", "forbidden"
        return LIST_OUTCOME[entry.list_name]
    how = fallback[(ref, r.kind)]
    if r.kind == "task":
        if how == "partial":
            return "needs_approval", "unlisted"
        funded = (r.funding is not None and r.funding.amount > 0) or r.personnel > 0
        return ("needs_approval", "commissioned") if funded else ("rejected", "commissioned")
    return OTHERWISE[how]


def zen_table(engine, requests) -> tuple[str, int]:
    """The admission logic as one first-hit zen decision table (JDM JSON) and its row count."""
    rows, seen = [], set()

    def q(value: str) -> str:
        return json.dumps(value, ensure_ascii=False)

    def row(city, span, kind, matter="", code="", role="", level="", funded="", outcome="", category=""):
        rows.append({"_id": f"r{len(rows)}", "city": q(city), "date": span, "kind": q(kind), "matter": matter,
                     "code": code, "role": role, "level": level, "funded": funded,
                     "outcome": q(outcome), "category": q(category)})

    table, fallback, refs, _ = _answers(engine, requests)
    for (city, on), ref in sorted(refs.items(), key=lambda x: (x[0][0], x[0][1])):
        if ref in seen:
            continue
        seen.add(ref)
        rs = engine.book_for(city, on).leaf.ruleset
        span = f'date($) >= date("{rs.effective_from}")'
        if rs.effective_to:
            span += f' and date($) < date("{rs.effective_to}")'
        for key, entry in sorted((k, v) for k, v in table.items() if k[0] == ref and len(k) == 3):
            _, kind, name = key
            matter, code = ("", q(name[5:])) if name.startswith("code:") else (q(name), "")
            outcome, category = LIST_OUTCOME[entry.list_name]
            if kind == "assessment" and entry.list_name == "allowed" and (entry.item.assessor or entry.item.assessor_level):
                role = ", ".join(q(x) for x in entry.item.assessor or [])
                level = ", ".join(q(x) for x in entry.item.assessor_level or [])
                row(city, span, kind, matter, code, role, level, "", outcome, category)
                outcome, category = "rejected", "forbidden"
            row(city, span, kind, matter, code, "", "", "", outcome, category)
        for (fref, kind), how in sorted(fallback.items()):
            if fref != ref:
                continue
            if kind == "task" and how == "partial":
                row(city, span, kind, outcome="needs_approval", category="unlisted")
            elif kind == "task":
                row(city, span, kind, funded="true", outcome="needs_approval", category="commissioned")
                row(city, span, kind, outcome="rejected", category="commissioned")
            else:
                row(city, span, kind, outcome=OTHERWISE[how][0], category=OTHERWISE[how][1])
    inputs = [{"id": f, "name": f, "field": f} for f in ("city", "date", "kind", "matter", "code", "role", "level", "funded")]
    outputs = [{"id": f, "name": f, "field": f} for f in ("outcome", "category")]
    jdm = {"nodes": [{"id": "in", "type": "inputNode", "name": "request", "position": {"x": 0, "y": 0}},
                     {"id": "admission", "type": "decisionTableNode", "name": "admission", "position": {"x": 0, "y": 0},
                      "content": {"hitPolicy": "first", "inputs": inputs, "outputs": outputs, "rules": rows}},
                     {"id": "out", "type": "outputNode", "name": "decision", "position": {"x": 0, "y": 0}}],
           "edges": [{"id": "e1", "sourceId": "in", "targetId": "admission", "type": "edge"},
                     {"id": "e2", "sourceId": "admission", "targetId": "out", "type": "edge"}]}
    return json.dumps(jdm, ensure_ascii=False), len(rows)


def logic(path: Path, repeat: int, with_zen: bool) -> dict:
    from zhunru.decide.evaluate import Engine, parse_request

    requests = [parse_request(json.loads(line)) for line in path.open(encoding="utf-8")]
    engine = Engine()
    for r in requests[:200]:  # compile every book outside the timing
        engine.evaluate(r)
    answers = _answers(engine, requests)
    out: dict = {}

    def run_engine():
        start = time.perf_counter()
        for r in requests:
            engine.evaluate(r)
        return time.perf_counter() - start

    def run_dict():
        start = time.perf_counter()
        for r in requests:
            dict_decide(r, *answers)
        return time.perf_counter() - start

    out["engine"] = _median(run_engine, repeat)
    out["dict"] = _median(run_dict, repeat)
    expected = [(d.outcome, d.category) for d in (engine.evaluate(r) for r in requests)]
    out["dict_agrees"] = sum(dict_decide(r, *answers) == e for r, e in zip(requests, expected)) / len(requests)
    if with_zen:
        import zen

        content, out["zen_rows"] = zen_table(engine, requests)
        start = time.perf_counter()
        decision = zen.ZenEngine().create_decision(content)
        out["zen_create"] = time.perf_counter() - start
        normalize = answers[3]

        def zen_input(r):
            funded = (r.funding is not None and r.funding.amount > 0) or r.personnel > 0
            return {"city": r.city, "date": r.date.isoformat(), "kind": r.kind, "matter": normalize(r.matter),
                    "code": r.matter.strip(), "role": r.department.role, "level": r.department.level,
                    "funded": funded}

        def run_zen():
            start = time.perf_counter()
            for r in requests:
                decision.evaluate(zen_input(r))
            return time.perf_counter() - start

        # zen is slow: time it on at most 10,000 requests and scale (it is linear in requests)
        full = requests
        requests = full[:10000]
        out["zen"] = _median(run_zen, repeat) * len(full) / len(requests)
        got = [decision.evaluate(zen_input(r))["result"] for r in requests]
        out["zen_agrees"] = sum((g.get("outcome"), g.get("category")) == e for g, e in zip(got, expected)) / len(requests)
        requests = full
    return out


# -- cold start --------------------------------------------------------------------------------
def cold_start(runs: int) -> dict:
    cmds = {"cert_check": [ZHUNRU, "cert", "check", "亲属关系证明", "--city", "bijie", "--as-of", "2019-06-01"],
            "import_pydantic_click": [PY, "-c", "import pydantic, click"],
            "import_basemodel_click": [PY, "-c", "import click; from pydantic import BaseModel"],
            "python_bare": [PY, "-c", "pass"],
            "zhunru_help": [ZHUNRU, "--help"]}
    out = {}
    if shutil.which("hyperfine"):
        with tempfile.TemporaryDirectory() as tmp:
            for name, cmd in cmds.items():
                export = Path(tmp) / f"{name}.json"
                subprocess.run(["hyperfine", "-N", "--warmup", "3", "--runs", str(runs), "--export-json", str(export),
                                subprocess.list2cmdline(cmd)], check=True, capture_output=True)
                out[name] = json.loads(export.read_text())["results"][0]["median"]
        out["tool"] = "hyperfine"
        return out
    for name, cmd in cmds.items():
        _timed(cmd)  # warm the page cache
        out[name] = _median(lambda: _timed(cmd), runs)
    out["tool"] = f"subprocess, median of {runs}"
    return out


def _bytes(db: Path) -> int:
    """The database's size on disk, its write-ahead log included."""
    return sum(p.stat().st_size for p in (db, Path(f"{db}-wal")) if p.exists())


# -- the run -----------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description="zhunru benchmark (see benchmarks/README.md)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000, 100000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cold-runs", type=int, default=20)
    parser.add_argument("--no-zen", action="store_true", help="skip (e) even if zen-engine is installed")
    parser.add_argument("--quick", action="store_true", help="skip the DecisionLog floor variant")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--workload", choices=["mixed", "own", "both"], default="both",
                        help="mixed: ../shared/tools/mixed_requests.py (Bijie, capped kinds included); "
                             "own: workload.py (every shipped city and kind); both (default)")
    args = parser.parse_args()

    from workload import generate, write_jsonl

    try:
        import zen  # noqa: F401
        with_zen = not args.no_zen
    except ImportError:
        with_zen = False
        print("zen-engine not installed (pip install -e '.[bench]'): skipping (e)", file=sys.stderr)

    results: dict = {"sizes": {}}
    workloads = ["mixed", "own"] if args.workload == "both" else [args.workload]
    if "mixed" in workloads and not MIXED.is_file():
        print(f"{MIXED} not found: skipping the mixed workload", file=sys.stderr)
        workloads.remove("mixed")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for workload, n in [(w, n) for w in workloads for n in args.sizes]:
            path = tmp / f"{workload}{n}.jsonl"
            with path.open("w", encoding="utf-8") as handle:
                if workload == "own":
                    write_jsonl(generate(n, args.seed), handle)
                else:
                    subprocess.run([PY, str(MIXED), str(n), str(args.seed)], stdout=handle, check=True)
            res: dict = {"workload": workload, "n": n}

            def floor(kind):
                db = _fresh_db(tmp)
                t = _timed([PY, __file__, "_floor", kind, str(path), str(db)])
                assert _rows(db) == n, "the floor did not insert every row"
                res[f"bytes_floor_{kind}"] = _bytes(db) / n
                return t

            def cli(no_log):
                db = _fresh_db(tmp)
                cmd = [ZHUNRU, "evaluate", "--batch", str(path), "--format", "json"]
                cmd += ["--no-log"] if no_log else ["--db", str(db)]
                t = _timed(cmd)
                if not no_log:
                    assert _rows(db) == n, "evaluate did not log every decision"
                    res["bytes_log"] = _bytes(db) / n
                return t

            print(f"[{n}] (a) floor sqlite3 …", file=sys.stderr)
            res["floor_sqlite3"] = _median(lambda: floor("sqlite3"), args.repeat)
            if not args.quick:
                print(f"[{n}] (a') floor DecisionLog …", file=sys.stderr)
                res["floor_decisionlog"] = _median(lambda: floor("decisionlog"), args.repeat)
            print(f"[{n}] (b) evaluate with log …", file=sys.stderr)
            res["evaluate_log"] = _median(lambda: cli(False), args.repeat)
            print(f"[{n}] (c) evaluate --no-log …", file=sys.stderr)
            res["evaluate_nolog"] = _median(lambda: cli(True), args.repeat)
            print(f"[{n}] (d, e) decision logic …", file=sys.stderr)
            res.update(logic(path, args.repeat, with_zen))
            results["sizes"][f"{workload}:{n}"] = res
            report_size(n, res)  # as soon as it is measured: a long run shows its progress
            if args.json:
                Path(args.json).write_text(json.dumps(results, indent=2))
        print("cold start …", file=sys.stderr)
        results["cold"] = cold_start(args.cold_runs)
    report(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


LABELS = [("floor_sqlite3", "(a) I/O floor, minimal sqlite3"), ("floor_decisionlog", "(a') I/O floor, DecisionLog.append"),
              ("evaluate_log", "(b) zhunru evaluate --batch, logged"), ("evaluate_nolog", "(c) zhunru evaluate --batch --no-log"),
              ("engine", "(d) Engine.evaluate alone"), ("dict", "(d') dictionary lookup"),
              ("zen", "(e) zen-engine decision table")]


def report_size(n: int, res: dict) -> None:
    what = {"mixed": "shared mixed_requests.py", "own": "workload.py"}[res["workload"]]
    print(f"\n## {n:,} requests, {what} (median of runs; seconds → decisions/s)")
    print(f"{'':40} {'seconds':>9} {'dec/s':>10} {'µs/dec':>8} {'÷ floor':>8} {'÷ zen':>8}")
    for key, label in LABELS:
        if key not in res:
            continue
        secs = res[key]
        vs_zen = f"{res['zen'] / secs:8.2f}" if "zen" in res else f"{'-':>8}"
        print(f"{label:40} {secs:9.3f} {n / secs:10,.0f} {secs / n * 1e6:8.1f} "
              f"{res['floor_sqlite3'] / secs:8.2f} {vs_zen}")
    print(f"dictionary agrees with Engine on {res['dict_agrees']:.1%} of requests", end="")
    if "zen" in res:
        print(f"; zen on {res['zen_agrees']:.1%} ({res['zen_rows']} rows, created in {res['zen_create'] * 1000:.0f} ms)")
    else:
        print()
    sys.stdout.flush()


def report(results: dict) -> None:
    print("\n## Targets")
    runs = results["sizes"]
    for name, res in runs.items():
        ratio = res["bytes_log"] / res["bytes_floor_sqlite3"]
        print(f"[{'ok' if ratio <= 1.5 else 'MISS'}] {name}: a logged decision takes {res['bytes_log']:.0f} bytes on "
              f"disk (tables, indexes, community rows) = {ratio:.2f}× the floor's row "
              f"{res['bytes_floor_sqlite3']:.0f} bytes (target ≤ 1.5)")
        ratio = res["floor_sqlite3"] / res["evaluate_log"]
        print(f"[{'ok' if ratio >= 0.5 else 'MISS'}] {name}: logged batch evaluate runs at {ratio:.2f}× the I/O floor "
              "(target ≥ 0.5)")
        ratio = res["floor_sqlite3"] / res["evaluate_nolog"]
        print(f"[{'ok' if ratio >= 0.6 else 'MISS'}] {name}: --no-log batch evaluate runs at {ratio:.2f}× the I/O floor "
              "(target ≥ 0.6)")
        if "zen" in res:
            ratio = res["zen"] / res["engine"]
            print(f"[{'ok' if ratio >= 10 else 'MISS'}] {name}: decision logic in process is {ratio:.1f}× zen-engine "
                  "on the same table (target ≥ 10)")
    for workload in ("mixed", "own"):
        mine = sorted((r for r in runs.values() if r["workload"] == workload), key=lambda r: r["n"])
        if len(mine) >= 2:
            small, big = mine[0], mine[-1]
            growth = (big["evaluate_log"] / big["n"]) / (small["evaluate_log"] / small["n"])
            print(f"[{'ok' if growth <= 1.25 else 'MISS'}] {workload}: µs per logged decision at {big['n']:,} is "
                  f"{growth:.2f}× that at {small['n']:,} (target ≤ 1.25)")
    cold = results["cold"]
    ratio = cold["cert_check"] / cold["import_pydantic_click"]
    print(f"[{'ok' if ratio <= 2 else 'MISS'}] cold start: cert check {cold['cert_check'] * 1000:.0f} ms = {ratio:.2f}× "
          f"`import pydantic, click` {cold['import_pydantic_click'] * 1000:.0f} ms (target ≤ 2; {cold['tool']})")
    print(f"      context: bare python {cold['python_bare'] * 1000:.0f} ms; click + pydantic.BaseModel "
          f"{cold['import_basemodel_click'] * 1000:.0f} ms; zhunru --help {cold['zhunru_help'] * 1000:.0f} ms")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "_floor":
        {"sqlite3": floor_sqlite3, "decisionlog": floor_decisionlog}[sys.argv[2]](sys.argv[3], sys.argv[4])
    else:
        main()
