"""The rulesets shipped with zhunru, registered like any third-party city plugin: where their
folders are, and the rules their data cannot say (zhunru.plugins.city_rules)."""
from pathlib import Path

from zhunru.plugins import hookimpl


@hookimpl
def zhunru_ruleset_paths():
    import zhunru.rulesets

    return [Path(zhunru.rulesets.__file__).parent]


@hookimpl
def zhunru_city_rules(city):
    from zhunru.plugins.city_rules import RULES

    return list(RULES.get(city, []))
