"""zhunru's plugin system (pluggy). zhunru's own features use the same hooks a third party does.

Entry-point group: `zhunru`. Environment:
  ZHUNRU_PLUGINS=a,b   load only these entry points (by entry-point name); empty: none
  ZHUNRU_TRACE=1       print every hook call to stderr
"""
from __future__ import annotations

import functools
import os
import sys
from importlib import metadata

import pluggy

hookspec = pluggy.HookspecMarker("zhunru")
hookimpl = pluggy.HookimplMarker("zhunru")


class ZhunruSpec:
    @hookspec
    def zhunru_ruleset_paths(self):
        """Return folders that hold rulesets as `<city>/<version>.yaml`."""

    @hookspec
    def zhunru_city_rules(self, city):
        """Return callables `rule(request, decision, book) -> list[dict] | None` for `city`.

        Each dict is an extra reason `{code, clause, message}` whose clause id is in the city's
        ruleset chain, optionally with `outcome` (admitted|needs_approval|rejected): the decision
        takes the stricter of its own outcome and that one.
        """

    @hookspec
    def zhunru_decision_made(self, request, decision, session):
        """Observe every decision (the decision log is one such observer).

        `session` carries the run's options (`session.log_url`, `session.no_log`,
        `session.attachments`) and a dict `session.state` where an observer keeps its resources.
        An exception raised here stops the run with a non-zero exit.
        """

    @hookspec
    def zhunru_flush(self, session):
        """Write out what observers buffered during a run (called after each batch chunk and at
        the end). The log records, in `session.state["logged"]`, request id → logged entry for
        requests it had already logged (idempotent re-runs)."""


_DISTRIBUTIONS: dict[str, str] = {}  # entry-point name → "distribution version"


@functools.cache
def plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("zhunru")
    pm.add_hookspecs(ZhunruSpec)
    wanted = os.environ.get("ZHUNRU_PLUGINS")
    only = None if wanted is None else {n.strip() for n in wanted.split(",") if n.strip()}
    for ep in metadata.entry_points(group="zhunru"):
        if only is not None and ep.name not in only:
            continue
        if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
            continue
        pm.register(ep.load(), name=ep.name)
        if ep.dist is not None:  # registered by hand, so pluggy's list_plugin_distinfo() knows nothing
            _DISTRIBUTIONS[ep.name] = f"{ep.dist.name} {ep.dist.version}"
    if os.environ.get("ZHUNRU_TRACE"):
        pm.trace.root.setwriter(lambda msg: sys.stderr.write(msg))
        pm.enable_tracing()
    return pm


def loaded_plugins() -> list[dict]:
    """Name, module and hooks of every registered plugin (for `zhunru plugins`)."""
    pm = plugin_manager()
    rows = []
    for name, plugin in pm.list_name_plugin():
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
        rows.append({"name": name, "module": getattr(plugin, "__name__", repr(plugin)),
                     "distribution": _DISTRIBUTIONS.get(name), "hooks": hooks})
    return rows
