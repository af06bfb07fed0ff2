"""Reading one ruleset file: safe YAML, the schema, and the loaded result with its hash.

The bottom of the rulebook: the checks (checks.py), the compiled book (book.py) and the registry
of all cities (loader.py) build on it."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
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


def schema_problems(exc: ValidationError, data: dict, raw: bytes) -> list[tuple[str, str]]:
    """(clause id or field path, what is wrong) per pydantic error of a ruleset file, naming the
    field and the YAML line where it is (or, for a missing field, where it belongs):
    `caps.assist_items` / `YAML line 7: Input should be a valid integer`, or inside a clause
    `TC-ADM-01` / `clauses.0.source: YAML line 14: Field required`."""
    from zhunru.rulebook.safe_yaml import locate_path

    out = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if not loc:  # a check of the whole ruleset names its field first ("effective_to must be after …")
            first = msg.split(" ", 1)[0]
            loc = (first,) if first in data else ()
        if err["type"].startswith("date") and isinstance(err.get("input"), str):
            msg = f"{err['input']!r} is not a valid date (YYYY-MM-DD)"
        path = ".".join(str(p) for p in loc) or "-"
        clause, line = locate_path(raw, loc)
        detail = f"YAML line {line}: {msg}" if line else msg
        out.append((clause, f"{path}: {detail}") if clause else (path, detail))
    return out


@dataclass(frozen=True)
class LoadedRuleset:
    """One ruleset file: the validated model, where it came from and its content hash. `parts`:
    clause id → title of the part of its source document its quote lies in, for documents whose
    `sources:` entry declares parts (found by checks.clause_parts when the city is loaded)."""

    ruleset: Ruleset
    path: Path
    sha256: str
    parts: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def source_status(self, clause) -> tuple[str, str] | None:
        """(title, status) of what `clause` quotes: the part of its document it lies in when the
        document has parts, else the document as `sources:` lists it; None when it is not listed."""
        document = clause.source.document
        for doc in self.ruleset.sources:
            if document is None or doc.document != document:
                continue
            title = self.parts.get(clause.id)
            for part in doc.parts:
                if part.title == title:
                    return part.title, part.status
            return doc.title, doc.status
        return None

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
        field, detail = schema_problems(exc, data, raw)[0]
        raise RulesetError(f"{path}: {field}: {detail}") from None
    return LoadedRuleset(model, path, hashlib.sha256(raw).hexdigest())
