"""The application object: the one request path of zhunru.

    parse → communities → version → book → standing → rules → reasons → observers

`Zhunru` is built with its plugin manager, its ruleset registry and its store (the decision log's
URL); nothing it needs is a module-level singleton. The CLI is options and rendering around
`Zhunru.decide`; the HTTP service is the same thin shell.

    app = Zhunru(db="sqlite:///log.sqlite")
    for decision in app.decide([{"city": "bijie", ...}]):
        print(decision.outcome, decision.shown("zh")["reasons"][0]["message"])
"""
from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from zhunru.decide.evaluate import Engine, Standing, parse_request
from zhunru.decide.procedure import Procedure
from zhunru.errors import InputError
from zhunru.models import Decision, Request
from zhunru.session import Session

CHUNK = 500  # decisions per log transaction
CAP_RETRIES = 50  # decide a chunk again at most this often when other writers take a cap first


class Zhunru:
    def __init__(self, *, plugins=None, rulesets=None, db: str | None = None, procedure: Procedure | None = None):
        from zhunru.plugins import plugin_manager
        from zhunru.rulebook.loader import Registry, default_registry
        from zhunru.rulebook.roots import ruleset_roots

        self.plugins = plugins or plugin_manager()
        if rulesets is None:  # the process's registry (its cache of loaded cities) unless plugins are our own
            rulesets = default_registry() if plugins is None else Registry(ruleset_roots(self.plugins))
        self.rulesets = rulesets
        self.db_url = db
        self.engine = Engine(self.rulesets, procedure_=procedure, plugins=self.plugins)
        self._log = None

    # -- the store ---------------------------------------------------------------------------
    @property
    def log(self):
        """The decision log, opened on first use."""
        if self._log is None:
            from zhunru.log.store import DecisionLog

            self._log = DecisionLog(self.db_url)
        return self._log

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> "Zhunru":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the request path --------------------------------------------------------------------
    def prepare(self, requests: Iterable[Request | dict], *, as_of: dt.date | None = None,
                labels: list[str] | None = None) -> list[Request]:
        """Parse, date and resolve the requests, and check that each city has a ruleset in force
        on its date: everything that can make the whole run fail, before anything is logged.
        A problem raises InputError naming the request (its label) and the field."""
        parsed = []
        for i, item in enumerate(requests):
            try:
                parsed.append(item if isinstance(item, Request) else parse_request(item))
            except InputError as exc:
                raise InputError(f"{labels[i]}: {exc}" if labels else str(exc)) from None
        if as_of is not None:
            parsed = [r.model_copy(update={"date": as_of}) for r in parsed]
        ids: dict[str, str] = {}  # as named → id: a city named 毕节 is logged and counted as bijie
        for i, r in enumerate(parsed):
            if r.city not in ids:
                try:
                    ids[r.city] = self.rulesets.city_id(r.city)
                except InputError as exc:
                    raise InputError(f"{labels[i]}: {exc}" if labels else str(exc)) from None
            if ids[r.city] != r.city:
                parsed[i] = r.model_copy(update={"city": ids[r.city]})
        if any(c.name.lower() == "all" or (c.population is None and c.households is None)
               for r in parsed for c in r.communities):  # communities named without numbers
            from zhunru.office.registry import resolve_requests

            parsed = resolve_requests(parsed, self.db_url, labels)
        for city, on in dict.fromkeys((r.city, r.date) for r in parsed):
            self.engine.book_for(city, on)
        return parsed

    def decide(self, requests: Iterable[Request | dict], *, as_of: dt.date | None = None, log: bool = True,
               attachments: list[dict] | None = None, labels: list[str] | None = None) -> Iterator[Decision]:
        """Decide requests in order, one decision each. With `log`, every decision goes to the
        observers (the decision log among them), chunk by chunk, each chunk one transaction; a
        request the log already holds yields the logged decision (`already_logged`).

        A list is checked whole before anything is logged; any other iterable is a stream,
        read and checked one chunk at a time (memory stays bounded), so a bad request stops
        the run before anything of its chunk is logged."""
        if isinstance(requests, Sequence):
            prepared = self.prepare(requests, as_of=as_of, labels=labels)
            chunks: Iterable[list[Request]] = (prepared[i:i + CHUNK] for i in range(0, len(prepared), CHUNK))
        else:
            chunks = self._stream(iter(requests), as_of)
        return self._run(chunks, log, attachments or [])

    def _stream(self, requests: Iterator, as_of: dt.date | None) -> Iterator[list[Request]]:
        start = 0
        while chunk := list(itertools.islice(requests, CHUNK)):
            labels = [f"request {start + i + 1}" for i in range(len(chunk))]
            yield self.prepare(chunk, as_of=as_of, labels=labels)
            start += len(chunk)

    def _run(self, chunks: Iterable[list[Request]], log: bool, attachments: list[dict]) -> Iterator[Decision]:
        session = Session(log_url=self.db_url, no_log=not log, attachments=attachments)
        if log:
            session.state["log"] = self.log
            session.state["cap"] = self.cap
        for chunk in chunks:
            if log:
                decisions = self._decide_chunk(chunk, session)
            else:
                decisions = [self.decide_one(r) for r in chunk]
                self._observe(chunk, decisions, session)
            logged = session.state.get("logged", {})
            shown = [d if (previous := logged.get(d.request_id)) is None else Decision.from_log(previous)
                     for d in decisions]
            logged.clear()  # this chunk's; memory stays bounded over a long stream
            yield from shown

    def _decide_chunk(self, chunk: list[Request], session: Session) -> list[Decision]:
        """Decide and log one chunk against what the communities carry now (read by key from
        the log's carried matters, log/targets.py). The log checks each admission of a capped kind again inside its
        transaction; if another writer admitted first (CapConflict), nothing of the chunk was
        written and the chunk is decided again on the new state."""
        from zhunru.log.store import CapConflict, LogError

        for _attempt in range(CAP_RETRIES):
            standing = self._standing(chunk)
            decisions = [self.decide_one(request, standing) for request in chunk]
            try:
                self._observe(chunk, decisions, session)
                return decisions
            except CapConflict:
                session.state.get("log_pending", []).clear()
                continue
        raise LogError(f"--db: the caps of these communities kept changing under {CAP_RETRIES} other writers' "
                       "admissions; nothing of this part was written, try again")

    def _observe(self, chunk: list[Request], decisions: list[Decision], session: Session) -> None:
        hook = self.plugins.hook
        for request, decision in zip(chunk, decisions):
            hook.zhunru_decision_made(request=request, decision=decision, session=session)
        hook.zhunru_flush(session=session)

    def decide_one(self, request: Request, standing: Standing | None = None) -> Decision:
        """One decision; an admission of a capped kind counts against the cap of the next."""
        decision = self.engine.evaluate(request, standing)
        if standing is not None and request.kind in standing.kinds:
            standing.record(request, decision)
        return decision

    def cap(self, request: Request) -> int | None:
        """The ruleset's cap on the request's kind (e.g. three plates per community), if any."""
        found = self.engine.book_for(request.city, request.date).max_count.get(request.kind)
        return found[0] if found else None

    def _standing(self, requests: list[Request]) -> Standing:
        """What the chunk's target communities already carry, for the kinds a ruleset caps:
        read by key from the log's carried matters, for these communities only. Without the log
        (log=False) there is no standing state and caps are not counted."""
        from zhunru.decide.evaluate import community_key

        capped = [r for r in requests if self.cap(r) is not None]
        keys = {(r.city, r.kind, community_key(c)) for r in capped for c in r.communities}
        return Standing(admitted=self.log.carried(keys) if keys else {}, kinds={r.kind for r in capped})

    # -- other questions the path answers ----------------------------------------------------
    def check_certificate(self, text: str, city: str, on: dt.date | None = None) -> dict[str, Any]:
        from zhunru.decide.certificates import check_certificate

        return check_certificate(self.engine, text, city, on)
