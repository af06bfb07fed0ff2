"""`zhunru serve` under load on loopback, against bare endpoints of the same framework in the same run
(see benchmarks/README.md, "The service under load").

    .venv/bin/python benchmarks/service_load.py                      # PostgreSQL 1,2,4 workers + SQLite 1 (≈8 min)
    .venv/bin/python benchmarks/service_load.py --workers 2 --db postgresql --count 500 --rounds 1
    .venv/bin/python benchmarks/service_load.py --json /tmp/load.json

For every (backend, worker count) the real console script is started as a subprocess,
`zhunru serve --db URL --port P --workers N`, on a fresh database (a new PostgreSQL database
created and dropped by the run, or an SQLite file in a temporary folder) that holds one admin
account and its API token, made in process before the server starts. Beside it a tiny FastAPI app
with one POST route is started the same way (uvicorn.run, the same N workers, the same options as
`zhunru serve`). Then, one endpoint after the other, on fresh keep-alive connections:

  health GET       GET /api/v1/health → {"ok": true}: the bare endpoint of the same server (a sync
                   route, like the certificate check); the baseline of the ratios
  bare POST        the tiny app's POST /bare: the certificate check's bodies, parsed as JSON into a
                   dict, answered with the constant {"ok": true} (a sync route): the same framework,
                   the same body sizes, no work
  cert check       POST /api/v1/certificates/check {"text", "city": "毕节"}, six texts in turn
  evaluate no-log  POST /api/v1/evaluate?log=false (decides, logs nothing; for context)
  evaluate logged  POST /api/v1/evaluate with the admin's bearer token: every request has a new id,
                   so every POST is decided and appended to the log (the figure the bar is about)

The evaluate bodies are ../shared/tools/mixed_requests.py lines (seed 7), each given a unique id.
Each endpoint first gets --warmup requests (not counted), then --count requests or --seconds,
whichever ends first, with --concurrency requests in flight (a closed loop: one request at a time
on each of that many connections); the endpoints take turns for --rounds rounds and the median
round is reported, with the ratios as the median of the ratios within a round. With several
workers the connections are spread evenly over them (asyncio accepts all pending connections at
once, so a burst of new connections mostly lands on one worker; --no-balance shows that).
The client is one asyncio process that writes prepared HTTP/1.1 requests on raw sockets and reads
the responses (status line, Content-Length or chunked body): tens of microseconds a request, no
dependency. Its CPU share is reported, and so are the server's (its process tree), PostgreSQL's
(every `postgres` process) and the rest of the machine's (noise from other processes): client and
server share the machine. Before each endpoint the run waits (--quiet s at most) for an idle machine.
Before the rounds, 60 GET /api/v1/health one at a time on one connection give the latency floor; over
20 ms it is noted (responses waiting for the client's delayed ACK: Nagle's algorithm left on).

Reported per endpoint: requests answered, errors (status ≥ 400, a reset connection, or no answer
when the time cap ran out), requests/s, p50 and p99 latency (ms, write → last byte read), and the
ratios to the health GET and to the bare POST of the same run and worker count. After each server
stops, the log is checked: its row count must equal the logged evaluates answered 200 (warm-up
included) and `DecisionLog.verify()` must find the chain whole.

Bars (from the issue): certificate check ≥ 0.7 × the bare endpoint's throughput; evaluate with
logging ≥ 0.3 ×, same run, loopback, same worker count.
Nothing is written outside /tmp (the servers' ruleset caches go to the run's temporary folder).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PY = sys.executable
ZHUNRU = str(Path(PY).with_name("zhunru"))
MIXED = HERE.parent.parent / "shared" / "tools" / "mixed_requests.py"  # ../shared beside the repository
PG_BASE = os.environ.get("ZHUNRU_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
HOST = "127.0.0.1"
CERT_TEXTS = ["居住证明", "开一份无犯罪记录证明", "亲属关系证明", "婚姻状况证明", "健在证明", "开个证明说我还活着"]
BARS = {"cert check": 0.7, "evaluate logged": 0.3}  # × the bare endpoint, same run and worker count
ENDPOINTS = ["health GET", "bare POST", "cert check", "evaluate no-log", "evaluate logged"]
TICK = os.sysconf("SC_CLK_TCK")


# -- the bare POST app (started by this file itself: `service_load.py --serve-bare PORT N`) ---------
def bare_app():
    """A FastAPI app with one POST route that parses its JSON body and returns a constant."""
    from fastapi import FastAPI

    app = FastAPI(title="bare")

    @app.post("/bare")
    def bare(body: dict) -> dict:
        return {"ok": True}

    @app.get("/api/v1/health")  # for the one-connection latency probe
    def health() -> dict:
        return {"ok": True}

    return app


def serve_bare(port: int, workers: int) -> None:
    import uvicorn

    # the same call as `zhunru serve` (cli/serve.py): the app object for one worker, a factory for
    # more, and the same TCP_NODELAY fix of uvicorn's multi-worker socket
    if workers > 1:
        from zhunru.cli.serve import _tcp_nodelay

        _tcp_nodelay()
    app = "service_load:bare_app" if workers > 1 else bare_app()
    uvicorn.run(app, host=HOST, port=port, log_level="warning", workers=workers, factory=workers > 1,
                proxy_headers=True, app_dir=str(HERE))


# -- processes and CPU ---------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def descendants(pid: int) -> list[int]:
    """pid and every process below it."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return found


def cpu_ticks(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    except (OSError, IndexError, ValueError):
        return 0


def postgres_ticks() -> dict[int, int]:
    found = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/comm") as f:
                    if f.read().strip() != "postgres":
                        continue
            except OSError:
                continue
            found[int(name)] = cpu_ticks(int(name))
    return found


def machine_ticks() -> tuple[int, int]:
    """(busy, total) over all CPUs."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]
    return sum(values[:8]) - idle, sum(values[:8])


class CpuMeter:
    """CPU seconds of the client, the server tree and PostgreSQL, and the machine's busy share."""

    def __init__(self, server_pids: list[int]):
        self.server_pids = server_pids

    def __enter__(self):
        self.t = time.perf_counter()
        self.client = time.process_time()
        self.server = {p: cpu_ticks(p) for p in self.server_pids}
        self.pg = postgres_ticks()
        self.machine = machine_ticks()
        return self

    def __exit__(self, *exc):
        wall = time.perf_counter() - self.t
        self.client = (time.process_time() - self.client) / wall
        self.server = sum(cpu_ticks(p) - t for p, t in self.server.items()) / TICK / wall
        pg = postgres_ticks()
        self.pg = sum(t - self.pg.get(p, 0) for p, t in pg.items()) / TICK / wall
        busy, total = machine_ticks()
        self.machine = (busy - self.machine[0]) / max(1, total - self.machine[1])
        # what else ran (other processes on the machine), in cores: the noise this phase had
        self.other = max(0.0, self.machine * (os.cpu_count() or 1) - self.client - self.server - self.pg)
        return False


def wait_quiet(limit: float, below: float = 0.10) -> float | None:
    """Wait (at most `limit` s) until the machine was less than `below` of a core busy for a second;
    the seconds waited, or None if it never was (other processes kept it busy)."""
    start = time.monotonic()
    while True:
        busy, total = machine_ticks()
        time.sleep(1.0)
        busy2, total2 = machine_ticks()
        if (busy2 - busy) / max(1, total2 - total) * (os.cpu_count() or 1) < below:
            return time.monotonic() - start
        if time.monotonic() - start >= limit:
            return None


def tcp_rows():
    """The rows of /proc/net/tcp and tcp6, split: local address, remote address, state, inode…"""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                yield from (line.split() for line in f)
        except OSError:
            continue


def port_of(address: str) -> int:
    return int(address.rpartition(":")[2], 16)


def connections_per_worker(port: int, worker_pids: list[int]) -> list[int]:
    """How many established connections on `port` each worker holds (from /proc/net/tcp*)."""
    inodes = {parts[9] for parts in tcp_rows() if port_of(parts[1]) == port and parts[3] == "01"}
    counts = []
    for pid in worker_pids:
        n = 0
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    link = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    n += 1
        except OSError:
            pass
        counts.append(n)
    return counts


class Server:
    """A server subprocess (its own process group); stopped with SIGINT, then SIGKILL of its own tree."""

    def __init__(self, args: list[str], port: int, workers: int, env: dict, log_path: Path):
        self.port, self.workers, self.log_path = port, workers, log_path
        self.log = open(log_path, "wb")  # noqa: SIM115 (closed by stop)
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Health answered, every worker process present, and the tree's CPU quiet (all imported)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited with {self.proc.returncode}:\n{self.log_path.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise SystemExit(f"server on port {self.port} not ready in {timeout:.0f} s")
            try:
                with socket.create_connection((HOST, self.port), timeout=2) as s:
                    s.sendall(f"GET /api/v1/health HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
                    if s.recv(64).startswith(b"HTTP/1.1 "):
                        break
            except OSError:
                pass
            time.sleep(0.2)
        while len(self.worker_pids()) < self.workers and time.monotonic() < deadline:
            time.sleep(0.2)
        last = sum(cpu_ticks(p) for p in descendants(self.proc.pid))
        while time.monotonic() < deadline:
            time.sleep(0.5)
            now = sum(cpu_ticks(p) for p in descendants(self.proc.pid))
            if (now - last) / TICK < 0.05:
                return
            last = now

    def worker_pids(self) -> list[int]:
        """The processes that serve requests: the server itself with one worker, else its uvicorn workers."""
        if self.workers == 1:
            return [self.proc.pid]
        pids = []
        for pid in descendants(self.proc.pid)[1:]:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if b"multiprocessing.resource_tracker" in f.read():
                        continue
            except OSError:
                continue
            pids.append(pid)
        return pids

    def stop(self) -> None:
        tree = descendants(self.proc.pid)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                pass
        for pid in tree:  # only processes this server started
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        self.proc.wait()
        self.log.close()

    def problems(self) -> list[str]:
        text = self.log_path.read_text(errors="replace")
        return [line for line in text.splitlines() if "Traceback" in line or "ERROR" in line or "Error" in line]


# -- the client ----------------------------------------------------------------------------------
def http_request(method: str, path: str, body: bytes = b"", headers: dict | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if method == "POST":
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, the server closes the connection)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    at = lower.find(b"\r\ncontent-length:")
    if at >= 0:
        end = lower.index(b"\r\n", at + 2)
        body = await reader.readexactly(int(lower[at + 17:end]))
    elif b"\r\ntransfer-encoding: chunked" in lower:
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            parts.append(await reader.readexactly(size + 2))
            if size == 0:
                break
        body = b"".join(parts)
    else:
        body = b""
    return status, body, b"\r\nconnection: close" in lower


def owner(server_port: int, client_port: int, worker_pids: list[int]) -> int | None:
    """The worker that accepted the connection from `client_port`, if one has yet."""
    inode = next((parts[9] for parts in tcp_rows()
                  if port_of(parts[1]) == server_port and port_of(parts[2]) == client_port), None)
    if not inode or inode == "0":
        return None
    for pid in worker_pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                        return pid
                except OSError:
                    continue
        except OSError:
            continue
    return None


class Connections:
    """`n` keep-alive connections. With `balance` (the worker pids of a multi-process server), each
    worker gets its share: asyncio accepts every pending connection in one go, so connections opened
    in a burst would mostly land on whichever worker woke first. A connection that lands on a worker
    that has its share already is held aside while more are opened, then closed."""

    def __init__(self, port: int, n: int, balance: list[int] | None = None):
        self.port, self.n, self.balance = port, n, balance if balance and len(balance) > 1 else None
        self.streams: list = []

    async def open(self):
        if not self.balance:
            for _ in range(self.n):  # one by one, as a pool of a real client fills
                self.streams.append(list(await asyncio.open_connection(HOST, self.port)))
            return
        share = -(-self.n // len(self.balance))
        counts = {pid: 0 for pid in self.balance}
        spare, tries = [], 0
        while len(self.streams) < self.n:
            tries += 1
            stream = list(await asyncio.open_connection(HOST, self.port))
            client_port = stream[1].get_extra_info("sockname")[1]
            pid = None
            for _ in range(100):
                pid = owner(self.port, client_port, self.balance)
                if pid is not None:
                    break
                await asyncio.sleep(0.005)
            if pid is not None and counts[pid] >= share and tries < 30 * self.n:
                spare.append(stream)
                continue
            if pid is not None:
                counts[pid] += 1
            self.streams.append(stream)
        for reader, writer in spare:
            writer.close()

    async def close(self):
        for reader, writer in self.streams:
            writer.close()
        for reader, writer in self.streams:
            try:
                await writer.wait_closed()
            except OSError:
                pass


async def run_load(conns: Connections, requests: list[bytes], count: int, seconds: float) -> dict:
    """Send `count` of `requests` (in order, each once) over the connections, a closed loop, until the
    count is done or `seconds` are up; the latencies, errors and elapsed time."""
    latencies: list[float] = []
    errors: list[str] = []
    statuses: dict[int, int] = {}
    state = {"next": 0}
    start = time.perf_counter()
    stop_at = start + seconds
    clock = time.perf_counter

    async def loop(slot: int):
        stream = conns.streams[slot]
        while state["next"] < count and clock() < stop_at:
            i = state["next"]
            state["next"] = i + 1
            t0 = clock()
            try:
                stream[1].write(requests[i])
                status, body, closing = await read_response(stream[0])
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                stream[1].close()
                stream[:] = await asyncio.open_connection(HOST, conns.port)
                continue
            latencies.append(clock() - t0)
            statuses[status] = statuses.get(status, 0) + 1
            if status >= 400:
                errors.append(f"{status}: {body[:200].decode(errors='replace')}")
            if closing:
                stream[1].close()
                stream[:] = await asyncio.open_connection(HOST, conns.port)

    tasks = [asyncio.ensure_future(loop(s)) for s in range(len(conns.streams))]
    done, pending = await asyncio.wait(tasks, timeout=seconds + 30)
    for task in pending:  # no answer in time: counted as errors, connections replaced
        task.cancel()
        errors.append("no answer before the time cap")
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
        await conns.close()
        conns.streams = []
        await conns.open()
    for task in done:
        if task.exception():
            errors.append(f"client: {task.exception()!r}")
    elapsed = time.perf_counter() - start
    return {"latencies": latencies, "errors": errors, "elapsed": elapsed, "statuses": statuses}


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[k]


# -- one run: a backend at a worker count --------------------------------------------------------
def mixed_bodies(n: int, seed: int) -> list[dict]:
    out = subprocess.run([PY, str(MIXED), str(n), str(seed)], capture_output=True, text=True, check=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def evaluate_requests(mixed: list[dict], prefix: str, n: int, path: str, token: str | None) -> list[bytes]:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    out = []
    for i in range(n):
        body = dict(mixed[i % len(mixed)], id=f"{prefix}-{i}")
        out.append(http_request("POST", path, json.dumps(body, ensure_ascii=False).encode(), headers))
    return out


def cert_requests(path: str, n: int) -> list[bytes]:
    bodies = [json.dumps({"text": t, "city": "毕节"}, ensure_ascii=False).encode() for t in CERT_TEXTS]
    return [http_request("POST", path, bodies[i % len(bodies)]) for i in range(n)]


def make_database(backend: str, folder: Path, tag: str) -> tuple[str, object]:
    """A fresh database URL and how to drop it."""
    if backend == "sqlite":
        path = folder / f"{tag}.sqlite"
        return f"sqlite:///{path}", lambda: [p.unlink(missing_ok=True) for p in folder.glob(f"{tag}.sqlite*")]
    import psycopg

    name = f"zhunru_bench_{os.getpid()}_{tag}"
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")

    def drop():
        with psycopg.connect(PG_BASE, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    base = PG_BASE.rpartition("/")[0]
    return f"{base}/{name}", drop


async def sequential_health(port: int, n: int) -> float:
    """p50 (ms) of GET /api/v1/health, one request at a time on one keep-alive connection."""
    conns = Connections(port, 1)
    await conns.open()
    run = await run_load(conns, [http_request("GET", "/api/v1/health")] * n, n, 10.0)
    await conns.close()
    return percentile(sorted(run["latencies"]), 0.5) * 1000


async def measure(server: Server, requests: list[bytes], opts):
    """Warm up, then the measured phase, on the same fresh connections."""
    w = opts.warmup
    conns = Connections(server.port, opts.concurrency, None if opts.no_balance else server.worker_pids())
    await conns.open()
    warm = await run_load(conns, requests[:w], w, opts.seconds)
    spread = connections_per_worker(server.port, server.worker_pids())
    with CpuMeter(descendants(server.proc.pid)) as cpu:
        measured = await run_load(conns, requests[w:], len(requests) - w, opts.seconds)
    await conns.close()
    return warm, measured, spread, cpu


def one_run(backend: str, workers: int, opts, folder: Path, env: dict, mixed: list[dict]) -> dict:
    from zhunru.log.store import DecisionLog
    from zhunru.office.accounts import Accounts

    tag = f"{backend[:2]}{workers}"
    url, drop = make_database(backend, folder, tag)
    servers = []
    result = {"backend": backend, "workers": workers, "endpoints": {}, "notes": []}
    try:
        accounts = Accounts(url)
        accounts.add("bench", "admin", "bench-password-1")
        token = accounts.add_token("bench", "bench")
        accounts.close()

        port, bare_port = free_port(), free_port()
        zhunru = Server([ZHUNRU, "serve", "--db", url, "--port", str(port), "--workers", str(workers)],
                        port, workers, env, folder / f"serve-{tag}.log")
        servers.append(zhunru)
        bare = None
        if not opts.no_bare_post:
            bare = Server([PY, str(Path(__file__).resolve()), "--serve-bare", str(bare_port), str(workers)],
                          bare_port, workers, env, folder / f"bare-{tag}.log")
            servers.append(bare)
        for server in servers:
            server.wait_ready()

        # one connection, one request at a time: the latency floor (and a check for stalled responses)
        for server in servers:
            lat = asyncio.run(sequential_health(server.port, 60))
            result.setdefault("one_connection_p50_ms", {})[
                "zhunru health GET" if server is zhunru else "bare POST app health GET"] = lat
            if lat > 20:
                result["notes"].append(
                    f"{server.log_path.name.split('-')[0]}: {lat:.1f} ms a request on one connection: responses wait "
                    "for delayed ACKs (no TCP_NODELAY: uvicorn binds the socket itself for --workers > 1, proto 0)")
        n, w = opts.count, opts.warmup
        logged_ok = 0
        rounds: dict[str, list[dict]] = {name: [] for name in ENDPOINTS if name in opts.endpoints}
        for rnd in range(opts.rounds):  # the endpoints in turn, round after round: slow drift hits them alike
            plan = {
                "health GET": (zhunru, "health", "/api/v1/health"),
                "bare POST": (bare, "cert", "/bare"),
                "cert check": (zhunru, "cert", "/api/v1/certificates/check"),
                "evaluate no-log": (zhunru, "evaluate", "/api/v1/evaluate?log=false"),
                "evaluate logged": (zhunru, "evaluate", "/api/v1/evaluate"),
            }
            for name in list(rounds):
                server, kind, path = plan[name]
                if server is None:
                    del rounds[name]
                    continue
                if kind == "health":
                    requests = [http_request("GET", path)] * (w + n)
                elif kind == "cert":
                    requests = cert_requests(path, w + n)
                else:
                    logged = name == "evaluate logged"
                    requests = evaluate_requests(mixed, f"{tag}-{rnd}-{'log' if logged else 'nolog'}", w + n, path,
                                                 token if logged else None)
                quiet = wait_quiet(opts.quiet) if opts.quiet > 0 else 0.0
                warm, measured, spread, cpu = asyncio.run(measure(server, requests, opts))
                lat = sorted(measured["latencies"])
                figures = {
                    "round": rnd + 1, "answered": len(lat), "errors": len(measured["errors"]),
                    "seconds": measured["elapsed"], "rps": len(lat) / measured["elapsed"],
                    "p50_ms": percentile(lat, 0.50) * 1000, "p99_ms": percentile(lat, 0.99) * 1000,
                    "statuses": measured["statuses"], "warmup_errors": len(warm["errors"]),
                    "connections_per_worker": spread, "cpu_client": cpu.client, "cpu_server": cpu.server,
                    "cpu_postgres": cpu.pg, "cpu_other": cpu.other, "machine_busy": cpu.machine,
                    "quiet_before": quiet, "first_errors": (warm["errors"] + measured["errors"])[:5],
                }
                rounds[name].append(figures)
                if name == "evaluate logged":
                    logged_ok += warm["statuses"].get(200, 0) + measured["statuses"].get(200, 0)
                print(f"  [{backend} ×{workers} round {rnd + 1}] {name:<16} {figures['rps']:>8,.0f} req/s  "
                      f"p50 {figures['p50_ms']:.1f} ms  p99 {figures['p99_ms']:.1f} ms  errors {figures['errors']}  "
                      f"conns/worker {'+'.join(map(str, spread))}  other cpu {cpu.other * 100:.0f}%"
                      f"{'' if quiet is not None else '  (machine busy before)'}", file=sys.stderr, flush=True)
        result["endpoints"] = summarise(rounds)
    finally:
        for server in servers:
            server.stop()
        for server in servers:
            for line in server.problems()[:5]:
                result["notes"].append(f"{server.log_path.name}: {line[:300]}")
    try:
        if "evaluate logged" in result["endpoints"]:
            log = DecisionLog(url)
            rows = log.count()
            checked, problem = log.verify()
            log.close()
            result["log"] = {"rows": rows, "logged_200": logged_ok, "checked": checked, "problem": problem}
            if rows != logged_ok or problem:
                result["notes"].append(f"log: {rows} rows for {logged_ok} logged 200s; verify: {problem}")
    finally:
        drop()
    return result


# -- the report ----------------------------------------------------------------------------------
def summarise(rounds: dict[str, list[dict]]) -> dict[str, dict]:
    """Per endpoint, the figures of its median round (by req/s), the range over rounds, the errors
    of all rounds, and its ratios to the baselines: the median over rounds of the ratio in the round."""
    out = {}
    for name, figs in rounds.items():
        ordered = sorted(figs, key=lambda f: f["rps"])
        median = dict(ordered[(len(ordered) - 1) // 2])
        median["rps_range"] = (ordered[0]["rps"], ordered[-1]["rps"])
        median["errors_all_rounds"] = sum(f["errors"] for f in figs)
        median["busy_rounds"] = sum(1 for f in figs if f["quiet_before"] is None)
        median["rounds"] = figs
        for base in ("health GET", "bare POST"):
            if base in rounds:
                ratios = sorted(f["rps"] / b["rps"] for f, b in zip(figs, rounds[base]))
                median[f"ratio {base}"] = ratios[(len(ratios) - 1) // 2] if len(ratios) % 2 else \
                    (ratios[len(ratios) // 2 - 1] + ratios[len(ratios) // 2]) / 2
        out[name] = median
    return out


def report(runs: list[dict], opts) -> list[str]:
    out = ["", (f"## zhunru serve under load: {opts.rounds} round(s) of {opts.count:,} requests an endpoint (cap "
                f"{opts.seconds:g} s) after {opts.warmup:,} to warm up, {opts.concurrency} in flight, loopback"),
           (f"{'backend':<10} {'wk':>2} {'endpoint':<16} {'answered':>8} {'err':>4} {'req/s':>7} {'range':>11} "
           f"{'p50 ms':>7} {'p99 ms':>7} {'÷health':>7} {'÷bare':>6} {'ms/req':>6}  cpu: {'client':>6} {'server':>6} "
           f"{'pg':>5} {'other':>5} {'machine':>7}  conns/worker")]
    for run in runs:
        eps = run["endpoints"]
        for name in ENDPOINTS:
            if name not in eps:
                continue
            f = eps[name]
            r_h = f"{f['ratio health GET']:.2f}" if "ratio health GET" in f else "-"
            r_b = f"{f['ratio bare POST']:.2f}" if "ratio bare POST" in f else "-"
            pg = f"{f['cpu_postgres'] * 100:.0f}%" if run["backend"] == "postgresql" else "-"
            span = f"{f['rps_range'][0]:,.0f}–{f['rps_range'][1]:,.0f}"
            mark = "!" if f["busy_rounds"] else " "
            per_request = (f["cpu_server"] + f["cpu_postgres"]) / f["rps"] * 1000
            out.append(f"{run['backend']:<10} {run['workers']:>2} {mark}{name:<15} {f['answered']:>8,} "
                       f"{f['errors_all_rounds']:>4} {f['rps']:>7,.0f} {span:>11} {f['p50_ms']:>7.1f} "
                       f"{f['p99_ms']:>7.1f} {r_h:>7} {r_b:>6} {per_request:>6.2f}  cpu: {f['cpu_client'] * 100:>5.0f}% "
                       f"{f['cpu_server'] * 100:>5.0f}% {pg:>5} {f['cpu_other'] * 100:>4.0f}% "
                       f"{f['machine_busy'] * 100:>6.0f}%  {'+'.join(map(str, f['connections_per_worker']))}")
        if run.get("one_connection_p50_ms"):
            out.append(f"{'':<13} one connection, one request at a time, GET /api/v1/health p50: " + ", ".join(
                f"{v:.2f} ms ({k.replace(' health GET', '')})" for k, v in run["one_connection_p50_ms"].items()))
        if "log" in run:
            lg = run["log"]
            out.append(f"{'':<13} log after the run: {lg['rows']:,} rows for {lg['logged_200']:,} logged 200s; "
                       f"verify {'ok' if lg['problem'] is None else lg['problem']} ({lg['checked']:,} checked)")
        for note in run["notes"]:
            out.append(f"{'':<13} note: {note}")
    out += [("req/s, answered, p50/p99, cpu, conns/worker: the round with the median req/s; range: lowest–highest "
            "req/s over the rounds; err: all rounds (status ≥ 400, reset, no answer in time); ÷health, ÷bare: the "
            "median over rounds of req/s ÷ that baseline's req/s in the same round; ms/req: CPU milliseconds a "
             "request, server and PostgreSQL (the cost that decides throughput once the machine is saturated)"),
            ("cpu: share of one core over the measured phase — client (this process), server (its process tree), "
            "pg (all postgres processes), other (everything else on the machine: noise); machine: busy share of all "
            f"{os.cpu_count()} cores; ! the machine was busy (other processes) before a round of the endpoint started")]
    out.append("")
    out.append("## Bars (req/s ÷ the bare endpoint's, same run and worker count)")
    for run in runs:
        eps = run["endpoints"]
        for name, bar in BARS.items():
            if name not in eps:
                continue
            for base in ("health GET", "bare POST"):
                if base not in eps:
                    continue
                ratio = eps[name][f"ratio {base}"]
                errs = eps[name]["errors_all_rounds"]
                out.append(f"[{'ok' if ratio >= bar and not errs else 'MISSED'}] {run['backend']} ×{run['workers']}: "
                           f"{name} {eps[name]['rps']:,.0f} req/s = {ratio:.3f}× {base} {eps[base]['rps']:,.0f} "
                           f"(bar ≥ {bar}){f'; {errs} errors' if errs else ''}")
    return out


def main(argv=None) -> None:
    global PG_BASE
    parser = argparse.ArgumentParser(description="zhunru serve under load on loopback (see benchmarks/README.md)")
    parser.add_argument("--workers", default="1,2,4", help="worker process counts for PostgreSQL (default 1,2,4)")
    parser.add_argument("--db", default="postgresql,sqlite",
                        help="backends, comma-separated: postgresql (a fresh database per run on --pg) and/or sqlite "
                             "(a fresh file in /tmp; run with --sqlite-workers). Default postgresql,sqlite")
    parser.add_argument("--sqlite-workers", default="1", help="worker counts for SQLite (default 1)")
    parser.add_argument("--pg", default=PG_BASE, metavar="URL",
                        help=f"a PostgreSQL database to connect to for CREATE/DROP DATABASE (default {PG_BASE}; "
                             "env ZHUNRU_BENCH_PG)")
    parser.add_argument("--count", type=int, default=2000,
                        help="measured requests an endpoint in each round (default 2000)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds over the endpoints; the median round is reported (default 3)")
    parser.add_argument("--warmup", type=int, default=200,
                        help="requests an endpoint before measuring, each round (default 200)")
    parser.add_argument("--seconds", type=float, default=20.0,
                        help="time cap of an endpoint's measured phase, and of its warm-up (default 20)")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight (connections; default 32)")
    parser.add_argument("--endpoints", default=",".join(ENDPOINTS), help=f"subset of: {', '.join(ENDPOINTS)}")
    parser.add_argument("--quiet", type=float, default=3.0, metavar="SECONDS",
                        help="before each endpoint, wait up to this long for the machine to be idle (under 10%% of a "
                             "core busy for 1 s); endpoints that started on a busy machine are marked ! (default 3; "
                             "0: don't wait)")
    parser.add_argument("--no-balance", action="store_true",
                        help="don't spread the connections evenly over the workers (see Connections)")
    parser.add_argument("--no-bare-post", action="store_true", help="skip the separate bare POST app")
    parser.add_argument("--seed", type=int, default=7, help="mixed_requests.py seed (default 7)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--serve-bare", nargs=2, type=int, metavar=("PORT", "WORKERS"), help=argparse.SUPPRESS)
    opts = parser.parse_args(argv)
    if opts.serve_bare:
        return serve_bare(*opts.serve_bare)
    PG_BASE = opts.pg
    opts.endpoints = [e.strip() for e in opts.endpoints.split(",") if e.strip()]
    unknown = set(opts.endpoints) - set(ENDPOINTS)
    if unknown:
        parser.error(f"--endpoints: unknown {', '.join(sorted(unknown))}")
    backends = [b.strip() for b in opts.db.split(",") if b.strip()]
    plan = []
    for backend in backends:
        if backend not in ("postgresql", "sqlite"):
            parser.error(f"--db: {backend!r} is not postgresql or sqlite")
        counts = opts.workers if backend == "postgresql" else opts.sqlite_workers
        plan += [(backend, int(w)) for w in counts.split(",") if w.strip()]

    with tempfile.TemporaryDirectory(prefix="zhunru-load-") as tmp:
        folder = Path(tmp)
        # the servers' (and this process's) ruleset cache and its key stay in the temporary folder
        for var, sub in (("XDG_CACHE_HOME", "cache"), ("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data")):
            os.environ[var] = str(folder / sub)
        os.environ.setdefault("ZHUNRU_PLUGINS", "")  # no third-party plugins (built-ins always load)
        env = dict(os.environ)
        mixed = mixed_bodies(min(opts.count + opts.warmup, 50_000), opts.seed)  # ids are made unique per use
        with open("/proc/loadavg") as f:
            load = f.read().split()[0]
        print(f"# {os.cpu_count()} CPUs, Python {platform.python_version()}, load average {load}: "
              f"{' '.join(sys.argv)}", file=sys.stderr, flush=True)
        started = time.perf_counter()
        runs = []
        for backend, workers in plan:
            runs.append(one_run(backend, workers, opts, folder, env, mixed))
        lines = report(runs, opts)
        lines.append(f"(whole run {time.perf_counter() - started:.0f} s)")
        print("\n".join(lines))
        if opts.json:
            Path(opts.json).write_text(json.dumps({"options": vars(opts), "runs": runs}, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
