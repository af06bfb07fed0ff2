"""Reading YAML safely: the safe loader, no aliases (no alias bombs), a size limit, and one-line
errors. Imported only when a ruleset or case file is actually parsed."""
from __future__ import annotations

from pathlib import Path

import yaml

from zhunru.errors import RulesetError

MAX_RULESET_BYTES = 2 * 1024 * 1024


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors/aliases: rulesets never need them and they enable bombs."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, "YAML aliases (*ref) are not allowed",
                                              event.start_mark)
        return super().compose_node(parent, index)


_CLoader = getattr(yaml, "CSafeLoader", None)  # None when PyYAML was built without libyaml


def read_yaml(path: Path, limit: int = MAX_RULESET_BYTES):
    """Parse a YAML file safely; raise RulesetError with a one-line message."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise RulesetError(f"{path}: cannot read ({exc.strerror})") from None
    if size > limit:
        raise RulesetError(f"{path}: file is {size} bytes, over the limit of {limit}")
    raw = path.read_bytes()
    return parse_yaml(raw, str(path)), raw


def parse_yaml(raw: bytes, where: str):
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RulesetError(f"{where}: not UTF-8 text") from None
    try:
        if _CLoader is None:
            return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
        # libyaml is ten times faster (start-up). Aliases are refused from the event stream
        # first: the scan is linear in the text, so a bomb never gets expanded.
        for event in yaml.parse(text, Loader=_CLoader):
            if isinstance(event, yaml.AliasEvent):
                raise yaml.composer.ComposerError(None, None, "YAML aliases (*ref) are not allowed",
                                                  event.start_mark)
        return yaml.load(text, Loader=_CLoader)  # noqa: S506 - libyaml's SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = f" (line {mark.line + 1})" if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        if "python/" in str(exc) or "could not determine a constructor" in problem:
            problem = "tags like !!python/... are not allowed"
        raise RulesetError(f"{where}{at}: {problem}") from None
    except yaml.YAMLError as exc:
        raise RulesetError(f"{where}: invalid YAML ({exc.__class__.__name__})") from None
    except RecursionError:
        raise RulesetError(f"{where}: nested too deeply") from None
    except (ValueError, OverflowError) as exc:  # a scalar PyYAML cannot build, e.g. date 2021-02-30
        raise RulesetError(f"{where}: invalid value ({exc})") from None


