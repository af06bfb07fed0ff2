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
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@db_option
def verify(fmt, db_url):
    """Check the hash chain. Exit 0 when intact; 1 naming the first broken row."""
    store = _open(db_url)
    checked, problem = store.verify()
    if fmt == "json":
        click.echo(dump_json({"ok": problem is None, "checked": checked, "problem": problem}))
    elif problem:
        click.echo(f"日志已损坏 log broken: {problem}")
    else:
        click.echo(f"日志完整 log intact: {checked} rows")
    sys.exit(1 if problem else 0)


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
