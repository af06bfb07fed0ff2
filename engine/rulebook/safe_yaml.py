"""Reading YAML safely: the safe loader, no aliases (no alias bombs), no duplicate keys, a size
limit, and one-line errors that name the field and the line. Imported only when a ruleset or
case file is actually parsed."""
from __future__ import annotations

from pathlib import Path

import yaml

from zhunru.errors import RulesetError

MAX_RULESET_BYTES = 2 * 1024 * 1024
_MERGE = "tag:yaml.org,2002:merge"


class YamlError(RulesetError):
    """A YAML error at a place in the file: `str()` is `WHERE: FIELD: YAML line N: problem`
    (`WHERE: YAML line N: problem` when no field is known). `field` is the clause id when the
    place is inside a clause, else the field path, else "-"; `detail` is the rest of the line
    (`ruleset validate` prints `FILE: field: detail`)."""

    def __init__(self, where: str, field: str, detail: str):
        self.where, self.field, self.detail = where, field, detail
        super().__init__(f"{where}: {detail}" if field == "-" else f"{where}: {field}: {detail}")


class _Located(yaml.constructor.ConstructorError):
    """A construction error at a node (duplicate key, impossible date): located in the document
    tree afterwards to name the field."""

    def __init__(self, node, problem: str, mark):
        super().__init__(None, None, problem, mark)
        self.node = node


class _Checks:
    """Mixed into the safe loaders: duplicate keys and impossible dates are errors at a node."""

    def construct_document(self, node):
        self._root = node
        return super().construct_document(node)

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            first: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE:
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    seen = first.get(key)
                except TypeError:  # unhashable: the base constructor reports it
                    continue
                if seen is not None:
                    raise _Located(key_node, f"duplicate key {key!r} (first at line {seen.start_mark.line + 1})",
                                   key_node.start_mark)
                first[key] = key_node
        return super().construct_mapping(node, deep)

    def construct_yaml_timestamp(self, node):
        try:
            return super().construct_yaml_timestamp(node)
        except (ValueError, OverflowError):  # e.g. 2024-13-45, 2021-02-30: PyYAML raises a bare ValueError
            raise _Located(node, f"{node.value!r} is not a valid date (YYYY-MM-DD)", node.start_mark) from None


class _NoAliasLoader(_Checks, yaml.SafeLoader):
    """SafeLoader that refuses anchors/aliases: rulesets never need them and they enable bombs."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, "YAML aliases (*ref) are not allowed",
                                              event.start_mark)
        return super().compose_node(parent, index)


_NoAliasLoader.add_constructor("tag:yaml.org,2002:timestamp", _Checks.construct_yaml_timestamp)

if getattr(yaml, "CSafeLoader", None) is not None:
    class _CheckedCLoader(_Checks, yaml.CSafeLoader):
        """libyaml's parser with the same checks (aliases are refused from the event stream)."""

    _CheckedCLoader.add_constructor("tag:yaml.org,2002:timestamp", _Checks.construct_yaml_timestamp)
    _CLoader = _CheckedCLoader
else:
    _CLoader = None  # PyYAML was built without libyaml


def read_yaml(path: Path, limit: int = MAX_RULESET_BYTES):
    """Parse a YAML file safely; raise RulesetError with a one-line message."""
    from zhunru.safe_io import read_regular

    raw = read_regular(path, limit, str(path), RulesetError)  # not a FIFO, not /dev/zero, not past the limit
    return parse_yaml(raw, str(path)), raw


def parse_yaml(raw: bytes, where: str):
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RulesetError(f"{where}: not UTF-8 text") from None
    loader = None
    try:
        if _CLoader is None:
            loader = _NoAliasLoader(text)
        else:
            # libyaml is ten times faster (start-up). Aliases are refused from the event stream
            # first: the scan is linear in the text, so a bomb never gets expanded.
            for event in yaml.parse(text, Loader=_CLoader):
                if isinstance(event, yaml.AliasEvent):
                    raise yaml.composer.ComposerError(None, None, "YAML aliases (*ref) are not allowed",
                                                      event.start_mark)
            loader = _CLoader(text)
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except _Located as exc:
        field, path = locate_node(getattr(loader, "_root", None), exc.node)
        detail = f"YAML line {exc.problem_mark.line + 1}: {exc.problem}"
        raise YamlError(where, field, detail if field == path else f"{path}: {detail}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        if "python/" in str(exc) or "could not determine a constructor" in problem:
            problem = "tags like !!python/... are not allowed"
        if mark is None:
            raise RulesetError(f"{where}: {problem}") from None
        raise YamlError(where, "-", f"YAML line {mark.line + 1}: {problem}") from None
    except yaml.YAMLError as exc:
        raise RulesetError(f"{where}: invalid YAML ({exc.__class__.__name__})") from None
    except RecursionError:
        raise RulesetError(f"{where}: nested too deeply") from None
    except (ValueError, OverflowError) as exc:  # a scalar PyYAML cannot build that no check above caught
        raise RulesetError(f"{where}: invalid value ({exc})") from None


# -- where a node or a field path is in the document --------------------------------------------

def _children(node):
    """(path part, node to report, node to descend into) of a mapping's entries or a sequence's items."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                yield key.value, key, value
    elif isinstance(node, yaml.SequenceNode):
        for i, value in enumerate(node.value):
            yield str(i), value, value


def _clause_id(node) -> str | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == "id" and isinstance(value, yaml.ScalarNode):
                return value.value or None
    return None


def locate_node(root, target) -> tuple[str, str]:
    """(clause id or field path, field path) of `target` (a key or value node) in the tree. The
    clause is the innermost mapping below the top level with an `id` (the top level's `id` is the
    ruleset's, not a clause's)."""
    stack = [(root, [], None)] if root is not None else []
    while stack:
        node, parts, clause = stack.pop()
        if parts:
            clause = _clause_id(node) or clause
        for part, shown, value in _children(node):
            here = [*parts, part]
            if shown is target or value is target:
                path = ".".join(here)
                return clause or path, path
            if isinstance(value, (yaml.MappingNode, yaml.SequenceNode)):
                stack.append((value, here, clause))
    return "-", "-"


def locate_path(raw: bytes, loc) -> tuple[str | None, int | None]:
    """(clause id, line) of the deepest node on the field path `loc` (keys and list indexes), for
    a schema error found after parsing: the line of the key, the item, or the mapping a missing
    field belongs in. (None, None) when the text cannot be composed again."""
    try:
        node = yaml.compose(raw.decode("utf-8"), Loader=_CLoader or _NoAliasLoader)
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError, ValueError):
        return None, None
    if node is None:
        return None, None
    clause, line = None, node.start_mark.line + 1
    for part in loc:
        found = next(((shown, value) for name, shown, value in _children(node) if name == str(part)), None)
        if found is None:
            break
        shown, node = found
        line = shown.start_mark.line + 1
        clause = _clause_id(node) or clause
    return clause, line
