"""Inclusion proofs (`zhunru log prove`): one entry proven in the log without the whole log.

A proof is one JSON document a third party can keep: the row as stored (every value its row hash
covers, its attachments), its place (seq; leaf index seq - 1), the RFC 6962 audit path from its
leaf to the Merkle root of the first `tree_size` rows (merkle.py), and the signed checkpoint
(version 2, checkpoint.py) that signs that root. `check` needs nothing else — no database, no
network — only the public key the reader trusts: it recomputes the row hash from the row's
content, the leaf from the row hash, the root from the leaf and the path, and checks that the
checkpoint signs that root under that key.

`build` refuses to hand out a proof that would not hold: the row must still give its own hash,
and the rows 1..tree_size must still give the root the checkpoint signed. A row changed in the
database after the checkpoint therefore makes `log prove` fail (exit 1) rather than print a proof
that mismatches: changed alone, the row no longer gives its hash; changed with every later hash
recomputed, the leaves give another root than the one signed. (A proof printed *before* the
change still checks: it proves what the log held when the checkpoint was signed, which is the
point of keeping it.)

What a proof shows: that the key's holder signed, at the checkpoint's time, a log whose row
`seq` is exactly this content. What it does not show: that nothing came after it (an approval,
a withdrawal: prove that entry too, or read the log), that the decision was right under its
ruleset (`zhunru log replay`), or that the key is the district office's (the reader must get
the key from them).
"""
from __future__ import annotations

import json

from zhunru.errors import CheckFailed, InputError
from zhunru.log import checkpoint as checkpoints
from zhunru.log import merkle
from zhunru.log.checkpoint import Checkpoint

FORMAT = "zhunru-inclusion-proof/1"
MAX_PROOF = 80 * 1024 * 1024  # a row holds one request (at most 64 MiB) and its decision
HEX = frozenset("0123456789abcdef")


def choose(store, seq: int, given: list[Checkpoint] | None, where: str = "--checkpoint") -> Checkpoint:
    """The checkpoint to prove row `seq` under: the latest given (or stored in the log) that
    signs a Merkle root and covers the row. CheckFailed when there is none."""
    if given is None:
        found = store.latest_checkpoint(covering=seq, with_root=True)
        if found is None:
            raise CheckFailed(f"ID: no signed checkpoint with a Merkle root covers row {seq} yet; run "
                              "`zhunru log checkpoint`, then prove again")
        return found
    rooted = [cp for cp in given if cp.root is not None]
    covering = [cp for cp in rooted if cp.count >= seq]
    if not covering:
        why = (f"they end at row {max(cp.count for cp in rooted)}" if rooted
               else f"they are {checkpoints.VERSION_1}, without a Merkle root")
        raise CheckFailed(f"{where}: no checkpoint there covers row {seq} ({why}); run `zhunru log checkpoint` "
                          "and prove against the new one")
    chosen = max(covering, key=lambda cp: (cp.count, cp.at))
    try:
        chosen.check_signature()
    except InputError as exc:
        raise CheckFailed(str(exc)) from None
    return chosen


def build(store, ident: str, given: list[Checkpoint] | None = None) -> dict:
    """The proof document for the entry `ident` (entry id, request id or row number)."""
    from sqlalchemy import select
    from zhunru.log.store import (
        ATTACHMENT_FIELDS,
        STORED_FIELDS,
        Attachment,
        LogEntry,
        _rehash,
        row_hashes,
    )

    entry = store.find(ident)
    if entry is None:
        raise InputError(f"ID: no log entry {ident!r}")
    seq = entry.seq
    cp = choose(store, seq, given)
    with store._snapshot() as conn:  # the row and the leaves from one state of the log
        found = conn.execute(select(LogEntry.__table__).where(LogEntry.seq == seq)).mappings().first()
        if found is None:
            raise CheckFailed(f"row {seq}: gone from the log while it was being proven")
        row = {k: found[k] for k in STORED_FIELDS}
        atts = [{k: a[k] for k in ATTACHMENT_FIELDS} for a in conn.execute(
            select(Attachment.__table__).where(Attachment.entry_seq == seq).order_by(Attachment.position)).mappings()]
        if _rehash(row, atts) != row["hash"]:
            raise CheckFailed(f"row {seq}: its content no longer gives its hash (it was changed in the database); "
                              "no proof given (zhunru log verify)")
        try:
            ranges = merkle.path_ranges(seq - 1, cp.count)
            hashes = merkle.range_hashes(row_hashes(conn, cp.count), ranges)
        except ValueError as exc:
            raise CheckFailed(f"log: {exc}; the rows the checkpoint of {cp.at} covers are not all there "
                              "(zhunru log verify --against)") from None
    path = [hashes[r] for r in ranges]
    root = merkle.root_from_path(seq - 1, cp.count, merkle.leaf_hash(bytes.fromhex(row["hash"])), path)
    if root is None or root.hex() != cp.root:
        raise CheckFailed(f"log: rows 1..{cp.count} no longer give the Merkle root the checkpoint of {cp.at} "
                          f"signed (a row up to row {cp.count} was changed, removed or reordered since); no proof "
                          "given (zhunru log verify --against)")
    return {
        "proof": FORMAT,
        "entry_id": row["entry_id"], "entry_type": row["entry_type"], "seq": seq, "leaf_index": seq - 1,
        "row_hash": row["hash"],
        "row": row, "attachments": atts,
        "tree_size": cp.count, "root": cp.root,
        "audit_path": [h.hex() for h in path],
        "checkpoint": cp.as_dict(),
        "algorithm": "RFC 6962 §2.1, SHA-256: leaf = H(0x00 || row_hash bytes), node = H(0x01 || left || right)",
    }


# -- checking a proof offline ----------------------------------------------------------------------
def read(source: str) -> dict:
    """The proof document in file `source` (or `-`): a regular file, bounded. InputError naming
    --check for anything that is not one JSON object."""
    import sys

    from zhunru.safe_io import read_regular

    if source == "-":
        raw = sys.stdin.buffer.read(MAX_PROOF + 1)
        if len(raw) > MAX_PROOF:
            raise InputError(f"--check: over {MAX_PROOF} bytes: not a proof zhunru printed")
    else:
        raw = read_regular(source, MAX_PROOF, "--check")
    try:
        doc = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise InputError("--check: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"--check: not JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(doc, dict):
        raise InputError("--check: not a JSON object (expected the output of zhunru log prove --format json)")
    return doc


def _field(doc: dict, name: str, kind, label: str | None = None):
    label = label or name
    if name not in doc:
        raise InputError(f"{label}: missing from the proof")
    value = doc[name]
    if kind is int:
        if not isinstance(value, int) or isinstance(value, bool) or value < 0 or value >= 2 ** 63:
            raise InputError(f"{label}: a whole number from 0 expected")
    elif kind == "hex":
        if not isinstance(value, str) or len(value) != 64 or not set(value) <= HEX:
            raise InputError(f"{label}: 64 lower-case hex digits expected")
    elif not isinstance(value, kind):
        raise InputError(f"{label}: {'a JSON object' if kind is dict else 'a JSON array'} expected")
    return value


def _stored(value, label: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (str, int))):
        raise InputError(f"{label}: text, a whole number or null expected (as the log stores it)")


def check(doc: dict, key_hex: str) -> tuple[dict, str | None]:
    """Check a proof document against the public key `key_hex` with nothing else: (what it
    claims, the first thing that does not hold or None). InputError naming the field for a
    document that is not a proof."""
    from zhunru.log.store import ATTACHMENT_FIELDS, STORED_FIELDS, _rehash
    from zhunru.log.store import FORMAT as ROW_FORMAT

    if doc.get("proof") != FORMAT:
        raise InputError(f"proof: {str(doc.get('proof'))[:60]!r} is not {FORMAT!r} (the output of zhunru log prove "
                         "--format json)")
    seq = _field(doc, "seq", int)
    index = _field(doc, "leaf_index", int)
    size = _field(doc, "tree_size", int)
    row_hash = _field(doc, "row_hash", "hex")
    root = _field(doc, "root", "hex")
    path = _field(doc, "audit_path", list)
    for i, element in enumerate(path):
        _field({"x": element}, "x", "hex", f"audit_path[{i}]")
    row = _field(doc, "row", dict)
    for name in STORED_FIELDS:
        if name not in row:
            raise InputError(f"row.{name}: missing from the proof")
        _stored(row[name], f"row.{name}")
    attachments = _field(doc, "attachments", list)
    for i, att in enumerate(attachments):
        if not isinstance(att, dict):
            raise InputError(f"attachments[{i}]: a JSON object expected")
        for name in ATTACHMENT_FIELDS:
            if name not in att:
                raise InputError(f"attachments[{i}].{name}: missing from the proof")
            _stored(att[name], f"attachments[{i}].{name}")
    if row["fmt"] not in (None, ROW_FORMAT):
        raise InputError(f"row.fmt: {row['fmt']!r} is not a row format zhunru writes")
    if not isinstance(doc.get("checkpoint"), dict):
        raise InputError("checkpoint: a JSON object expected (the signed checkpoint)")
    cp = checkpoints.parse(json.dumps(doc["checkpoint"]), "checkpoint")[0]

    claim = {"entry_id": row.get("entry_id"), "entry_type": row.get("entry_type"), "outcome": row.get("outcome"),
             "seq": seq, "tree_size": size, "checkpoint_at": cp.at, "key": cp.key}
    if cp.key != key_hex:
        return claim, f"checkpoint: signed by key {cp.key[:16]}…, not by the key given (--key {key_hex[:16]}…)"
    try:
        cp.check_signature()
    except InputError:
        return claim, "checkpoint: its signature does not hold under the key (the checkpoint was changed)"
    if cp.root is None:
        return claim, f"checkpoint: a {checkpoints.VERSION_1} checkpoint signs no Merkle root; nothing to prove against"
    if (size, root) != (cp.count, cp.root):
        return claim, (f"tree_size/root: the proof says {size} rows, root {root[:16]}…; the checkpoint signs "
                       f"{cp.count} rows, root {cp.root[:16]}…")
    if row["seq"] != seq or index != seq - 1:
        return claim, f"seq/leaf_index: the row says row {row['seq']}, the proof row {seq}, leaf {index}"
    if not 1 <= seq <= size:
        return claim, f"seq: row {seq} is not among the {size} rows the checkpoint covers"
    if row["hash"] != row_hash:
        return claim, "row_hash: not the hash the row carries"
    if _rehash(row, [dict(a) for a in attachments]) != row_hash:
        return claim, (f"row: its content does not give its row hash {row_hash[:16]}… (the row or its attachments "
                       "were changed)")
    if not merkle.verify_inclusion(index, size, merkle.leaf_hash(bytes.fromhex(row_hash)),
                                   [bytes.fromhex(p) for p in path], bytes.fromhex(cp.root)):
        return claim, (f"audit_path: does not lead from row {seq} to the signed root of {size} rows (a path "
                       "element, the index or the row was changed)")
    return claim, None


def parse_key(value: str | None) -> str:
    """The --key of `log prove --check`: 64 hex digits (zhunru log key)."""
    key = (value or "").strip().lower()
    if len(key) != 64 or not set(key) <= HEX:
        raise InputError("--key: the public key you trust, 64 hex digits (zhunru log key, published by the "
                         "district office)")
    return key
