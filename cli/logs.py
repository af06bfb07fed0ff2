"""`zhunru log …`: list, show, verify and prove the decision log."""
from __future__ import annotations

import json
import sys

import click

from zhunru.errors import InputError

from .common import CONTEXT, db_option, dump_json, output_options
from .render import decision_text, printable


@click.group("log", context_settings=CONTEXT)
def log():
    """The decision log (决策日志): append-only, hash-chained."""


def _open(db_url, read_only: bool = False):
    from zhunru.log.store import DecisionLog

    return DecisionLog(db_url, read_only=read_only)


def _row(entry) -> dict:
    return {"seq": entry.seq, "entry_id": entry.entry_id, "type": entry.entry_type, "request_id": entry.request_id,
            "created_at": entry.created_at, "city": entry.city, "ruleset": entry.ruleset, "outcome": entry.outcome}


@log.command("list", context_settings=CONTEXT)
@click.option("--limit", type=click.IntRange(1, 100000), default=20, show_default=True)
@click.option("--city", help="Only this city.")
@click.option("--outcome", type=click.Choice(["admitted", "needs_approval", "rejected"]))
@output_options
@db_option
def list_(limit, city, outcome, fmt, lang, db_url):
    """List the newest log entries."""
    store = _open(db_url, read_only=True)
    rows = [_row(e) for e in store.entries(limit=limit, city=city, outcome=outcome)]
    if fmt == "json":
        click.echo(dump_json(rows))
        return
    for r in map(printable, rows):
        click.echo(f"{r['seq']:>6}  {r['created_at'][:19]}  {r['type']:<9} {r['outcome']:<15} {r['ruleset']:<18} "
                   f"{r['request_id']}  {r['entry_id']}")
    if not rows:
        click.echo("(空 empty)")


@log.command("show", context_settings=CONTEXT)
@click.argument("ident", metavar="ID")
@output_options
@db_option
def show(ident, fmt, lang, db_url):
    """Show one entry by decision id, request id or row number, with its attachments."""
    store = _open(db_url, read_only=True)
    entry = store.find(ident)
    if entry is None:
        raise InputError(f"ID: no log entry {ident!r}")
    attachments = [a.model_dump(exclude={"id", "entry_seq"}) for a in store.attachments(entry.seq)]
    if entry.entry_type == "decision":
        from zhunru.models import Decision

        payload = Decision.stored(entry)  # the row holds it by reference
    else:
        payload = json.loads(entry.payload_json)
    if fmt == "json":
        click.echo(dump_json({**_row(entry), "hash": entry.hash, "prev_hash": entry.prev_hash,
                              "request": None if entry.entry_type in BESIDE else _request(entry.request_json),
                              "payload": payload,
                              "attachments": attachments}))
        return
    click.echo(f"#{entry.seq} {entry.entry_type} {entry.created_at}")
    if entry.entry_type == "decision":
        click.echo(decision_text(payload, lang))
    elif entry.entry_type in BESIDE:
        for line in _beside_text(entry.entry_type, payload):
            click.echo(printable(line))
    else:
        click.echo(dump_json(payload))  # JSON escapes control characters itself
    for a in map(printable, attachments):
        extra = f" {a['path']} ({a['size']} B, sha256 {a['sha256'][:12]}…)" if a.get("path") else ""
        click.echo(f"附件 attachment: {a['amount']} 元 {a['source']} {a.get('document') or ''}{extra}")


BESIDE = ("registry_change", "funding_allocation")  # log/beside.py: not decisions
SHOWN_CHANGES = 50  # of one registry entry, in text (--format json has them all)


def _beside_text(entry_type: str, payload: dict) -> list[str]:
    """A registry change or an allocation, line by line (what changed, who, when)."""
    action = payload.get("action")
    who = payload.get("by")
    if action == "baseline":
        rows = payload.get("communities") if entry_type == "registry_change" else payload.get("allocations")
        what = "communities" if entry_type == "registry_change" else "allocations"
        return [f"基线 baseline: the {len(rows or [])} {what} there were when the log began to record them "
                f"({payload.get('at')})"]
    if entry_type == "funding_allocation":
        a = payload.get("allocation") or {}
        return [f"拨款 allocation #{a.get('id')}: {a.get('community_code')} {a.get('year')} {a.get('level')} "
                f"「{a.get('fund')}」 {a.get('amount')} 元 {a.get('document') or ''}".rstrip(),
                f"记录 recorded by {who} at {a.get('recorded_at')}"]
    changes = payload.get("changes") or []
    lines = [f"社区名册 registry {action} by {who} at {payload.get('at')}: {len(changes)} change(s)"]
    for c in changes[:SHOWN_CHANGES]:
        if c.get("field") is None:
            new = c.get("new") or {}
            lines.append(f"  + {c.get('code')} " + " ".join(f"{k}={v}" for k, v in new.items()))
        else:
            lines.append(f"  {c.get('code')} {c.get('field')}: {c.get('old')} → {c.get('new')}")
    if len(changes) > SHOWN_CHANGES:
        lines.append(f"  … {len(changes) - SHOWN_CHANGES} more (--format json)")
    return lines


def _request(request_json: str) -> dict:
    """The stored request with every field of the contract (the row leaves out empty ones)."""
    from pydantic import ValidationError

    from zhunru.models import Request

    try:
        return Request.model_validate_json(request_json).model_dump(mode="json")
    except ValidationError:  # a row zhunru did not write: show it as it is
        return json.loads(request_json)


@log.command("verify", context_settings=CONTEXT)
@click.option("--against", "sources", multiple=True, metavar="FILE|URL",
              help="Also prove the log still extends the checkpoints in FILE (or at an http(s) URL, or - for "
                   "stdin): printed earlier by `zhunru log checkpoint` and kept outside the database. "
                   "Repeatable.")
@click.option("--key", "keys", multiple=True, metavar="HEX",
              help="Trust only checkpoints signed by this public key (`zhunru log key`). Repeatable.")
@click.option("--since-checkpoint", is_flag=True,
              help="Start from the latest checkpoint this installation signed and stored in the log (its row "
                   "must still carry its hash) instead of row 1: fast on a large log.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@db_option
def verify(sources, keys, since_checkpoint, fmt, db_url):
    """Check the hash chain. Exit 0 when intact; 1 naming the first broken row.

    \b
    The chain alone cannot catch whoever runs the database rewriting it whole: checkpoints
    can. Keep the output of `zhunru log checkpoint` somewhere else (mail it, print it, commit
    it) and later:
      zhunru log verify --against checkpoints.jsonl --key $(zhunru log key)
    A rewrite of any row up to a checkpoint, a truncation, a wipe and a back-dated row all fail.
    """
    from zhunru.log import checkpoint as checkpoints

    anchors = [cp for source in sources for cp in checkpoints.load(source)]
    trusted = {k.strip().lower() for k in keys} or None
    if trusted and any(len(k) != 64 or any(c not in "0123456789abcdef" for c in k) for k in trusted):
        raise InputError("--key: a public key is 64 hex digits (zhunru log key)")
    store = _open(db_url, read_only=True)
    since = None
    if since_checkpoint:
        since = store.latest_checkpoint(checkpoints.public_hex(checkpoints.signing_key(create=False)))
        if since is None:
            raise InputError("--since-checkpoint: no checkpoint of this installation's key in the log "
                             "(zhunru log checkpoint)")
    problem = store.extends(anchors, trusted) if anchors else None
    checked = 0
    if problem is None:
        checked, problem = store.verify(since)
    if fmt == "json":
        extra = {"checkpoints": len(anchors)} if anchors else {}
        if since:
            extra["since"] = since.count
        click.echo(dump_json({"ok": problem is None, "checked": checked, "problem": problem, **extra}))
    elif problem:
        click.echo(f"日志已损坏 log broken: {problem}")
    else:
        extra = f"; extends {len(anchors)} checkpoint(s)" if anchors else ""
        start = f" (rows after the checkpoint at row {since.count} read)" if since else ""
        click.echo(f"日志完整 log intact: {checked} rows{start}{extra}")
    sys.exit(1 if problem else 0)


@log.command("checkpoint", context_settings=CONTEXT)
@db_option
def checkpoint(db_url):
    """Sign the log's row count and head hash now (Ed25519), store it in the log, print it.

    \b
    Prints one line of JSON: {"count", "head", "at", "key", "signature", "version", "root"}
    (root: the RFC 6962 Merkle root of the first count rows, which `zhunru log prove` proves
    single entries against). Keep it outside the database (append it to a file the auditor
    holds, print it, mail it); `zhunru log verify --against FILE` proves later that the log
    still extends it. The signing key is
    made on first use at ZHUNRU_SIGNING_KEY or signing.key in the user config directory
    (0600); `zhunru log key` prints its public half, to publish.

    \b
    Example (daily, from cron):
      zhunru log checkpoint >> /srv/audit/zhunru-checkpoints.jsonl
    """
    from zhunru.log import checkpoint as checkpoints

    key = checkpoints.signing_key()
    signed = _open(db_url).checkpoint(key)
    click.echo(json.dumps(signed.as_dict(), ensure_ascii=False))


@log.command("prove", context_settings=CONTEXT)
@click.argument("ident", metavar="[ID]", required=False)
@click.option("--checkpoint", "checkpoint_file", metavar="FILE|URL",
              help="Prove against a checkpoint kept outside the database (the output of `zhunru log checkpoint`; "
                   "the latest one in FILE that covers the entry) instead of the latest stored in the log.")
@click.option("--check", "proof_file", metavar="PROOF.json",
              help="Check a saved proof instead (no database, no network): needs --key.")
@click.option("--key", metavar="HEX", help="With --check: the public key you trust (`zhunru log key`, published "
                                           "by the district office).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: one document to keep and hand to anyone.")
@db_option
def prove(ident, checkpoint_file, proof_file, key, fmt, db_url):
    """包含证明: prove one entry is in the log, without handing out the whole log.

    \b
    ID is a decision id, a request id, an act's id or a row number. The proof holds the row
    as stored (request, decision, attachments: everything its row hash covers), its place in
    the log, the RFC 6962 audit path (about log2(rows) hashes) from it to the Merkle root of
    the first N rows, and the signed checkpoint that signs that root. Anyone with the public
    key checks it offline:
      zhunru log prove r-1a2b3c… --format json > proof.json
      zhunru log prove --check proof.json --key $(zhunru log key)

    \b
    It proves: the key's holder signed, at the checkpoint's time, a log whose row N is exactly
    this content. It does not prove: that nothing came after the row (an approval or a
    withdrawal: prove that entry too), that the decision was right (`zhunru log replay`), or
    that the key is the district office's (get it from them).

    \b
    Exit 0: printed (or, with --check, the proof holds). 1: no checkpoint covers the entry yet
    (run `zhunru log checkpoint`), the log no longer matches the checkpoint (a row was changed
    since), or the proof does not hold (one line says what failed). 2: unknown ID, a malformed
    proof (naming the field), bad options.
    """
    from zhunru.log import proof as proofs

    if proof_file is not None:
        if ident is not None or checkpoint_file is not None:
            raise InputError("--check: checks a saved proof on its own (no ID, no --checkpoint)")
        trusted = proofs.parse_key(key)
        claim, problem = proofs.check(proofs.read(proof_file), trusted)
        if fmt == "json":
            click.echo(dump_json({"ok": problem is None, "problem": problem, **claim}))
        elif problem:
            click.echo(f"证明不成立 proof does not hold: {printable(problem)}")
        else:
            click.echo(f"证明成立 proof holds: {printable(claim['entry_type'])} {printable(claim['entry_id'])} "
                       f"({printable(claim['outcome'])}) is row {claim['seq']} of the {claim['tree_size']}-row log "
                       f"signed at {printable(claim['checkpoint_at'])} by key {claim['key'][:16]}…")
        sys.exit(1 if problem else 0)
    if key is not None:
        raise InputError("--key: goes with --check PROOF.json")
    if ident is None:
        raise InputError("ID: give the entry to prove (or --check PROOF.json --key HEX to check a proof)")
    given = None
    if checkpoint_file is not None:
        from zhunru.log import checkpoint as checkpoints

        given = checkpoints.load(checkpoint_file, "--checkpoint")
    doc = proofs.build(_open(db_url, read_only=True), ident, given)
    if fmt == "json":
        click.echo(dump_json(doc))
        return
    row, cp = doc["row"], doc["checkpoint"]
    click.echo(f"包含证明 inclusion proof: {printable(row['entry_type'])} {printable(doc['entry_id'])} "
               f"({printable(row['outcome'])}) is row {doc['seq']} (leaf {doc['leaf_index']}) of {doc['tree_size']}")
    click.echo(f"  行哈希 row hash: {doc['row_hash']}")
    click.echo(f"  审计路径 audit path ({len(doc['audit_path'])}):")
    for element in doc["audit_path"]:
        click.echo(f"    {element}")
    click.echo(f"  默克尔树根 root of rows 1..{doc['tree_size']}: {doc['root']}")
    click.echo(f"  签名检查点 checkpoint: {printable(cp['at'])}, key {cp['key']}")
    click.echo(f"  签名 signature: {cp['signature']}")
    click.echo("  --format json gives the document to keep (with the row's content); "
               "check it with: zhunru log prove --check PROOF.json --key KEY")


@log.command("replay", context_settings=CONTEXT)
@click.argument("ident", metavar="[ID]", required=False)
@click.option("--as-of", "as_of", metavar="DATE|today",
              help="Decide the request as if filed on DATE (today: under what is in force now, with what the "
                   "communities carry now) and show it beside the logged decision, reason by reason.")
@click.option("--all", "every", is_flag=True, help="Replay every decision of the log (optionally --city); "
                                                    "exit 1 if any is not reproduced.")
@click.option("--city", help="With --all: only this city's decisions.")
@click.option("--since", metavar="DATE", help="With --ruleset: decisions for requests dated on or after DATE.")
@click.option("--ruleset", "ref", metavar="CITY@VERSION",
              help="Impact analysis: decide the city's decisions since --since again under this version and "
                   "list what would change, per district.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@db_option
def replay(ident, as_of, every, city, since, ref, fmt, db_url):
    """申诉复核: decide a logged request again and compare it with the logged decision.

    \b
    Without options, the request is decided against the ruleset version in force on its date,
    with what its communities carried when it was logged; it must reproduce the logged
    decision exactly (exit 0). Otherwise each difference is named with its cause — another
    version is now in force on that date, the version's file changed (sha256), or the code
    changed the procedure — and the exit status is 1.

    \b
    Examples:
      zhunru log replay qx-2021-007
      zhunru log replay qx-2021-007 --as-of today
      zhunru log replay --all
      zhunru log replay --since 2021-01-01 --ruleset bijie@2024.1     # before publishing a version
    """
    import datetime as dt

    from zhunru.app import Zhunru
    from zhunru.log import replay as replays
    from zhunru.office.workdays import today_in_china

    chosen = [bool(ident), every, bool(ref)]
    if sum(chosen) != 1:
        raise InputError("ID: give one logged decision (ID), or --all, or --ruleset CITY@VERSION with --since")
    if ref and not since:
        raise InputError("--since: the impact analysis needs the first request date to look at")
    if (since and not ref) or (city and not every) or (as_of and not ident):
        raise InputError("--since goes with --ruleset, --city with --all, --as-of with an ID")
    day = today_in_china() if as_of == "today" else _date(as_of, "--as-of")
    with Zhunru(db=db_url) as zhunru:
        if ident:
            result = replays.replay(zhunru, ident, day)
            if fmt == "json":
                click.echo(dump_json(result.as_dict()))
            else:
                _print_replay(result, day)
            sys.exit(0 if result.same or day else 1)
        if every:
            count, failed = 0, []
            for result in replays.replay_all(zhunru, zhunru.rulesets.city_id(city) if city else None):
                count += 1
                if not result.same:
                    failed.append(result.as_dict())
            if fmt == "json":
                click.echo(dump_json({"replayed": count, "reproduced": count - len(failed), "not_reproduced": failed[:100]}))
            else:
                click.echo(f"重放 replayed: {count}; 复现 reproduced: {count - len(failed)}")
                for f in failed[:20]:
                    click.echo(f"  row {f['seq']} {printable(f['request_id'])}: {printable(f['differences'][0])}")
            sys.exit(1 if failed else 0)
        data = replays.impact(zhunru, ref, _date(since, "--since"))
        if fmt == "json":
            click.echo(dump_json(data))
            return
        click.echo(f"{data['ruleset']}: {data['decisions']} decisions since {data['since']}, "
                   f"{sum(sum(c.values()) for c in data['per_district'].values())} district changes")
        for district, counts in sorted(data["per_district"].items()):
            click.echo(f"  {printable(district)}: " + "; ".join(f"{k} ×{v}" for k, v in sorted(counts.items())))


def _date(value, option):
    from .common import parse_date

    return parse_date(value, option)


def _print_replay(result, as_of) -> None:
    from zhunru.messages import OUTCOMES

    logged, again = result.logged, result.again
    click.echo(f"#{result.seq} {printable(result.request_id)}  ({result.decision_id})")
    click.echo(f"  记录 logged: {OUTCOMES[logged['outcome']][0]} {logged['outcome']} "
               f"[{logged['ruleset']['id']}@{logged['ruleset']['version']}]")
    label = f"{as_of} 重新决定 decided again" if as_of else "重放 replayed"
    click.echo(f"  {label}: {OUTCOMES[again['outcome']][0]} {again['outcome']} "
               f"[{again['ruleset']['id']}@{again['ruleset']['version']}]")
    if result.same:
        click.echo("  完全一致 reproduced exactly" if not as_of else "  结论与理由未变 unchanged, reason by reason")
        return
    for line in result.differences:
        click.echo(f"  - {printable(line)}")


@log.command("protect", context_settings=CONTEXT)
@click.option("--app-role", metavar="NAME", help="Also make (or update) a login role for the service and the CLI "
                                                  "that may only read and append to the log tables.")
@click.option("--password-stdin", is_flag=True, help="Read that role's password from one line of standard input.")
@db_option
def protect(app_role, password_stdin, db_url):
    """Make the log append-only in its PostgreSQL database (run it as the tables' owner).

    \b
    Triggers refuse UPDATE, DELETE and TRUNCATE on the log, its attachments and its
    checkpoints, for everyone (the owner too), and let the head only move forward. With
    --app-role, the role zhunru should then connect as (`--db postgresql://NAME@host/db`)
    may only SELECT and INSERT on them. SQLite cannot do this: keep checkpoints instead.

    \b
    Example:
      echo "$APP_PASSWORD" | zhunru log protect --db postgresql://owner@db/zhunru --app-role zhunru_app --password-stdin
    """
    from zhunru.log.protect import protect as install
    from zhunru.office.accounts import Accounts
    from zhunru.office.allocations import Allocation
    from zhunru.office.registry import CommunityRegistry

    password = None
    if app_role:
        if not password_stdin:
            raise InputError("--password-stdin: give the application role's password on standard input")
        password = sys.stdin.readline(2048).rstrip("\r\n")
    store = _open(db_url)
    if not store.is_sqlite:  # every table exists before the role's grants are written
        Accounts(store)
        CommunityRegistry(store)
        from sqlmodel import SQLModel

        SQLModel.metadata.create_all(store.engine, tables=[Allocation.__table__])
    for line in install(store, app_role, password):
        click.echo(f"已设置 done: {line}")


@log.command("key", context_settings=CONTEXT)
def key():
    """Print this installation's public signing key (64 hex digits), to publish beside checkpoints."""
    from zhunru.log import checkpoint as checkpoints

    click.echo(checkpoints.public_hex(checkpoints.signing_key(create=False)))


@log.command("rebuild", context_settings=CONTEXT)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@db_option
def rebuild(fmt, db_url):
    """Write again, from the log, what each community carries (the rows that caps, the queue,
    publication and reports read), the community registry and the funding allocations (from
    the log's registry_change and funding_allocation entries). Run it when `log verify` says
    they disagree with the log; the log itself is not touched."""
    store = _open(db_url)
    written = store.rebuild_targets()
    beside = store.rebuild_beside()
    if fmt == "json":
        click.echo(dump_json({"rebuilt": written, **{k: v for k, v in beside.items() if v is not None}}))
        return
    click.echo(f"已重建 rebuilt: {written} community rows from the log")
    if beside["registry"] is not None:
        click.echo(f"已重建 rebuilt: the registry's {beside['registry']} communities and their recorded changes")
    if beside["allocations"] is not None:
        click.echo(f"已重建 rebuilt: {beside['allocations']} funding allocations")


COMMANDS = [log]
