"""How long the Merkle tree over the log takes at size (engine/log/merkle.py, `zhunru log prove`).

Builds an SQLite log of N rows (default 1,000,000) with a correct hash chain, written straight
into the log's tables (deciding a million requests is not what is measured), then times:

- the Merkle root of N leaves already in memory (the hashing alone);
- `DecisionLog.checkpoint`: the row hashes streamed in pages from SQLite, the root, the signature;
- `proof.build` of a row in the middle (one streamed pass, the audit path), in process;
- `zhunru log prove ID --format json` and `zhunru log prove --check` as the console script
  (start-up included).

    .venv/bin/python benchmarks/merkle.py [N] [--db PATH]
"""
from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def build_log(path: Path, n: int) -> None:
    from zhunru.log.store import FORMAT, STORED_FIELDS, DecisionLog, chain_hash, content_digest
    from zhunru.log.writer import GENESIS

    DecisionLog(f"sqlite:///{path}").close()  # the tables
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    marks = ", ".join("?" for _ in STORED_FIELDS)
    insert = f"INSERT INTO zhunru_log ({', '.join(STORED_FIELDS)}) VALUES ({marks})"
    prev, batch = GENESIS, []
    request = json.dumps({"id": "x", "city": "bijie", "date": "2021-05-01", "kind": "task", "matter": "m"})
    for seq in range(1, n + 1):
        entry = {"entry_id": f"e{seq:012d}", "entry_type": "decision", "request_id": f"r{seq}",
                 "decision_key": f"r{seq}", "refers_to": None, "act_key": None,
                 "created_at": "2026-01-01T00:00:00.000000+00:00", "city": "bijie", "ruleset": "bijie@2017.1",
                 "ruleset_sha256": "0" * 64, "outcome": "rejected", "kind": "task", "request_date": "2021-05-01",
                 "department": "d", "matter": "m", "request_json": request, "payload_json": "{}"}
        entry.update(seq=seq, prev_hash=prev, fmt=FORMAT)
        entry["hash"] = prev = chain_hash(seq, prev, content_digest(entry, []))
        batch.append(tuple(entry.get(k) for k in STORED_FIELDS))
        if len(batch) == 20000:
            conn.executemany(insert, batch)
            batch = []
    conn.executemany(insert, batch)
    conn.execute("INSERT INTO zhunru_head (id, seq, hash) VALUES (1, ?, ?)", (n, prev))
    conn.commit()
    conn.close()


def timed(label: str, fn):
    start = time.perf_counter()
    result = fn()
    print(f"{label:<58} {time.perf_counter() - start:8.2f} s", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, help="The SQLite file to build (default: a temporary one).")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="zhunru-merkle-")
    path = args.db or Path(folder) / "log.sqlite"
    os.environ["ZHUNRU_SIGNING_KEY"] = str(Path(folder) / "signing.key")

    from zhunru.log import checkpoint as checkpoints
    from zhunru.log import merkle
    from zhunru.log import proof as proofs
    from zhunru.log.store import DecisionLog

    print(f"{args.n:,} rows, Python {sys.version.split()[0]}")
    if not path.exists():
        timed(f"build the log ({path})", lambda: build_log(path, args.n))
    leaves = [os.urandom(32) for _ in range(args.n)]
    timed("Merkle root of the leaves in memory", lambda: merkle.root(leaves))
    store = DecisionLog(f"sqlite:///{path}")
    key = checkpoints.signing_key()
    timed("log checkpoint (stream row hashes, root, sign)", lambda: store.checkpoint(key))
    middle = str(args.n // 2 + 1)
    doc = timed(f"proof.build of row {middle} (in process)", lambda: proofs.build(store, middle))
    print(f"  audit path: {len(doc['audit_path'])} hashes; document {len(json.dumps(doc)):,} bytes")
    exe = str(Path(sys.executable).with_name("zhunru"))
    proof_file = Path(folder) / "proof.json"

    def prove():
        done = subprocess.run([exe, "log", "prove", middle, "--format", "json", "--db", str(path)],
                              capture_output=True, text=True, check=True)
        proof_file.write_text(done.stdout, encoding="utf-8")

    timed("zhunru log prove ID --format json (console script)", prove)
    public = checkpoints.public_hex(key)
    timed("zhunru log prove --check (console script)", lambda: subprocess.run(
        [exe, "log", "prove", "--check", str(proof_file), "--key", public], capture_output=True, check=True))
    store.close()


if __name__ == "__main__":
    main()
