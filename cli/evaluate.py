"""`zhunru evaluate`: decide one request, or a JSON Lines batch."""
from __future__ import annotations

import contextlib
import json
import sys
from collections import deque
from decimal import Decimal

import click

from zhunru.errors import InputError

from .common import CONTEXT, MAX_LINE_BYTES, db_option, input_lines, open_input, output_options, parse_date, read_input
from .render import decision_line, decision_text

OUTCOMES = ("admitted", "needs_approval", "rejected")


@click.command(context_settings=CONTEXT)
@click.argument("file", metavar="FILE|-")
@click.option("--batch", is_flag=True,
              help="FILE is JSON Lines: one request per line, one decision per output line. It is read line "
                   "by line and decided 500 requests at a time, each 500 logged in one transaction, so memory "
                   "stays small however long the batch. Lines are UTF-8 (a BOM at the start is skipped), split "
                   "on \\n only; blank lines are skipped; a line may hold at most 4 MiB. A bad line stops the "
                   "run with exit 2, naming the line: nothing of its 500 is logged; the decisions before them "
                   "are already printed and logged, and the message says how many.")
@click.option("--keep-going", is_flag=True,
              help="With --batch: report a bad line on stderr (line N: ...) and skip it; every other line is "
                   "still decided and logged. At the end, if any line was bad, print one summary line "
                   "and exit 2.")
@click.option("--as-of", "as_of", metavar="DATE", help="Decide as of DATE (YYYY-MM-DD) instead of each request's date.")
@click.option("--fail-on", "fail_on", type=click.Choice(OUTCOMES), multiple=True,
              help="Exit 3 if any decision has this outcome (repeatable).")
@click.option("--no-log", is_flag=True, help="Do not write the decisions to the log.")
@click.option("--attach", "attach", type=click.Path(dir_okay=False), multiple=True,
              help="A funding document (e.g. the appropriation notice) to attach: its path, size and sha256 are logged.")
@output_options
@db_option
def evaluate(file, batch, keep_going, as_of, fail_on, no_log, attach, fmt, lang, db_url):
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
    Exit 0 when evaluated whatever the outcome; 2 for bad input (a single request: nothing is
    logged; a batch: see --batch and --keep-going); 3 when --fail-on matches.
    """
    from zhunru.app import Zhunru
    from zhunru.decide.evaluate import parse_request_json

    if keep_going and not batch:
        raise InputError("--keep-going: only with --batch")
    if batch:
        # A batch allocates millions of objects (a chunk of requests and decisions at a time) that
        # the cyclic GC would rescan again and again; reference counting still frees them.
        import gc

        old = gc.get_threshold()
        gc.freeze()
        gc.set_threshold(50000, 20, 100)
        click.get_current_context().call_on_close(lambda: (gc.unfreeze(), gc.set_threshold(*old)))
    on = parse_date(as_of, "--as-of")
    if batch:
        if attach and no_log:
            raise InputError("--attach: attachments are logged; it cannot be used with --no-log")
        _evaluate_batch(file, db_url, on, keep_going, fail_on, no_log, attach, fmt, lang)
        return
    raw = read_input(file, "FILE")
    items = [parse_request_json(raw)]
    if attach and no_log:
        raise InputError("--attach: attachments are logged; it cannot be used with --no-log")

    app = Zhunru(db=db_url)
    try:
        requests = app.prepare(items, as_of=on)
        attachments = _attachments(attach, requests[0])
        hit = False
        for decision in app.decide(requests, log=not no_log, attachments=attachments):
            hit = hit or decision.outcome in fail_on
            _emit(decision, fmt, lang, batch)
    finally:
        app.close()
    if hit:
        sys.exit(3)


def _attachments(paths, request) -> list[dict]:
    """The --attach files, with the funding of `request` (the only request of the run) or none."""
    if not paths:
        return []
    from zhunru.log.store import file_attachment

    out = []
    for path in paths:
        funding = request.funding if request is not None else None
        out.append(file_attachment(path, funding.amount if funding else Decimal(0),
                                   funding.source if funding else "attachment",
                                   funding.document if funding else None))
    return out


# -- batches: JSON Lines, streamed ------------------------------------------------------------
class _Stop(Exception):
    """A bad line (or an unreadable input) that ends a batch run: `message` names the line;
    nothing from `first_line` (the first line of its chunk) on has been handed to the log."""

    def __init__(self, message: str, first_line: int):
        super().__init__(message)
        self.message, self.first_line = message, first_line


_BLANK = object()
SHOWN_BAD_LINES = 10  # line numbers listed in the --keep-going summary (the count is always whole)


class _Batch:
    """The lines of a JSON Lines batch as chunks of checked (prepared) requests, read on demand.

    Each chunk is up to `size` requests (the engine's log transaction), each checked on its
    own line (`line N: …`) before any of the chunk is handed on: a bad line stops the run
    (`_Stop`), or with `keep_going` is reported on stderr and skipped. Only the current chunk
    and a bounded window of line numbers are held."""

    def __init__(self, app, lines, as_of, keep_going: bool, size: int):
        self.app, self.lines, self.as_of, self.keep_going, self.size = app, lines, as_of, keep_going, size
        self.ended = False  # the input is read to its end
        self.last = 0  # the number of the last line read
        self.requests_seen = 0  # non-blank lines, good or bad
        self.bad = 0
        self.bad_lines: list[int] = []  # the first SHOWN_BAD_LINES of them
        self.handed = 0  # requests handed on to the engine
        self.window: deque[int] = deque(maxlen=2 * size)  # line numbers of the last requests handed on

    def chunks(self, first):
        """`first` (from next_chunk), then the rest, chunk by chunk."""
        chunk = first
        while chunk is not None:
            yield chunk
            chunk = self.next_chunk()

    def requests(self, first):
        """The requests one by one (an iterator: the engine reads and logs it chunk by chunk)."""
        for requests, numbers in self.chunks(first):
            for request, number in zip(requests, numbers):
                self.window.append(number)
                self.handed += 1
                yield request

    def line_of(self, index: int, default: int) -> int:
        """The line of the index-th request handed on (0-based), if still in the window."""
        back = self.handed - index
        return self.window[-back] if 0 < back <= len(self.window) else default

    def next_chunk(self) -> tuple[list, list[int]] | None:
        """The next (requests, their line numbers), or None at the end of the input."""
        while not self.ended:
            items, numbers, start = [], [], None
            while len(items) < self.size:
                try:
                    number, raw = next(self.lines, (None, None))
                except InputError as exc:  # the input cannot be read further
                    raise _Stop(str(exc), start or self.last + 1) from None
                if number is None:
                    self.ended = True
                    break
                self.last = number
                try:
                    data = _parse_line(number, raw)
                except InputError as exc:
                    self.requests_seen += 1
                    start = start or number
                    if not self.keep_going:
                        self._prepare(items, numbers, start)  # an earlier bad line of the chunk comes first
                        raise _Stop(str(exc), start) from None
                    self._skip(number, str(exc))
                    continue
                if data is _BLANK:
                    continue
                self.requests_seen += 1
                start = start or number
                items.append(data)
                numbers.append(number)
            requests, numbers = self._prepare(items, numbers, start)
            if requests:
                return requests, numbers
        return None

    def _prepare(self, items: list, numbers: list[int], start: int | None) -> tuple[list, list[int]]:
        """The chunk checked whole; when it fails, line by line to name (and skip) each bad line."""
        if not items:
            return [], []
        try:
            return self.app.prepare(items, as_of=self.as_of, labels=[f"line {n}" for n in numbers]), numbers
        except InputError as exc:
            whole = str(exc)
        good, good_numbers = [], []
        for item, number in zip(items, numbers):
            try:
                good.extend(self.app.prepare([item], as_of=self.as_of, labels=[f"line {number}"]))
                good_numbers.append(number)
            except InputError as exc:
                message = str(exc) if str(exc).startswith(f"line {number}: ") else f"line {number}: {exc}"
                if not self.keep_going:
                    raise _Stop(message, start) from None
                self._skip(number, message)
        if not self.keep_going:  # the chunk failed as a whole though no line fails on its own
            raise _Stop(whole, start)
        return good, good_numbers

    def _skip(self, number: int, message: str) -> None:
        self.bad += 1
        if len(self.bad_lines) < SHOWN_BAD_LINES:
            self.bad_lines.append(number)
        click.echo(f"zhunru: {_one_line(message)}", file=sys.stderr)  # above a progress display, if one runs


def _parse_line(number: int, raw: bytes | None):
    """The JSON value of one batch line, _BLANK for a blank line; InputError naming the line."""
    if raw is None:
        raise InputError(f"line {number}: longer than {MAX_LINE_BYTES // (1024 * 1024)} MiB "
                         "(the limit for one line of a batch)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"line {number}: not UTF-8 text (byte {exc.start + 1})") from None
    if not text.strip():
        return _BLANK
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"line {number}: not valid JSON ({exc.msg}, column {exc.colno})") from None
    except RecursionError:
        raise InputError(f"line {number}: nested too deeply") from None
    except ValueError:  # an integer of more than 4300 digits
        raise InputError(f"line {number}: a number with thousands of digits (no field holds one)") from None


def _one_line(message: str) -> str:
    return " ".join(message.splitlines())


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _evaluate_batch(file, db_url, on, keep_going, fail_on, no_log, attach, fmt, lang):
    """Decide a JSON Lines batch as a stream: one Zhunru.decide over an iterator of requests,
    each chunk checked line by line before the engine sees it (see --batch, --keep-going)."""
    from zhunru.app import CHUNK, Zhunru

    handle = open_input(file, "FILE")
    app = Zhunru(db=db_url)
    decided = 0
    hit = False
    try:
        with contextlib.nullcontext() if file == "-" else contextlib.closing(handle):
            batch = _Batch(app, input_lines(handle, "FILE"), on, keep_going, CHUNK)
            try:
                first = batch.next_chunk()  # before the log is opened: a bad first chunk leaves no trace
                if first is not None:
                    only = first[0][0] if batch.ended and len(first[0]) == 1 else None
                    attachments = _attachments(attach, only)
                    decisions = app.decide(batch.requests(first), log=not no_log, attachments=attachments)
                    for decision in _progress(decisions, True):
                        decided += 1
                        hit = hit or decision.outcome in fail_on
                        _emit(decision, fmt, lang, True)
            except _Stop as stop:
                raise InputError(_stopped(stop, decided, batch.line_of(decided, stop.first_line), no_log)) from None
            except InputError as exc:
                if exc.exit_code != 4 or not decided:
                    raise
                # the log failed mid-run: say what the decisions printed before it are now
                from zhunru.log.store import LogFileLost

                line = batch.line_of(decided, decided + 1)
                before = (f"the {_plural(decided, 'decision')} printed before line {line} went to the removed "
                          "file and are lost with it" if isinstance(exc, LogFileLost) else
                          f"the {_plural(decided, 'decision')} printed before line {line} were logged")
                failure = type(exc)(f"{_one_line(str(exc))}; {before}")
                raise failure from None
    finally:
        app.close()
    if batch.bad:
        shown = ", ".join(map(str, batch.bad_lines)) + (", ..." if batch.bad > len(batch.bad_lines) else "")
        raise InputError(f"{_plural(batch.bad, 'bad line')} skipped ({'line' if batch.bad == 1 else 'lines'} {shown}); "
                         f"{_plural(decided, 'request')} decided"
                         + (", nothing logged (--no-log)" if no_log else " and logged"))
    if not batch.requests_seen:
        raise InputError("FILE: no requests in the batch (empty input)")
    if hit:
        sys.exit(3)


def _stopped(stop: _Stop, decided: int, first_unlogged: int, no_log: bool) -> str:
    """The bad line's message, and what the run committed before it stopped."""
    were = "was" if decided == 1 else "were"
    if no_log:
        tail = "nothing is logged (--no-log)"
        if decided:
            tail += f"; the {_plural(decided, 'decision')} before line {first_unlogged} {were} printed"
    elif decided:
        tail = (f"the {_plural(decided, 'decision')} before line {first_unlogged} {were} logged, "
                f"nothing from line {first_unlogged} on")
    else:
        tail = "nothing was logged"
    return f"{_one_line(stop.message)}; stopped: {tail}"


def _progress(decisions, batch: bool):
    """A running count on a terminal's stderr for batches (their length is not known ahead);
    plain iteration otherwise."""
    if not batch or not sys.stderr.isatty():
        return decisions
    return _counted(decisions)


def _counted(decisions):
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("决策 deciding"), TextColumn("{task.completed:,.0f}"), TimeElapsedColumn())
    with Progress(*columns, transient=True, console=_stderr_console()) as progress:
        task = progress.add_task("deciding", total=None)
        for decision in decisions:
            yield decision
            progress.advance(task)


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
