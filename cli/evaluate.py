"""`zhunru evaluate`: decide one request, or a JSON Lines batch."""
from __future__ import annotations

import json
import sys
from decimal import Decimal
from typing import Any

import click

from zhunru.errors import InputError

from .common import CONTEXT, db_option, output_options, parse_date, read_input
from .render import decision_line, decision_text

OUTCOMES = ("admitted", "needs_approval", "rejected")


@click.command(context_settings=CONTEXT)
@click.argument("file", metavar="FILE|-")
@click.option("--batch", is_flag=True, help="FILE is JSON Lines: one request per line, one decision per output line.")
@click.option("--as-of", "as_of", metavar="DATE", help="Decide as of DATE (YYYY-MM-DD) instead of each request's date.")
@click.option("--fail-on", "fail_on", type=click.Choice(OUTCOMES), multiple=True,
              help="Exit 3 if any decision has this outcome (repeatable).")
@click.option("--no-log", is_flag=True, help="Do not write the decisions to the log.")
@click.option("--attach", "attach", type=click.Path(dir_okay=False), multiple=True,
              help="A funding document (e.g. the appropriation notice) to attach: its path, size and sha256 are logged.")
@output_options
@db_option
def evaluate(file, batch, as_of, fail_on, no_log, attach, fmt, lang, db_url):
    """Evaluate admission requests (准入申请) against the city's ruleset.

    \b
    FILE is a JSON request (see DESIGN.md), or - for standard input:
      {"city": "bijie", "date": "2021-05-01",
       "department": {"name": "七星关区司法局", "level": "district", "role": "department"},
       "kind": "task", "matter": "社区矫正",
       "communities": [{"name": "洪山社区", "population": 8200, "households": 2900}],
       "funding": {"amount": 50000, "source": "区财政", "document": "七财发〔2021〕12号"}}
    kind: task nameplate certificate assessment meeting ledger report posting.

    \b
    Every decision is logged (unless --no-log) with its funding attachments; a request
    already logged (same id, or same content without an id) is not logged twice.
    Exit 0 when evaluated whatever the outcome; 2 for bad input (nothing is logged);
    3 when --fail-on matches.
    """
    from zhunru.app import Zhunru
    from zhunru.decide.evaluate import parse_request_json

    if batch:
        # A batch holds hundreds of thousands of live objects that the cyclic GC would rescan
        # again and again (a fifth of the run); reference counting still frees them.
        import gc

        old = gc.get_threshold()
        gc.freeze()
        gc.set_threshold(50000, 20, 100)
        click.get_current_context().call_on_close(lambda: (gc.unfreeze(), gc.set_threshold(*old)))
    on = parse_date(as_of, "--as-of")
    raw = read_input(file, "FILE")
    if batch:
        numbered = _parse_batch(raw)
        labels = [f"line {n}" for n, _ in numbered]
        items = [data for _, data in numbered]
    else:
        items, labels = [parse_request_json(raw)], None
    if attach and no_log:
        raise InputError("--attach: attachments are logged; it cannot be used with --no-log")

    app = Zhunru(db=db_url)
    try:
        requests = app.prepare(items, as_of=on, labels=labels)
        attachments = _attachments(attach, requests)
        hit = False
        for decision in _progress(app.decide(requests, log=not no_log, attachments=attachments),
                                  len(requests), batch):
            hit = hit or decision.outcome in fail_on
            _emit(decision, fmt, lang, batch)
    finally:
        app.close()
    if hit:
        sys.exit(3)


def _attachments(paths, requests) -> list[dict]:
    if not paths:
        return []
    from zhunru.log.store import file_attachment

    out = []
    for path in paths:
        funding = requests[0].funding if len(requests) == 1 else None
        out.append(file_attachment(path, funding.amount if funding else Decimal(0),
                                   funding.source if funding else "attachment",
                                   funding.document if funding else None))
    return out


def _parse_batch(raw: bytes) -> list[tuple[int, Any]]:
    """(line number, JSON value) for each non-empty line of a JSON Lines batch."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("FILE: not UTF-8 text") from None
    items = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            items.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise InputError(f"line {number}: not valid JSON ({exc.msg})") from None
        except RecursionError:
            raise InputError(f"line {number}: nested too deeply") from None
    if not items:
        raise InputError("FILE: no requests in the batch")
    return items


def _progress(decisions, total: int, batch: bool):
    """A progress bar on a terminal's stderr for batches; plain iteration otherwise."""
    if not batch or not sys.stderr.isatty() or total < 200:
        return decisions
    from rich.progress import track

    return track(decisions, total=total, description="决策 deciding", transient=True, console=_stderr_console())


def _stderr_console():
    from rich.console import Console

    return Console(stderr=True)


def _emit(decision, fmt: str, lang: str, batch: bool) -> None:
    """Print a decision in `lang`; a request logged before shows the logged decision, marked."""
    shown = decision.shown(lang)
    if fmt == "json":
        click.echo(json.dumps(shown, ensure_ascii=False, separators=(",", ":") if batch else (",", ": "),
                              indent=None if batch else 2))
    elif batch:
        click.echo(decision_line(shown, lang))
    else:
        click.echo(decision_text(shown, lang))


COMMANDS = [evaluate]
