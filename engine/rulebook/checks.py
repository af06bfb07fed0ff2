"""The checks every ruleset must pass before the engine decides with it, and that
`zhunru ruleset validate` reports (one Problem per line: file, clause, what is wrong).

* city time (`city_problems`, run by loader.Registry.versions): folder ≠ id, file name ≠
  version, duplicate clause ids, quotes not verbatim or source documents (a clause's or a
  `sources:` entry's) missing from sources/, a document's parts not found once and in order, a
  quote not inside exactly one part of its document, contradicting lists and names or aliases
  that collide after normalisation, caps exceeded, overlapping versions;
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
    out.extend(clause_parts(item)[1])
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


def clause_parts(item: LoadedRuleset) -> tuple[dict[str, str], list[Problem]]:
    """(clause id → part title, problems) for the documents whose `sources:` entry declares parts.

    A part starts at the one line of the document equal to its `starts` (NFKC, whitespace ignored,
    as quotes) and runs to the next part's start; parts are listed in document order. A clause's
    quote must lie inside exactly one part: every place it occurs in the same part, none crossing
    a part's start or lying before the first part."""
    mapping: dict[str, str] = {}
    out: list[Problem] = []
    file = str(item.path)
    for i, doc in enumerate(item.ruleset.sources):
        found = _part_starts(item, i, out)
        if found is None:
            continue
        body, starts = found
        for clause in item.ruleset.all_clauses():
            if clause.source.document is None or Path(clause.source.document).name != Path(doc.document).name:
                continue
            places = _places(body, starts, clause.source.quote)
            if not places:  # not verbatim: _check_quotes reports it
                continue
            if None in places:
                out.append(Problem(file, clause.id, f"quote crosses the start of a part of {doc.document} or lies "
                                                    f"before its first part: {clause.source.quote[:40]!r}"))
            elif len(places) > 1:
                titles = ", ".join(doc.parts[k].title for k in sorted(places))
                out.append(Problem(file, clause.id, f"quote occurs in more than one part of {doc.document} "
                                                    f"({titles}): quote enough to find it in one"))
            else:
                mapping[clause.id] = doc.parts[places.pop()].title
    return mapping, out


def part_of(item: LoadedRuleset, document: str, text: str):
    """The part (SourcePart) of `document` that `text` lies in, when the version's `sources:`
    declare parts for it and the text lies in exactly one; else None (the concordance's view)."""
    for i, doc in enumerate(item.ruleset.sources):
        if doc.document is None or Path(doc.document).name != Path(document).name:
            continue
        found = _part_starts(item, i, [])
        if found is None:
            return None
        places = _places(*found, text)
        return doc.parts[next(iter(places))] if len(places) == 1 and None not in places else None
    return None


def _part_starts(item: LoadedRuleset, i: int, out: list[Problem]) -> tuple[str, list[int]] | None:
    """(normalised text, offset where each part starts) of `sources[i]`, or None: no parts, no
    file (_check_source_list reports it), or starts not found once and in order (added to out)."""
    doc = item.ruleset.sources[i]
    if not doc.parts or doc.document is None:
        return None
    path = item.sources_dir / Path(doc.document).name
    if not path.is_file():
        return None
    lines = [quote_norm(line) for line in path.read_text(encoding="utf-8").splitlines()]
    offsets, at = [], 0
    for line in lines:
        offsets.append(at)
        at += len(line)
    starts: list[int] = []
    for j, part in enumerate(doc.parts):
        where = f"sources[{i}].parts[{j}].starts"
        marker = quote_norm(part.starts)
        found = [offsets[n] for n, line in enumerate(lines) if line and line == marker]
        if len(found) != 1:
            out.append(Problem(str(item.path), where, f"{part.starts[:40]!r} occurs {len(found)} times as a line "
                                                      f"of {doc.document}: a part starts at a line that occurs once"))
            return None
        if starts and found[0] <= starts[-1]:
            out.append(Problem(str(item.path), where, f"part {part.title!r} starts before the part listed above "
                                                      "it: list parts in document order"))
            return None
        starts.append(found[0])
    return "".join(lines), starts


def _places(body: str, starts: list[int], text: str) -> set[int | None]:
    """The index of the part each occurrence of `text` lies in (None: it crosses a part's start or
    lies before the first part); empty when the text does not occur."""
    wanted, bounds = quote_norm(text), [*starts, len(body)]
    places: set[int | None] = set()
    at = body.find(wanted) if wanted else -1
    while at >= 0:
        end = at + len(wanted)
        inside = [k for k in range(len(starts)) if bounds[k] <= at and end <= bounds[k + 1]]
        places.add(inside[0] if inside else None)
        at = body.find(wanted, at + 1)
    return places


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
