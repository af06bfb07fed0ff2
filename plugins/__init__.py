"""zhunru's plugin system (pluggy). zhunru's own features use the same hooks a third party does.

Built-in plugins (the shipped rulesets, the decision log) are registered by import, always.
Third-party plugins come through the entry-point group `zhunru`. Environment:
  ZHUNRU_PLUGINS=a,b   load only these third-party entry points (by entry-point name); empty: none
  ZHUNRU_TRACE=1       print every hook call to stderr
A plugin that implements a `zhunru_…` function no hook spec knows (a typo) is an error.
"""
from __future__ import annotations

import functools
import os
import sys
from importlib import metadata

import pluggy

from zhunru.errors import InputError
from zhunru.plugins import hookspecs
from zhunru.plugins.hookspecs import hookimpl, hookspec  # noqa: F401 - what plugins import

# name → module of the plugins zhunru always has (datasette's DEFAULT_PLUGINS)
BUILTIN = {"shipped_rulesets": "zhunru.plugins.shipped", "decision_log": "zhunru.plugins.log_observer"}

_DISTRIBUTIONS: dict[str, str] = {}  # entry-point name → "distribution version"


def new_plugin_manager(third_party: bool = True) -> pluggy.PluginManager:
    """A plugin manager with the built-ins and (unless told not to) the installed third-party
    plugins that ZHUNRU_PLUGINS lets through."""
    import importlib

    pm = pluggy.PluginManager("zhunru")
    pm.add_hookspecs(hookspecs)
    for name, module in BUILTIN.items():
        pm.register(importlib.import_module(module), name=name)
    if third_party:
        wanted = os.environ.get("ZHUNRU_PLUGINS")
        only = None if wanted is None else {n.strip() for n in wanted.split(",") if n.strip()}
        for ep in metadata.entry_points(group="zhunru"):
            if ep.name in BUILTIN or (only is not None and ep.name not in only):
                continue
            if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
                continue
            pm.register(ep.load(), name=ep.name)
            if ep.dist is not None:  # registered by hand, so pluggy's list_plugin_distinfo() knows nothing
                _DISTRIBUTIONS[ep.name] = f"{ep.dist.name} {ep.dist.version}"
    check(pm)
    if os.environ.get("ZHUNRU_TRACE"):
        pm.trace.root.setwriter(lambda msg: sys.stderr.write(msg))
        pm.enable_tracing()
    return pm


def check(pm: pluggy.PluginManager) -> None:
    """Every `zhunru_…` function of a plugin must be a known hook (pluggy's check_pending), with
    the arguments its spec names: one line naming the plugin and the hook, not silence."""
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        name = pm.get_name(exc.plugin) or repr(exc.plugin)
        raise InputError(f"plugin {name}: {str(exc).splitlines()[0]}") from None


@functools.cache
def plugin_manager() -> pluggy.PluginManager:
    """The process's plugin manager (the CLI's; an application object may bring its own)."""
    return new_plugin_manager()


def loaded_plugins(pm: pluggy.PluginManager | None = None) -> list[dict]:
    """Name, module and hooks of every registered plugin (for `zhunru plugins`)."""
    pm = pm or plugin_manager()
    rows = []
    for name, plugin in pm.list_name_plugin():
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
        rows.append({"name": name, "module": getattr(plugin, "__name__", repr(plugin)),
                     "distribution": "zhunru (built in)" if name in BUILTIN else _DISTRIBUTIONS.get(name),
                     "hooks": hooks})
    return rows
