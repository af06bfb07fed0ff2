"""`zhunru ruleset validate`: every problem of a ruleset, one line each (file, clause, what)."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from .book import LISTS
from .errors import RulesetError
from .loader import LoadedRuleset, Registry, describe_validation, read_yaml, ruleset_roots
from .normalize import normalize
from .ruleset import Ruleset

CONTRADICTIONS = {
    "task": [("duty", "negative"), ("assist", "negative"), ("duty", "assist")],
    "certificate": [("must_issue", "must_not_issue"), ("may_issue", "must_not_issue"), ("must_issue", "may_issue")],
    **{kind: [("allowed", "forbidden")] for kind in ("nameplate", "posting", "meeting", "ledger", "report", "assessment")},
}


@dataclass(frozen=True)
class Problem:
    file: str
    clause: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.clause}: {self.message}"


def quote_norm(text: str) -> str:
    """As ../shared/tools/check_quotes.py: NFKC, whitespace ignored, nothing else forgiven."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def ruleset_files(path: Path) -> list[Path]:
    """A ruleset file, a city folder, or a folder of city folders."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise RulesetError(f"PATH: {path} does not exist")
    files = sorted(path.glob("*.yaml"))
    if not files:
        files = sorted(p for p in path.glob("*/*.yaml"))
    if not files:
        raise RulesetError(f"PATH: no ruleset files (<city>/<version>.yaml) under {path}")
    return files


def validate_path(path: Path) -> tuple[list[Problem], int]:
    """(problems, number of ruleset files checked)."""
    files = ruleset_files(path)
    problems: list[Problem] = []
    loaded: list[LoadedRuleset] = []
    for file in files:
        got = _load(file, problems)
        if got is not None:
            loaded.append(got)
    roots = sorted({f.parent.parent for f in files}, key=str)
    registry = Registry(roots + [r for r in ruleset_roots() if r not in roots])
    for item in loaded:
        problems.extend(_check_file(item, registry))
    problems.extend(_check_overlaps(loaded))
    return problems, len(files)


def _load(file: Path, problems: list[Problem]) -> LoadedRuleset | None:
    import hashlib

    try:
        data, raw = read_yaml(file)
    except RulesetError as exc:
        problems.append(Problem(str(file), "-", str(exc).removeprefix(f"{file}").lstrip(": ")))
        return None
    if not isinstance(data, dict):
        problems.append(Problem(str(file), "-", "a ruleset is a YAML mapping"))
        return None
    try:
        model = Ruleset.model_validate(data)
    except ValidationError as exc:
        for line in describe_validation(exc):
            problems.append(Problem(str(file), _clause_at(data, line), f"schema: {line}"))
        return None
    return LoadedRuleset(model, file, hashlib.sha256(raw).hexdigest())


def _clause_at(data: dict, line: str) -> str:
    """The id of the clause an error path points into, where there is one."""
    node, found = data, "-"
    for part in line.split(":", 1)[0].split("."):
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            break
        if isinstance(node, dict) and isinstance(node.get("id"), str):
            found = node["id"]
    return found


def _check_file(item: LoadedRuleset, registry: Registry) -> list[Problem]:
    rs, file = item.ruleset, str(item.path)
    out: list[Problem] = []

    def bad(clause: str, message: str) -> None:
        out.append(Problem(file, clause, message))

    if item.path.stem != rs.version:
        bad("-", f"file name {item.path.name!r} does not match version {rs.version!r}")
    if item.path.parent.name != rs.id:
        bad("-", f"folder {item.path.parent.name!r} does not match id {rs.id!r}")
    clauses = rs.all_clauses()
    seen: set[str] = set()
    for clause in clauses:
        if clause.id in seen:
            bad(clause.id, "clause id is used twice")
        seen.add(clause.id)
    # parents
    chain = [item]
    if rs.extends:
        try:
            chain = registry.chain(item)
        except RulesetError as exc:
            bad("extends", str(exc).split(": ", 1)[-1])
    parent_ids = {c.id: p.ref for p in chain[1:] for c in p.ruleset.all_clauses()}
    for clause in clauses:
        if clause.id in parent_ids:
            bad(clause.id, f"clause id is already used by the parent {parent_ids[clause.id]}")
    known = seen | set(parent_ids)
    for where, ref in _references(rs):
        if ref not in known:
            bad(where, f"refers to clause {ref!r}, which is not in this ruleset or its parents")
    out.extend(_check_quotes(item, clauses))
    out.extend(_check_names(item))
    out.extend(_check_caps(item))
    return out


def _references(rs: Ruleset) -> list[tuple[str, str]]:
    refs = []
    if rs.task and rs.task.commissioned:
        refs.append(("task.commissioned", rs.task.commissioned))
    for kind in LISTS:
        section = getattr(rs, kind)
        if section is None:
            continue
        other = getattr(section, "otherwise", None)
        if other is not None:
            refs.append((f"{kind}.otherwise", other.clause))
        if getattr(section, "max_count_clause", None):
            refs.append((f"{kind}.max_count_clause", section.max_count_clause))
    for name, section in (("caps", rs.caps), ("deadlines", rs.deadlines)):
        if section is not None and section.clause:
            refs.append((f"{name}.clause", section.clause))
    return refs


def _check_quotes(item: LoadedRuleset, clauses) -> list[Problem]:
    out, cache = [], {}
    for clause in clauses:
        source = clause.source
        if source.document is None:
            continue
        name = Path(source.document).name
        doc = item.sources_dir / name
        if name not in cache:
            cache[name] = quote_norm(doc.read_text(encoding="utf-8")) if doc.is_file() else None
        if cache[name] is None:
            out.append(Problem(str(item.path), clause.id, f"source document {name!r} is not in {item.sources_dir}"))
        elif quote_norm(source.quote) not in cache[name]:
            out.append(Problem(str(item.path), clause.id, f"quote is not verbatim in {name}: {source.quote[:40]!r}"))
    return out


def _check_names(item: LoadedRuleset) -> list[Problem]:
    rs, out = item.ruleset, []
    for kind, lists in LISTS.items():
        section = getattr(rs, kind)
        if section is None:
            continue
        owner: dict[str, tuple[str, str]] = {}  # normalised name → (list, clause id)
        for list_name in lists:
            item_list = getattr(section, list_name)
            for entry in (item_list.items if item_list else []):
                for name in dict.fromkeys((entry.name, *entry.aliases)):
                    key = normalize(name)
                    if not key:
                        out.append(Problem(str(item.path), entry.id, f"name {name!r} is empty after normalisation"))
                        continue
                    if key in owner and owner[key][1] != entry.id:
                        other_list, other_id = owner[key]
                        pair = tuple(sorted((list_name, other_list)))
                        if other_list != list_name and any(tuple(sorted(p)) == pair for p in CONTRADICTIONS[kind]):
                            out.append(Problem(str(item.path), entry.id,
                                               f"{name!r} is on both {kind}.{other_list} ({other_id}) and "
                                               f"{kind}.{list_name}: the lists contradict each other"))
                        else:
                            out.append(Problem(str(item.path), entry.id,
                                               f"name or alias {name!r} collides after normalisation with {other_id}"))
                    else:
                        owner.setdefault(key, (list_name, entry.id))
    return out


def _check_caps(item: LoadedRuleset) -> list[Problem]:
    rs, out = item.ruleset, []
    caps = rs.caps
    if caps is None:
        return out
    clause = caps.clause or "caps"
    assist = rs.task.assist.items if rs.task and rs.task.assist else []
    duty = rs.task.duty.items if rs.task and rs.task.duty else []
    if caps.assist_items is not None and len(assist) > caps.assist_items:
        out.append(Problem(str(item.path), clause, f"{len(assist)} assist items exceed the cap of {caps.assist_items}"))
    categories = {i.category or i.name for i in assist}
    if caps.assist_categories is not None and len(categories) > caps.assist_categories:
        out.append(Problem(str(item.path), clause,
                           f"{len(categories)} assist categories exceed the cap of {caps.assist_categories}"))
    if caps.duty_items is not None and len(duty) > caps.duty_items:
        out.append(Problem(str(item.path), clause, f"{len(duty)} duty items exceed the cap of {caps.duty_items}"))
    return out


def _check_overlaps(loaded: list[LoadedRuleset]) -> list[Problem]:
    out = []
    by_city: dict[str, list[LoadedRuleset]] = {}
    for item in loaded:
        by_city.setdefault(item.ruleset.id, []).append(item)
    for versions in by_city.values():
        versions.sort(key=lambda v: v.ruleset.effective_from)
        for earlier, later in zip(versions, versions[1:]):
            end = earlier.ruleset.effective_to
            if end is None or end > later.ruleset.effective_from:
                out.append(Problem(str(later.path), "effective_from",
                                   f"{later.ref} starts {later.ruleset.effective_from}, before {earlier.ref} ends "
                                   f"({end or 'open-ended'}): versions of a city must not overlap"))
    return out
