"""`zhunru ruleset validate`: every problem of a ruleset, one line each (file, clause, what).

The same checks guard the engine, so a ruleset that fails them is never used for a decision:

* read time (loader.load_file): YAML syntax, tags, aliases, duplicate keys, impossible dates,
  size, UTF-8; the schema (types, unknown keys, a clause without a source, effective_to not after
  effective_from), each naming its field and YAML line;
* city time (loader.Registry.versions → `city_problems`): folder ≠ id, file name ≠ version,
  duplicate clause ids, quotes not verbatim or source documents (a clause's or a `sources:`
  entry's) missing from sources/, a source's parts not starting at a line found once and in
  order, a quote not inside exactly one part, contradicting lists and names or aliases that
  collide after normalisation, caps exceeded, overlapping versions;
* chain time (loader.Registry.chain → `chain_problems`): missing parents, `extends` cycles,
  clause ids a parent already uses, references to clauses the chain does not have.

`validate_path` runs them all and reports every problem instead of stopping at the first, and
one authoring check the engine does not run (`case_problems`): every version has cases.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from pydantic import ValidationError

from zhunru.errors import RulesetError
from zhunru.rulebook.concordance import concordance_problems
from zhunru.rulebook.checks import Problem, chain_problems, city_problems
from zhunru.rulebook.loaded import LoadedRuleset, read_yaml, schema_problems
from zhunru.rulebook.loader import NOT_VERSIONS, Registry, ruleset_roots
from zhunru.rulebook.format import Ruleset
from zhunru.rulebook.safe_yaml import YamlError

def ruleset_files(path: Path) -> list[Path]:
    """A ruleset file, a city folder, or a folder of city folders."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise RulesetError(f"PATH: {path} does not exist")
    files = sorted(p for p in path.glob("*.yaml") if p.name not in NOT_VERSIONS)
    if not files:
        files = sorted(p for p in path.glob("*/*.yaml") if p.name not in NOT_VERSIONS)
    if not files:
        raise RulesetError(f"PATH: no ruleset files (<city>/<version>.yaml) under {path}")
    return files


def validate_path(path: Path, as_of=None) -> tuple[list[Problem], int]:
    """(problems, number of ruleset files checked). `as_of`: also fail a version in force on
    that day that still quotes a source a revision replaced on or before it."""
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
        problems.extend(concordance_problems(versions[0].path.parent, _with_siblings(versions)))
        for item in versions:
            chain, problem = _walk(item, registry, cycles)
            if problem is not None:
                problems.append(problem)
            elif chain is not None:
                problems.extend(chain_problems(chain))
    problems.extend(case_problems(loaded))
    if as_of is not None:
        problems.extend(superseded_problems(loaded, as_of))
    order = {str(f): i for i, f in enumerate(files)}
    problems.sort(key=lambda p: order.get(p.file, len(order)))  # stable: file order, then check order
    return problems, len(files)


def superseded_problems(loaded: list[LoadedRuleset], as_of) -> list[Problem]:
    """Versions in force on `as_of` whose `sources:` name a text superseded by then."""
    out = []
    for item in loaded:
        r = item.ruleset
        if not (r.effective_from <= as_of and (r.effective_to is None or as_of < r.effective_to)):
            continue
        for i, doc in enumerate(r.sources):
            if doc.superseded_on is not None and doc.superseded_on <= as_of:
                out.append(Problem(str(item.path), f"sources[{i}]",
                                   f"{doc.title!r} was superseded on {doc.superseded_on} "
                                   f"({doc.superseded_by or 'revised'}), and this version is in force on {as_of}: "
                                   "quote the revised text in a new version"))
    return out


def _with_siblings(versions: list[LoadedRuleset]) -> list[LoadedRuleset]:
    """The city's versions being validated and the other versions in its folder: a concordance
    speaks of every version, also when one file is validated alone."""
    from zhunru.rulebook.loaded import load_file

    given = {v.path.resolve() for v in versions}
    out = list(versions)
    for path in sorted(versions[0].path.parent.glob("*.yaml")):
        if path.name in NOT_VERSIONS or path.resolve() in given:
            continue
        try:
            out.append(load_file(path))
        except RulesetError:  # its own problems are reported when it is validated
            continue
    return out


def _load(file: Path, problems: list[Problem]) -> LoadedRuleset | None:
    try:
        data, raw = read_yaml(file)
    except YamlError as exc:  # "FILE: FIELD: YAML line N: problem", the field "-" where none is known
        problems.append(Problem(str(file), exc.field, exc.detail))
        return None
    except RulesetError as exc:
        problems.append(Problem(str(file), "-", str(exc).removeprefix(f"{file}").lstrip(": ")))
        return None
    if not isinstance(data, dict):
        problems.append(Problem(str(file), "-", "a ruleset is a YAML mapping"))
        return None
    try:
        model = Ruleset.model_validate(data)
    except ValidationError as exc:
        for field, detail in schema_problems(exc, data, raw):
            problems.append(Problem(str(file), field, detail))
        return None
    return LoadedRuleset(model, file, hashlib.sha256(raw).hexdigest())


def case_problems(loaded: list[LoadedRuleset]) -> list[Problem]:
    """A version no case file under its city's cases/ names (`ruleset: city@version` with at least
    one case) has nothing that shows what it decides. An authoring check: `ruleset validate`
    runs it, the engine does not (cases are not part of a ruleset)."""
    out: list[Problem] = []
    named: dict[Path, dict[str, int]] = {}  # cases folder → ref → number of cases
    for item in loaded:
        folder = item.path.parent / "cases"
        if folder not in named:
            named[folder] = {}
            for case_file in sorted(folder.glob("*.yaml")):
                try:
                    data, _ = read_yaml(case_file)
                except YamlError as exc:
                    out.append(Problem(str(case_file), exc.field, exc.detail))
                    continue
                except RulesetError as exc:
                    out.append(Problem(str(case_file), "-", str(exc).removeprefix(f"{case_file}").lstrip(": ")))
                    continue
                if isinstance(data, dict) and isinstance(data.get("ruleset"), str):
                    cases = data.get("cases")
                    count = len(cases) if isinstance(cases, list) else 0
                    ref = data["ruleset"].strip()
                    named[folder][ref] = named[folder].get(ref, 0) + count
        if not named[folder].get(item.ref):
            out.append(Problem(str(item.path), "cases", f"no cases for {item.ref} in {folder}"))
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


