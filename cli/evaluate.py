"""`zhunru evaluate`: decide one request, or a JSON Lines batch."""
from __future__ import annotations

import json
import sys
from decimal import Decimal

import click

from zhunru.errors import InputError

from .common import CONTEXT, db_option, output_options, parse_date, read_input
from .render import decision_line, decision_text

CHUNK = 500  # decisions per log transaction in a batch
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
    from zhunru.decide.evaluate import Engine, parse_request, parse_request_json
    from zhunru.session import Session

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
        requests = _parse_batch(raw, parse_request)
    else:
        requests = [parse_request_json(raw)]
    if on is not None:
        requests = [r.model_copy(update={"date": on}) for r in requests]
    if any(c.name.lower() == "all" or (c.population is None and c.households is None)
           for r in requests for c in r.communities):  # communities named without numbers
        from zhunru.office.registry import resolve_requests

        labels = [f"request {n}" for n in range(1, len(requests) + 1)] if batch else None
        requests = resolve_requests(requests, db_url, labels)

    attachments = []
    if attach:
        if no_log:
            raise InputError("--attach: attachments are logged; it cannot be used with --no-log")
        from zhunru.log.store import file_attachment

        for path in attach:
            funding = requests[0].funding if len(requests) == 1 else None
            attachments.append(file_attachment(path, funding.amount if funding else Decimal(0),
                                               funding.source if funding else "attachment",
                                               funding.document if funding else None))

    engine = Engine(lang=lang)
    # What can make a whole batch fail (unknown city, a date no version covers, a broken
    # ruleset) is checked before anything is logged; then decisions stream through the
    # observers (the log) chunk by chunk, each chunk one transaction.
    for city, on_date in dict.fromkeys((r.city, r.date) for r in requests):
        engine.book_for(city, on_date)
    from zhunru.plugins import plugin_manager

    hook = plugin_manager().hook
    session = Session(log_url=db_url, no_log=no_log, attachments=attachments)
    standing = _standing(engine, requests, session)
    hit = False
    try:
        for chunk in _chunks(_progress(requests, batch, "决策 deciding"), CHUNK):
            decisions = _decide(engine, chunk, standing)
            for request, decision in zip(chunk, decisions):
                hook.zhunru_decision_made(request=request, decision=decision, session=session)
            hook.zhunru_flush(session=session)
            logged = session.state.get("logged", {})
            for decision in decisions:
                previous = logged.get(decision.request_id)
                hit = hit or (previous["outcome"] if previous else decision.outcome) in fail_on
                _emit(decision, previous, fmt, lang, batch)
    finally:
        session.close()
    if hit:
        sys.exit(3)


def _decide(engine, chunk, standing):
    """Decide a chunk in one batch of rule events, except requests of a capped kind: those go one
    at a time, in order, so each admission counts against the cap of the next."""
    capped = [i for i, r in enumerate(chunk) if standing is not None and r.kind in standing.kinds]
    if not capped:
        return engine.evaluate_many(chunk)
    decisions = [None] * len(chunk)
    one_by_one = set(capped)
    rest = [i for i in range(len(chunk)) if i not in one_by_one]
    for i, decision in zip(rest, engine.evaluate_many([chunk[i] for i in rest])):
        decisions[i] = decision
    for i in capped:
        decisions[i] = engine.evaluate(chunk[i], standing)
        standing.record(chunk[i], decisions[i])
    return decisions


def _standing(engine, requests, session):
    """What the log says is already admitted, for the kinds a ruleset caps (e.g. three plates).
    Without a log (--no-log) there is no standing state and caps are not counted."""
    if session.no_log:
        return None
    capped = {r.kind for r in requests if r.kind in engine.book_for(r.city, r.date).max_count}
    if not capped:
        return None
    from zhunru.decide.evaluate import Standing
    from zhunru.log.store import DecisionLog

    log = session.state.setdefault("log", DecisionLog(session.log_url))
    return Standing(admitted=log.admitted_matters(capped), kinds=capped)


def _chunks(items, size):
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _parse_batch(raw: bytes, parse_request):
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("FILE: not UTF-8 text") from None
    requests = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"line {number}: not valid JSON ({exc.msg})") from None
        except RecursionError:
            raise InputError(f"line {number}: nested too deeply") from None
        try:
            requests.append(parse_request(data))
        except InputError as exc:
            raise InputError(f"line {number}: {exc}") from None
    if not requests:
        raise InputError("FILE: no requests in the batch")
    return requests


def _progress(items, batch, label):
    """A progress bar on a terminal for batches; plain iteration otherwise."""
    if not batch or not sys.stderr.isatty() or len(items) < 200:
        return items
    from rich.progress import track

    return track(items, description=label, transient=True, console=_stderr_console())


def _stderr_console():
    from rich.console import Console

    return Console(stderr=True)


def _emit(decision, previous: dict | None, fmt: str, lang: str, batch: bool) -> None:
    """Print a decision; for a request logged before, the logged decision, marked as such."""
    if fmt == "json" and batch and previous is None:
        sys.stdout.write(decision.to_json() + "\n")  # the hot path: the text the log stores
        return
    shown = json.loads(previous["payload_json"] if previous else decision.to_json())
    if previous is not None:
        shown["already_logged"] = True
    if fmt == "json":
        click.echo(json.dumps(shown, ensure_ascii=False, separators=(",", ":") if batch else (",", ": "),
                              indent=None if batch else 2))
    elif batch:
        click.echo(decision_line(shown, lang))
    else:
        click.echo(decision_text(shown, lang))


COMMANDS = [evaluate]
