"""`zhunru log …`: list, show and verify the decision log."""
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


def _open(db_url):
    from zhunru.log.store import DecisionLog

    return DecisionLog(db_url)


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
    store = _open(db_url)
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
    store = _open(db_url)
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
                              "request": _request(entry.request_json), "payload": payload,
                              "attachments": attachments}))
        return
    click.echo(f"#{entry.seq} {entry.entry_type} {entry.created_at}")
    if entry.entry_type == "decision":
        click.echo(decision_text(payload, lang))
    else:
        click.echo(dump_json(payload))  # JSON escapes control characters itself
    for a in map(printable, attachments):
        extra = f" {a['path']} ({a['size']} B, sha256 {a['sha256'][:12]}…)" if a.get("path") else ""
        click.echo(f"附件 attachment: {a['amount']} 元 {a['source']} {a.get('document') or ''}{extra}")


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
    store = _open(db_url)
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
        click.echo(dump_json({"ok": problem is None, "checked": checked, "problem": problem,
                              "checkpoints": len(anchors), "since": since.count if since else None}))
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
    Prints one line of JSON: {"count", "head", "at", "key", "signature", "version"}. Keep it
    outside the database (append it to a file the auditor holds, print it, mail it); `zhunru
    log verify --against FILE` proves later that the log still extends it. The signing key is
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
    publication and reports read). Run it when `log verify` says they disagree with the log;
    the log itself is not touched."""
    store = _open(db_url)
    written = store.rebuild_targets()
    if fmt == "json":
        click.echo(dump_json({"rebuilt": written}))
    else:
        click.echo(f"已重建 rebuilt: {written} community rows from the log")


COMMANDS = [log]
