"""`zhunru ruleset new CITY`: a skeleton ruleset folder that validates and whose one case passes.

The files come from templates/scaffold/ (package data), filled with string.Template; nothing
that already exists is overwritten.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

from zhunru.errors import InputError

CITY_ID = re.compile(r"^[a-z][a-z0-9_]*$")
VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]*$")
NATIONAL_FROM = dt.date(2015, 7, 13)  # the national baseline's first day: a city cannot start earlier


@dataclass(frozen=True)
class Scaffold:
    folder: Path
    ruleset: Path
    source: Path
    case: Path
    concordance: Path
    schema: Path | None  # written only when DIR had none


def json_schema() -> dict:
    """The ruleset format as JSON Schema (what `zhunru ruleset schema` prints)."""
    from zhunru.rulebook.format import Ruleset

    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **Ruleset.model_json_schema()}


def _template(name: str) -> Template:
    return Template(resources.files("zhunru").joinpath("templates", "scaffold", name).read_text(encoding="utf-8"))


def new_city(city: str, base: Path, version: str | None = None, effective_from: dt.date | None = None) -> Scaffold:
    if not CITY_ID.match(city):
        raise InputError(f"CITY: {city!r} is not a ruleset id (lower-case letters, digits and _, starting with a letter)")
    effective_from = effective_from or dt.date.today()
    if effective_from < NATIONAL_FROM:
        raise InputError(f"--effective-from: {effective_from} is before the national baseline ({NATIONAL_FROM})")
    version = version or f"{effective_from.year}.1"
    if not VERSION.match(version):
        raise InputError(f"--version: {version!r} is not a version (e.g. 2024.1)")
    folder = base / city
    if folder.exists():
        raise InputError(f"CITY: {folder} already exists; nothing was written (choose another --dir or remove it)")
    if base.exists() and not base.is_dir():
        raise InputError(f"--dir: {base} is not a folder")
    values = {"city": city, "version": version, "effective_from": effective_from.isoformat(),
              "prefix": city.upper().replace("_", "-")}
    texts = {
        folder / f"{version}.yaml": _template("ruleset.yaml.tmpl").substitute(values),
        folder / "sources" / "policy.txt": _template("policy.txt.tmpl").substitute(values),
        folder / "cases" / f"{version}.yaml": _template("case.yaml.tmpl").substitute(values),
        folder / "concordance.yaml": _template("concordance.yaml.tmpl").substitute(values),
    }
    try:
        for path, text in texts.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("x", encoding="utf-8") as handle:  # "x": never overwrite
                handle.write(text)
        schema = base / "ruleset.schema.json"
        if schema.exists():
            schema = None
        else:
            schema.write_text(json.dumps(json_schema(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"--dir: cannot write under {base} ({exc.strerror})") from None
    paths = list(texts)
    return Scaffold(folder, paths[0], paths[1], paths[2], paths[3], schema)
