"""The rulesets shipped with zhunru, registered like any third-party city plugin."""
from pathlib import Path

from zhunru.plugins import hookimpl


@hookimpl
def zhunru_ruleset_paths():
    import zhunru.rulesets

    return [Path(zhunru.rulesets.__file__).parent]
