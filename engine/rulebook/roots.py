"""Where rulesets are: the folders the plugins offer, then ZHUNRU_RULESETS. Light to import
(no pydantic): the fast certificate path uses it too."""
from __future__ import annotations

from pathlib import Path


def ruleset_roots(pm=None) -> list[Path]:
    """The plugins' ruleset folders, then any in ZHUNRU_RULESETS (path1:path2, os.pathsep): a
    city's own or a test's rulesets without writing a plugin."""
    import os

    if pm is None:
        from zhunru.plugins import plugin_manager

        pm = plugin_manager()
    roots: list[Path] = []
    for paths in pm.hook.zhunru_ruleset_paths():
        roots.extend(Path(p) for p in paths or [])
    extra = os.environ.get("ZHUNRU_RULESETS", "")
    roots.extend(Path(p).expanduser() for p in extra.split(os.pathsep) if p.strip())
    return roots
