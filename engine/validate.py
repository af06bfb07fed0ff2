"""`zhunru ruleset validate`: every problem of a ruleset, one line each (file, clause, what).

The same checks guard the engine, so a ruleset that fails them is never used for a decision:

* read time (loader.load_file): YAML syntax, tags, aliases, size, UTF-8; the schema (types,
  unknown keys, a clause without a source, effective_to not after effective_from);
* city time (loader.Registry.versions → `city_problems`): folder ≠ id, file name ≠ version,
  duplicate clause ids, quotes not verbatim or source documents missing from sources/,
  contradicting lists and names or aliases that collide after normalisation, caps exceeded,
  overlapping versions;
* chain time (loader.Registry.chain → `chain_problems`): missing parents, `extends` cycles,
  clause ids a parent already uses, references to clauses the chain does not have.

`validate_path` runs them all and reports every problem instead of stopping at the first.
"""
from __future__ import annotations

import hashlib
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
    # The folders being validated come first, so they shadow an installed city of the same id.
    roots = list(dict.fromkeys(f.resolve().parent.parent for f in files))
    registry = Registry(roots + [r for r in ruleset_roots() if r.resolve() not in roots])
    by_city: dict[str, list[LoadedRuleset]] = {}
    for item in loaded:
        by_city.setdefault(item.ruleset.id, []).append(item)
    cycles: set[frozenset[str]] = set()
    for versions in by_city.values():
        problems.extend(city_problems(versions))
        for item in versions:
            chain, problem = _walk(item, registry, cycles)
            if problem is not None:
                problems.append(problem)
            elif chain is not None:
                problems.extend(chain_problems(chain))
    order = {str(f): i for i, f in enumerate(files)}
    problems.sort(key=lambda p: order.get(p.file, len(order)))  # stable: file order, then check order
    return problems, len(files)


def _load(file: Path, problems: list[Problem]) -> LoadedRuleset | None:
    try:
        data, raw = read_yaml(file)
    except RulesetError as exc:
        message = str(exc).removeprefix(f"{file}")
        line = re.match(r" \(line (\d+)\): ", message)
        if line:  # the loader's "FILE (line N): problem" becomes "FILE: -: YAML line N: problem"
            message = f"YAML line {line.group(1)}: {message[line.end():]}"
        problems.append(Problem(str(file), "-", message.lstrip(": ")))
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


# -- city time: one city's versions, no parents needed ----------------------------------------

def city_problems(versions: list[LoadedRuleset]) -> list[Problem]:
    """Problems of the versions of one city that need nothing outside the city's folder."""
    out: list[Problem] = []
    for item in versions:
        out.extend(file_problems(item))
    out.extend(_check_overlaps(versions))
    return out


def file_problems(item: LoadedRuleset) -> list[Problem]:
    rs, file = item.ruleset, str(item.path)
    out: list[Problem] = []
    if item.path.stem != rs.version:
        out.append(Problem(file, "version", f"file name {item.path.name!r} does not match version {rs.version!r}"))
    if item.path.parent.name != rs.id:
        out.append(Problem(file, "id", f"folder {item.path.parent.name!r} does not match id {rs.id!r}"))
    clauses = rs.all_clauses()
    seen: set[str] = set()
    for clause in clauses:
        if clause.id in seen:
            out.append(Problem(file, clause.id, "clause id is used twice"))
        seen.add(clause.id)
    out.extend(_check_quotes(item, clauses))
    out.extend(_check_names(item))
    out.extend(_check_caps(item))
    return out


def _check_quotes(item: LoadedRuleset, clauses) -> list[Problem]:
    out, cache = [], {}
    for clause in clauses:
        source = clause.source
        if source.document is None:
            continue
        name = Path(source.document).name
        if name not in cache:
            doc = item.sources_dir / name
            cache[name] = quote_norm(doc.read_text(encoding="utf-8")) if doc.is_file() else None
            if cache[name] is None:  # reported once per document, at the first clause citing it
                out.append(Problem(str(item.path), clause.id,
                                   f"source document {name!r} is not in {item.sources_dir}"))
        if cache[name] is not None and quote_norm(source.quote) not in cache[name]:
            out.append(Problem(str(item.path), clause.id, f"quote is not verbatim in {name}: {source.quote[:40]!r}"))
    return out


def _check_names(item: LoadedRuleset) -> list[Problem]:
    rs, out = item.ruleset, []
    for kind, lists in LISTS.items():
        section = getattr(rs, kind)
        if section is None:
            continue
        owner: dict[str, tuple[str, str, str]] = {}  # normalised name → (list, clause id, name as written)
        for list_name in lists:
            item_list = getattr(section, list_name)
            for entry in (item_list.items if item_list else []):
                for name in dict.fromkeys((entry.name, *entry.aliases)):
                    key = normalize(name)
                    if not key:
                        out.append(Problem(str(item.path), entry.id, f"name {name!r} is empty after normalisation"))
                        continue
                    if key not in owner:
                        owner[key] = (list_name, entry.id, name)
                        continue
                    other_list, other_id, other_name = owner[key]
                    if other_id == entry.id:
                        continue
                    pair = tuple(sorted((list_name, other_list)))
                    if other_list != list_name and any(tuple(sorted(p)) == pair for p in CONTRADICTIONS[kind]):
                        out.append(Problem(str(item.path), entry.id,
                                           f"{name!r} is on both {kind}.{other_list} ({other_id}) and "
                                           f"{kind}.{list_name}: the lists contradict each other"))
                    else:
                        same = "" if name == other_name else f" {other_name!r}"
                        out.append(Problem(str(item.path), entry.id,
                                           f"name or alias {name!r} collides after normalisation with "
                                           f"{other_id}{same}"))
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


def _check_overlaps(versions: list[LoadedRuleset]) -> list[Problem]:
    out = []
    versions = sorted(versions, key=lambda v: v.ruleset.effective_from)
    for earlier, later in zip(versions, versions[1:]):
        end = earlier.ruleset.effective_to
        if end is None or end > later.ruleset.effective_from:
            out.append(Problem(str(later.path), "effective_from",
                               f"{later.ref} starts {later.ruleset.effective_from}, before {earlier.ref} ends "
                               f"({end or 'open-ended'}): versions of a city must not overlap"))
    return out


# -- chain time: a ruleset and its parents --------------------------------------------------

def chain_problems(chain: list[LoadedRuleset]) -> list[Problem]:
    """Clause ids a parent already uses, and references to clauses nowhere in the chain."""
    out: list[Problem] = []
    for i, item in enumerate(chain):
        own = [c.id for c in item.ruleset.all_clauses()]
        parents = {c.id: p.ref for p in chain[i + 1:] for c in p.ruleset.all_clauses()}
        if i == 0:  # a parent's own clash is reported against the parent, not each child
            for clause_id in own:
                if clause_id in parents:
                    out.append(Problem(str(item.path), clause_id,
                                       f"clause id is already used by the parent {parents[clause_id]}"))
        known = set(own) | set(parents)
        for where, ref in _references(item.ruleset):
            if ref not in known:
                out.append(Problem(str(item.path), where,
                                   f"refers to clause {ref!r}, which is not in this ruleset or its parents"))
    return out


def _walk(item: LoadedRuleset, registry: Registry, cycles: set[frozenset[str]]):
    """(chain, None) or (None, problem): the parents of `item`, each in force on its effective_from."""
    chain, ids = [item], [item.ruleset.id]
    while chain[-1].ruleset.extends:
        parent_id = chain[-1].ruleset.extends
        if parent_id in ids:
            loop = frozenset(ids[ids.index(parent_id):])
            if loop in cycles:  # one line per cycle, not one per member
                return None, None
            cycles.add(loop)
            path = " → ".join([*ids[ids.index(parent_id):], parent_id])
            return None, Problem(str(item.path), "extends", f"extends cycle: {path}")
        try:
            chain.append(registry.in_force(parent_id, item.ruleset.effective_from))
        except RulesetError as exc:
            return None, Problem(str(item.path), "extends",
                                 f"parent {parent_id!r} (extended by {chain[-1].ref}) cannot be used: {exc}")
        ids.append(parent_id)
    return chain, None


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
