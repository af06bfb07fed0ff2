"""`zhunru log prove` (issue 11): one entry proven included under a signed checkpoint's Merkle root,
and the proof checked by a third party with nothing but the public key.

On a real SQLite file and the real PostgreSQL server, with the console script as a subprocess.
The check runs with ZHUNRU_DB pointing at a server that does not exist: it must need no
database. Tampering is done as a holder of the proof (or of the database) would: a path element,
the row's content, its index, the checkpoint's signature, another key; a row changed in the
database after the checkpoint (alone, or with every later hash recomputed) makes `log prove`
refuse, while a proof printed before the change still checks."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, text
from test_checkpoint import rechain, sql

from helpers import bijie_request, run_cli, write_json, zhunru
from zhunru.log import checkpoint as checkpoints
from zhunru.log.store import chain_hash, content_digest, normalise_url

NO_DATABASE = {"ZHUNRU_DB": "postgresql://nobody@127.0.0.1:9/nowhere"}


@pytest.fixture(autouse=True)
def key_file(tmp_path, monkeypatch):
    monkeypatch.setenv("ZHUNRU_SIGNING_KEY", str(tmp_path / "keys" / "signing.key"))


def log_requests(tmp_path, db_url, ids):
    for rid in ids:
        path = write_json(tmp_path / f"{rid}.json", bijie_request(id=rid, matter="入户经济普查"))
        assert zhunru("evaluate", path, "--db", db_url).exit_code == 0


def checkpoint(tmp_path, db_url, name="cp.jsonl") -> tuple[str, dict]:
    done = zhunru("log", "checkpoint", "--db", db_url)
    assert done.exit_code == 0, done.output
    path = tmp_path / name
    with path.open("a", encoding="utf-8") as out:
        out.write(done.output)
    return str(path), json.loads(done.output)


def prove(tmp_path, db_url, ident, *extra, name="proof.json") -> tuple[int, str, dict | None]:
    done = run_cli("log", "prove", ident, "--db", db_url, "--format", "json", *extra)
    if done.returncode:
        return done.returncode, done.stderr.strip(), None
    (tmp_path / name).write_text(done.stdout, encoding="utf-8")
    return 0, str(tmp_path / name), json.loads(done.stdout)


def check(tmp_path, doc: dict, key: str, name="checked.json"):
    """`log prove --check` as a subprocess with no usable database: (exit status, its one line)."""
    path = tmp_path / name
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    done = run_cli("log", "prove", "--check", str(path), "--key", key, env=NO_DATABASE)
    out = (done.stdout + done.stderr).strip()
    assert out.count("\n") == 0, out
    return done.returncode, out


def public_key() -> str:
    return checkpoints.public_hex(checkpoints.signing_key(create=False))


def test_prove_and_check_and_a_rewrite_after_the_checkpoint(tmp_path, db_url):
    log_requests(tmp_path, db_url, ["a", "b", "c", "d", "e"])
    code, message, _ = prove(tmp_path, db_url, "c")
    assert code == 1 and "no signed checkpoint with a Merkle root covers row 3 yet" in message
    assert "zhunru log checkpoint" in message and message.count("\n") == 0

    cp_file, cp = checkpoint(tmp_path, db_url)
    assert cp["version"] == "zhunru-checkpoint/2" and len(cp["root"]) == 64
    key = public_key()
    code, saved, doc = prove(tmp_path, db_url, "c")
    assert code == 0
    assert (doc["seq"], doc["leaf_index"], doc["tree_size"], doc["root"]) == (3, 2, 5, cp["root"])
    assert doc["checkpoint"] == cp and len(doc["audit_path"]) == 3
    assert doc["row"]["request_id"] == "c" and doc["row"]["hash"] == doc["row_hash"]
    assert json.loads(doc["row"]["request_json"])["id"] == "c"  # the entry's own JSON, to read
    assert check(tmp_path, doc, key) == (0, f"证明成立 proof holds: decision {doc['entry_id']} ({doc['row']['outcome']}) is row 3 "
                                            f"of the 5-row log signed at {cp['at']} by key {key[:16]}…")

    # the last row, by row number; the text form names the same path
    code, _, last = prove(tmp_path, db_url, "5", name="last.json")
    assert code == 0 and last["leaf_index"] == 4 and check(tmp_path, last, key)[0] == 0
    text_form = run_cli("log", "prove", "c", "--db", db_url)
    assert text_form.returncode == 0 and all(p in text_form.stdout for p in doc["audit_path"])

    # a later row is covered only by a later checkpoint; an earlier checkpoint kept outside still proves a
    log_requests(tmp_path, db_url, ["f"])
    code, message, _ = prove(tmp_path, db_url, "f", "--checkpoint", cp_file)
    assert code == 1 and "--checkpoint: no checkpoint there covers row 6 (they end at row 5)" in message
    checkpoint(tmp_path, db_url, "later.jsonl")
    code, _, early = prove(tmp_path, db_url, "a", "--checkpoint", cp_file, name="early.json")
    assert code == 0 and early["tree_size"] == 5 and check(tmp_path, early, key)[0] == 0
    code, _, latest = prove(tmp_path, db_url, "a", name="latest.json")
    assert code == 0 and latest["tree_size"] == 6

    # Row 3 changed in the database, alone: it no longer gives its own hash, so no proof is given.
    sql(db_url, "UPDATE zhunru_log SET outcome = 'admitted' WHERE seq = 3")
    code, message, _ = prove(tmp_path, db_url, "c")
    assert code == 1 and "row 3: its content no longer gives its hash" in message
    # … and with every later hash recomputed (the chain is perfect again): the leaves now give
    # another root than the one signed, for this row and for every other.
    rechain(db_url, 3)
    assert run_cli("log", "verify", "--db", db_url).returncode == 0  # the chain alone cannot tell
    for ident in ("c", "a", "f"):
        code, message, _ = prove(tmp_path, db_url, ident)
        assert code == 1 and "no longer give the Merkle root the checkpoint of" in message, message
    # The proof printed before the rewrite still checks: it is what the log held when signed.
    assert check(tmp_path, doc, key)[0] == 0


def test_a_tampered_proof_fails_with_one_line(tmp_path, sqlite_url, monkeypatch):
    log_requests(tmp_path, sqlite_url, ["a", "b", "c", "d", "e", "f", "g"])
    checkpoint(tmp_path, sqlite_url)
    key = public_key()
    code, _, doc = prove(tmp_path, sqlite_url, "c")
    assert code == 0 and check(tmp_path, doc, key)[0] == 0

    def changed(**edits) -> dict:
        out = json.loads(json.dumps(doc))
        for dotted, value in edits.items():
            target, *path = dotted.split("__")
            holder = out
            for part in path:
                holder = holder[target]
                target = int(part) if part.isdigit() else part
            holder[target] = value
        return out

    path1 = doc["audit_path"][1]
    forged_row = dict(doc["row"], outcome="admitted")
    forged_hash = chain_hash(3, doc["row"]["prev_hash"], content_digest(forged_row, doc["attachments"]))
    signature = doc["checkpoint"]["signature"]
    cases = [
        (changed(audit_path__1=path1[:-1] + ("0" if path1[-1] != "0" else "1")), "audit_path: does not lead from row 3"),
        (changed(row__outcome="admitted"), "row: its content does not give its row hash"),
        # the content and its row hash changed together: the leaf no longer leads to the root
        (changed(row=dict(forged_row, hash=forged_hash), row_hash=forged_hash), "audit_path: does not lead"),
        (changed(leaf_index=3), "seq/leaf_index: the row says row 3, the proof row 3, leaf 3"),
        (changed(seq=4, leaf_index=3, row__seq=4), "row: its content does not give its row hash"),
        (changed(tree_size=8), "tree_size/root: the proof says 8 rows"),
        (changed(checkpoint__signature=signature[:-2] + ("00" if signature[-2:] != "00" else "11")),
         "checkpoint: its signature does not hold under the key"),
        (changed(checkpoint__root="0" * 64, root="0" * 64), "checkpoint: its signature does not hold"),
    ]
    for bad, message in cases:
        code, out = check(tmp_path, bad, key)
        assert code == 1 and out.startswith("证明不成立 proof does not hold: ") and message in out, (message, out)

    # the checkpoint signed by someone else's key, and the right proof against a key not its own
    other = "ab" * 32
    code, out = check(tmp_path, doc, other)
    assert code == 1 and "checkpoint: signed by key" in out and "not by the key given" in out
    monkeypatch.setenv("ZHUNRU_SIGNING_KEY", str(tmp_path / "attacker.key"))
    checkpoint(tmp_path, sqlite_url, "theirs.jsonl")
    code, _, theirs = prove(tmp_path, sqlite_url, "c", name="theirs.json")
    assert code == 0 and check(tmp_path, theirs, public_key())[0] == 0
    assert check(tmp_path, theirs, key)[0] == 1


def test_bad_input_is_exit_2_naming_the_field(tmp_path, sqlite_url):
    log_requests(tmp_path, sqlite_url, ["a", "b"])
    checkpoint(tmp_path, sqlite_url)
    key = public_key()
    code, _, doc = prove(tmp_path, sqlite_url, "a")
    assert code == 0
    unknown = run_cli("log", "prove", "nope", "--db", sqlite_url)
    assert unknown.returncode == 2 and unknown.stderr.strip() == "zhunru: error: ID: no log entry 'nope'"

    def without(name):
        return {k: v for k, v in doc.items() if k != name}

    files = {
        "notjson.json": ("{not json", "--check: not JSON"),
        "array.json": ("[1, 2]", "--check: not a JSON object"),
        "other.json": (json.dumps({"hello": 1}), "proof: 'None' is not 'zhunru-inclusion-proof/1'"),
        "nopath.json": (json.dumps(without("audit_path")), "audit_path: missing from the proof"),
        "badhex.json": (json.dumps(dict(doc, audit_path=[doc["audit_path"][0], "xyz"])),
                        "audit_path[1]: 64 lower-case hex digits expected"),
        "pathobj.json": (json.dumps(dict(doc, audit_path="00")), "audit_path: a JSON array expected"),
        "seq.json": (json.dumps(dict(doc, seq="1")), "seq: a whole number from 0 expected"),
        "rowfield.json": (json.dumps(dict(doc, row=dict(doc["row"], outcome=["admitted"]))),
                          "row.outcome: text, a whole number or null expected"),
        "rowmissing.json": (json.dumps(dict(doc, row={k: v for k, v in doc["row"].items() if k != "prev_hash"})),
                            "row.prev_hash: missing from the proof"),
        "nocp.json": (json.dumps(without("checkpoint")), "checkpoint: a JSON object expected"),
        "cpcount.json": (json.dumps(dict(doc, checkpoint=dict(doc["checkpoint"], count=-1))),
                         "checkpoint: checkpoint 1: count must be a whole number"),
        "v1root.json": (json.dumps(dict(doc, checkpoint=dict(doc["checkpoint"], version="zhunru-checkpoint/1"))),
                        "checkpoint: checkpoint 1: root: a zhunru-checkpoint/1 checkpoint does not sign a root"),
    }
    for name, (content, message) in files.items():
        (tmp_path / name).write_text(content, encoding="utf-8")
        done = zhunru("log", "prove", "--check", tmp_path / name, "--key", key)
        assert done.exit_code == 2 and message in done.output and done.output.count("\n") == 1, (name, done.output)
    for args, message in [(["--check", "/dev/zero", "--key", key], "is not a regular file"),
                          (["--check", tmp_path / "missing.json", "--key", key], "--check: cannot read"),
                          (["--check", tmp_path / "notjson.json"], "--key: the public key you trust"),
                          (["--check", tmp_path / "notjson.json", "--key", "abc"], "--key: the public key you trust"),
                          (["a", "--check", tmp_path / "notjson.json", "--key", key], "--check: checks a saved proof"),
                          (["a", "--key", key, "--db", sqlite_url], "--key: goes with --check"),
                          ([], "ID: give the entry to prove")]:
        done = zhunru("log", "prove", *args)
        assert done.exit_code == 2 and message in done.output and done.output.count("\n") == 1, (args, done.output)


def test_checkpoints_written_before_the_merkle_root_still_load(tmp_path, db_url):
    """A log whose checkpoint table predates version 2 (no root column) holding a version 1
    checkpoint: it still verifies, read-only; it cannot prove until a new checkpoint is taken,
    which adds the column on opening for writing and signs a root."""
    log_requests(tmp_path, db_url, ["a", "b", "c"])
    engine = create_engine(normalise_url(db_url))
    with engine.begin() as conn:
        head = conn.execute(text("SELECT seq, hash FROM zhunru_head")).one()
        conn.execute(text("ALTER TABLE zhunru_checkpoint DROP COLUMN root"))
    old = checkpoints.sign(checkpoints.signing_key(), head[0], head[1], None)
    assert old.version == "zhunru-checkpoint/1" and "root" not in old.as_dict()
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO zhunru_checkpoint (count, head, at, key, signature) "
                          "VALUES (:count, :head, :at, :key, :signature)"),
                     {k: v for k, v in old.as_dict().items() if k != "version"})
    engine.dispose()
    old_file = tmp_path / "old.jsonl"
    old_file.write_text(json.dumps(old.as_dict()) + "\n", encoding="utf-8")

    assert run_cli("log", "verify", "--against", str(old_file), "--db", db_url).returncode == 0
    since = run_cli("log", "verify", "--since-checkpoint", "--db", db_url)
    assert since.returncode == 0 and "rows after the checkpoint at row 3 read" in since.stdout
    code, message, _ = prove(tmp_path, db_url, "b")
    assert code == 1 and "no signed checkpoint with a Merkle root covers row 2" in message
    code, message, _ = prove(tmp_path, db_url, "b", "--checkpoint", str(old_file))
    assert code == 1 and "without a Merkle root" in message

    new_file, new = checkpoint(tmp_path, db_url, "new.jsonl")
    assert new["version"] == "zhunru-checkpoint/2"
    code, _, doc = prove(tmp_path, db_url, "b")
    assert code == 0 and check(tmp_path, doc, public_key())[0] == 0
    both = run_cli("log", "verify", "--against", str(old_file), "--against", new_file, "--db", db_url)
    assert both.returncode == 0 and "extends 2 checkpoint(s)" in both.stdout
    # a version 1 checkpoint's signature still covers exactly what it did
    forged = dict(old.as_dict(), count=2)
    old_file.write_text(json.dumps(forged), encoding="utf-8")
    assert run_cli("log", "verify", "--against", str(old_file), "--db", db_url).returncode == 2


def test_a_protected_log_made_before_the_root_column(tmp_path, pg_url):
    """On PostgreSQL after `log protect`, the application role may not alter the checkpoint
    table: it goes on deciding; `log checkpoint` as that role says what to do (exit 4) until the
    owner's next opening adds the column; then the role checkpoints and proves."""
    import uuid

    import psycopg

    log_requests(tmp_path, pg_url, ["a"])
    role = "zr_app_" + uuid.uuid4().hex[:8]
    done = zhunru("log", "protect", "--app-role", role, "--password-stdin", "--db", pg_url, input="app-password-123\n")
    assert done.exit_code == 0, done.output
    engine = create_engine(normalise_url(pg_url))
    with engine.begin() as conn:  # as if the table were made by a zhunru before version 2
        conn.execute(text("ALTER TABLE zhunru_checkpoint DROP COLUMN root"))
    engine.dispose()
    app_url = pg_url.replace("postgresql://postgres@", f"postgresql://{role}:app-password-123@")
    try:
        log_requests(tmp_path, app_url, ["b"])  # the role's opening cannot add the column, and need not
        refused = zhunru("log", "checkpoint", "--db", app_url)
        assert refused.exit_code == 4 and "has no root column yet" in refused.output
        assert prove(tmp_path, app_url, "b")[0] == 1
        assert zhunru("log", "verify", "--db", app_url).exit_code == 0

        assert zhunru("log", "verify", "--db", pg_url).exit_code == 0  # read-only: still no column
        checkpoint(tmp_path, pg_url, "owner.jsonl")  # the owner's opening for writing adds it
        checkpoint(tmp_path, app_url, "app.jsonl")
        code, _, doc = prove(tmp_path, app_url, "b")
        assert code == 0 and doc["tree_size"] == 2 and check(tmp_path, doc, public_key())[0] == 0
    finally:
        with psycopg.connect(pg_url.split("?")[0], autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")
