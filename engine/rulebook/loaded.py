"""Reading one ruleset file: safe YAML, the schema, and the loaded result with its hash.

The bottom of the rulebook: the checks (checks.py), the compiled book (book.py) and the registry
of all cities (loader.py) build on it."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from zhunru.errors import RulesetError
from zhunru.rulebook.format import Ruleset


def read_yaml(path: Path, limit: int | None = None):
    """Parse a YAML file safely; raise RulesetError with a one-line message."""
    from zhunru.rulebook.safe_yaml import read_yaml as read  # PyYAML is imported only when a file is parsed

    return read(path) if limit is None else read(path, limit)


def parse_yaml(raw: bytes, where: str):
    from zhunru.rulebook.safe_yaml import parse_yaml as parse

    return parse(raw, where)


def describe_validation(exc: ValidationError) -> list[str]:
    """One short line per pydantic error: `field.path: message`."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"{loc}: {msg}")
    return lines


@dataclass(frozen=True)
class LoadedRuleset:
    """One ruleset file: the validated model, where it came from and its content hash."""

    ruleset: Ruleset
    path: Path
    sha256: str

    @property
    def ref(self) -> str:
        return f"{self.ruleset.id}@{self.ruleset.version}"

    @property
    def sources_dir(self) -> Path:
        return self.path.parent / "sources"


def load_file(path: Path) -> LoadedRuleset:
    data, raw = read_yaml(path)
    if not isinstance(data, dict):
        raise RulesetError(f"{path}: a ruleset is a YAML mapping")
    try:
        model = Ruleset.model_validate(data)
    except ValidationError as exc:
        raise RulesetError(f"{path}: {describe_validation(exc)[0]}") from None
    return LoadedRuleset(model, path, hashlib.sha256(raw).hexdigest())
