"""zhunru's hook specifications (pluggy), as datasette keeps its own in hookspecs.py.

A plugin is a module (or object) with functions marked `@hookimpl` named like these. zhunru's
own features are plugins of the same hooks: the shipped rulesets and the decision log."""
from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("zhunru")
hookimpl = pluggy.HookimplMarker("zhunru")


@hookspec
def zhunru_ruleset_paths():
    """Return folders that hold rulesets as `<city>/<version>.yaml`."""


@hookspec
def zhunru_city_rules(city):
    """Return callables `rule(request, decision, city) -> list[dict] | None` for `city`.

    `decision` is the draft decision `{outcome, category, reasons}`; `city` is a small read-only
    view of the ruleset deciding (`city.ruleset`, `city.clause(id)`, `city.lookup(kind, matter)`).
    Each dict returned is an extra reason `{code, clause, message}` whose clause id is in the
    city's ruleset chain, optionally with `outcome` (admitted|needs_approval|rejected): the
    decision takes the stricter of its own outcome and that one. A reason whose code zhunru's
    messages know (zhunru.messages.REASONS) may give `values` instead of `message`: it is then
    stored language-neutral and rendered in the reader's language.
    """


@hookspec
def zhunru_decision_made(request, decision, session):
    """Observe every decision (the decision log is one such observer).

    `session` carries the run's options (`session.log_url`, `session.no_log`,
    `session.attachments`) and a dict `session.state` where an observer keeps its resources.
    An exception raised here stops the run with a non-zero exit. When the log finds, as it
    writes a chunk, that another writer took a community's cap first, nothing of the chunk is
    written and the chunk is decided again: its decisions are observed again, and only the
    chunk that `zhunru_flush` returns from without an exception is final.
    """


@hookspec
def zhunru_flush(session):
    """Write out what observers buffered during a run (called after each chunk of decisions and
    at the end). The log records, in `session.state["logged"]`, request id → logged entry for
    requests it had already logged (idempotent re-runs)."""
