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
from pathlib import Path

from pydantic import ValidationError

from zhunru.errors import RulesetError
from zhunru.rulebook.checks import Problem, chain_problems, city_problems
from zhunru.rulebook.loaded import LoadedRuleset, describe_validation, read_yaml
from zhunru.rulebook.loader import Registry, ruleset_roots
from zhunru.rulebook.format import Ruleset

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


