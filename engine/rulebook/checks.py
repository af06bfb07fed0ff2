"""The checks every ruleset must pass before the engine decides with it, and that
`zhunru ruleset validate` reports (one Problem per line: file, clause, what is wrong).

* city time (`city_problems`, run by loader.Registry.versions): folder ≠ id, file name ≠
  version, duplicate clause ids, quotes not verbatim or source documents (a clause's or a
  `sources:` entry's) missing from sources/, contradicting lists and names or aliases that
  collide after normalisation, caps exceeded, overlapping versions;
* chain time (`chain_problems`, run by loader.Registry.chain): clause ids a parent already uses,
  references to clauses the chain does not have.

Read time (YAML, schema) is loaded.py's. Below the loader, so loading needs no import circle.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from zhunru.kinds import CONTRADICTIONS, LISTS
from zhunru.rulebook.format import Ruleset
from zhunru.rulebook.loaded import LoadedRuleset
from zhunru.rulebook.normalize import normalize


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
    out.extend(_check_source_list(item))
    out.extend(_check_quotes(item, clauses))
    out.extend(_check_names(item))
    out.extend(_check_caps(item))
    return out


def _check_source_list(item: LoadedRuleset) -> list[Problem]:
    """Each document the top-level `sources:` list names is a file under sources/."""
    out = []
    for i, doc in enumerate(item.ruleset.sources):
        if doc.document is not None and not (item.sources_dir / Path(doc.document).name).is_file():
            out.append(Problem(str(item.path), f"sources[{i}].document",
                               f"{doc.document!r} is not in {item.sources_dir}"))
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
