"""Finding, reading and chaining rulesets.

Rulesets are found through the `zhunru_ruleset_paths` hook and read lazily: only the city asked
for (and its parents) is parsed. YAML is read with the safe loader, without aliases (no alias
bombs) and under a size limit.
"""
from __future__ import annotations

import datetime as dt
import functools
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

from zhunru.errors import RulesetError
from zhunru.rulebook.roots import ruleset_roots  # noqa: F401 - part of this module's API
from zhunru.rulebook.checks import chain_problems, city_problems, clause_parts
from zhunru.rulebook.loaded import LoadedRuleset, load_file


@dataclass
class Registry:
    """All rulesets the loaded plugins offer, parsed city by city on first use."""

    roots: list[Path]
    _files: dict[str, list[Path]] = field(default_factory=dict)
    _loaded: dict[str, list[LoadedRuleset]] = field(default_factory=dict)
    _checked: set[tuple[str, ...]] = field(default_factory=set)
    # a service's threads all ask for the same city at start: it is read once, not once a thread
    _loading: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    def __post_init__(self):
        for root in self.roots:
            if not root.is_dir():
                continue
            for city_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))):
                files = sorted(p for p in city_dir.glob("*.yaml") if p.name not in NOT_VERSIONS)
                # The first root that has a city provides all its versions: a folder being
                # validated or tested shadows an installed city of the same id, never mixes with it.
                if files and city_dir.name not in self._files:
                    self._files[city_dir.name] = files

    def cities(self) -> list[str]:
        return sorted(self._files)

    def city_id(self, name: str) -> str:
        """The city's id for its id or one of its names (毕节, 毕节市, 畢節: after normalisation)."""
        if name in self._files:
            return name
        from zhunru.rulebook.normalize import normalize

        wanted = normalize(name)
        for city in self.cities():
            try:
                versions = self.versions(city)
            except RulesetError:  # a broken city elsewhere must not hide the one asked for
                continue
            if any(wanted == normalize(n) for v in versions for n in (city, *v.ruleset.names)):
                return city
        known = ", ".join(self.cities()) or "none"
        raise RulesetError(f"city: unknown city {name!r} (known: {known})")

    def versions(self, city: str) -> list[LoadedRuleset]:
        if city not in self._files and city not in self._loaded:
            city = self.city_id(city)
        if city not in self._loaded:
            if city not in self._files:
                known = ", ".join(self.cities()) or "none"
                raise RulesetError(f"city: unknown city {city!r} (known: {known})")
            with self._loading:
                if city not in self._loaded:
                    self._loaded[city] = self._cached_or_loaded(city)
        return self._loaded[city]

    def _cached_or_loaded(self, city: str) -> list[LoadedRuleset]:
        from zhunru.rulebook import cache as ruleset_cache

        key = ruleset_cache.city_key(self._files[city])
        loaded = ruleset_cache.load_rulesets(key)
        if loaded is None:
            loaded = self._load_city(city)
            ruleset_cache.store_rulesets(key, loaded)
        return loaded

    def _load_city(self, city: str) -> list[LoadedRuleset]:
        """Parse, validate and check every version of a city (what the cache saves)."""
        loaded = [load_file(p) for p in self._files[city]]
        for item in loaded:
            if item.ruleset.id != city:
                raise RulesetError(f"{item.path}: id {item.ruleset.id!r} does not match its folder {city!r}")
        problems = city_problems(loaded)
        if problems:
            raise RulesetError(f"{problems[0]} (zhunru ruleset validate lists every problem)")
        loaded = [replace(item, parts=clause_parts(item)[0]) for item in loaded]
        return sorted(loaded, key=lambda r: r.ruleset.effective_from)

    def in_force(self, city: str, on: dt.date) -> LoadedRuleset:
        """The version effective on `on` (effective_from ≤ on < effective_to). Past the end of
        the city's last version, that version (the decision says it has ended: `ended_on`)."""
        versions = self.versions(city)
        for item in versions:
            r = item.ruleset
            if r.effective_from <= on and (r.effective_to is None or on < r.effective_to):
                return item
        last = versions[-1] if versions else None
        if last is not None and last.ruleset.effective_to is not None and on >= last.ruleset.effective_to:
            return last
        spans = "; ".join(f"{v.ruleset.version}: {v.ruleset.effective_from}–{v.ruleset.effective_to or ''}"
                          for v in versions)
        raise RulesetError(f"date: no {city} ruleset is in force on {on} (versions: {spans})")

    def by_ref(self, ref: str) -> LoadedRuleset:
        """`city@version` or `city` (the latest version)."""
        city, _, version = ref.partition("@")
        versions = self.versions(city)
        if not version:
            return versions[-1]
        for item in versions:
            if item.ruleset.version == version:
                return item
        raise RulesetError(f"ruleset: {city} has no version {version!r}")

    def chain(self, leaf: LoadedRuleset, on: dt.date | None = None) -> list[LoadedRuleset]:
        """The leaf and its parents, nearest first. A parent is the version in force on `on`
        (the request date), or, without a date, on the leaf's effective_from."""
        on = on or leaf.ruleset.effective_from
        chain, seen = [leaf], {leaf.ruleset.id}
        while chain[-1].ruleset.extends:
            parent_id = chain[-1].ruleset.extends
            if parent_id in seen:
                raise RulesetError(f"{chain[-1].path}: extends cycle through {parent_id!r}")
            try:
                parent = self.in_force(parent_id, on)
            except RulesetError as exc:
                raise RulesetError(f"{chain[-1].path}: extends {parent_id!r}: {exc}") from None
            chain.append(parent)
            seen.add(parent_id)
        key = tuple(r.ref for r in chain)
        if key not in self._checked:
            problems = chain_problems(chain)
            if problems:
                raise RulesetError(f"{problems[0]} (zhunru ruleset validate lists every problem)")
            self._checked.add(key)
        return chain


NOT_VERSIONS = {"concordance.yaml"}  # a city folder's YAML files that are not ruleset versions


def ended_on(leaf: LoadedRuleset, on: dt.date) -> dt.date | None:
    """The end date of `leaf` when `on` is past it (the last version deciding after its end)."""
    end = leaf.ruleset.effective_to
    return end if end is not None and on >= end else None


@functools.cache
def default_registry() -> Registry:
    return Registry(ruleset_roots())
