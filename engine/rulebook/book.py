"""A ruleset chain compiled for lookups: names → catalogue entries, clause ids → clauses.

The chain is the city's version and its parents (nearest first); the nearest definition wins,
so a city overrides national item by item and list by list. One exception: a certificate no list
names is refused where any version of the chain refuses it (national from 2020-04-27, 民发〔2020〕20号:
a committee issues only with a clear legal basis); a city's laxer catch-all (tianjiaan's and
h_county's needs_approval, written before that document existed) does not loosen it. Where several
versions refuse it, the refusal rests on the nearest whose clause quotes a binding source: a city's
refusal quoting a consultation draft (Bijie's seal rule, 附件3 征求意见稿) does not make national's
binding refusal of the same certificate advisory.
"""
from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field

from zhunru.kinds import LISTS, REFUSING
from zhunru.rulebook.loaded import LoadedRuleset
from zhunru.rulebook.normalize import certificate_name, closest, normalize
from zhunru.rulebook.format import Clause, Item, ItemList, Otherwise

@dataclass(frozen=True)
class Entry:
    kind: str
    list_name: str
    item: Item
    origin: LoadedRuleset


@dataclass
class Book:
    chain: list[LoadedRuleset]
    names: dict[str, dict[str, Entry]] = field(default_factory=dict)
    codes: dict[str, dict[str, Entry]] = field(default_factory=dict)
    clauses: dict[str, tuple[Clause, LoadedRuleset]] = field(default_factory=dict)
    coverage: dict[tuple[str, str], str] = field(default_factory=dict)
    otherwise: dict[str, tuple[Otherwise, LoadedRuleset]] = field(default_factory=dict)
    max_count: dict[str, tuple[int, str | None, LoadedRuleset]] = field(default_factory=dict)
    commissioned: tuple[str, LoadedRuleset] | None = None
    hints: dict[str, dict[str, Entry]] = field(default_factory=dict)  # colloquial forms that only suggest

    @property
    def leaf(self) -> LoadedRuleset:
        return self.chain[0]

    @functools.cached_property
    def sha256(self) -> str:
        """Hash of the whole chain: a parent's change changes every child's decisions."""
        if len(self.chain) == 1:
            return self.leaf.sha256
        return hashlib.sha256(":".join(r.sha256 for r in self.chain).encode()).hexdigest()

    @property
    def advisory(self) -> bool:
        return self.leaf.ruleset.status != "in_force"

    def lookup(self, kind: str, matter: str) -> Entry | None:
        """Exact catalogue code, or name/alias after normalisation. Never a fuzzy guess."""
        entry = self.codes.get(kind, {}).get(matter.strip())
        if entry is not None:
            return entry
        key = normalize(matter)
        entry = self.names.get(kind, {}).get(key)
        if entry is None and kind == "certificate":  # 开具一份居住证明 → 居住证明
            entry = self.names.get(kind, {}).get(certificate_name(key))
        return entry

    def suggestions(self, kind: str, matter: str, n: int = 3) -> list[str]:
        """Close names, offered, never used to decide: a colloquial form first (生存证明 → 健在证明)."""
        hint = self.hints.get(kind, {}).get(normalize(matter))
        names = self.names.get(kind, {})
        found = closest(matter, names, lambda key: names[key].item.name, n)
        return ([hint.item.name] + [f for f in found if f != hint.item.name])[:n] if hint else found

    def clause(self, clause_id: str) -> tuple[Clause, LoadedRuleset]:
        return self.clauses[clause_id]

    def covers(self, kind: str) -> bool:
        return any(getattr(r.ruleset, kind) is not None for r in self.chain)


def compile_book(chain: list[LoadedRuleset]) -> Book:
    book = Book(chain=chain)
    refusals: list[tuple[Otherwise, LoadedRuleset]] = []  # certificate catch-alls that refuse, nearest first
    for loaded in chain:  # nearest first: setdefault keeps the nearest definition
        rs = loaded.ruleset
        for clause in rs.all_clauses():
            book.clauses.setdefault(clause.id, (clause, loaded))
        if rs.task and rs.task.commissioned and book.commissioned is None:
            book.commissioned = (rs.task.commissioned, loaded)
        for kind, lists in LISTS.items():
            section = getattr(rs, kind)
            if section is None:
                continue
            names = book.names.setdefault(kind, {})
            codes = book.codes.setdefault(kind, {})
            for list_name in lists:
                item_list: ItemList | None = getattr(section, list_name)
                if item_list is None:
                    continue
                book.coverage.setdefault((kind, list_name), item_list.coverage)
                for item in item_list.items:
                    entry = Entry(kind, list_name, item, loaded)
                    codes.setdefault(item.key, entry)
                    for name in (item.name, *item.aliases):
                        names.setdefault(normalize(name), entry)
            other = getattr(section, "otherwise", None)
            held = book.otherwise.get(kind)
            if other is not None and (held is None or (kind == "certificate" and other.outcome == "rejected"
                                                       and held[0].outcome != "rejected")):
                book.otherwise[kind] = (other, loaded)
            if other is not None and kind == "certificate" and other.outcome == "rejected":
                refusals.append((other, loaded))
            cap = getattr(section, "max_count", None)
            if cap is not None:
                book.max_count.setdefault(kind, (cap, section.max_count_clause, loaded))
    binding = [(other, loaded) for other, loaded in refusals if _binding(book, other.clause)]
    if binding:  # every clause of the chain is known now, a child's catch-all may cite a parent's clause
        book.otherwise["certificate"] = binding[0]
    # Colloquial forms come after every official name and alias of the chain, so they never
    # shadow one; they resolve only to a refusing item, elsewhere they only suggest.
    for kind in LISTS:
        for entry in list(book.codes.get(kind, {}).values()):
            for name in entry.item.colloquial:
                key = normalize(name)
                if entry.list_name in REFUSING:
                    book.names.setdefault(kind, {}).setdefault(key, entry)
                else:
                    book.hints.setdefault(kind, {}).setdefault(key, entry)
    return book


def _binding(book: Book, clause_id: str) -> bool:
    """Whether the clause quotes a source (or part) in force; an unknown clause is left to the chain checks."""
    found = book.clauses.get(clause_id)
    if found is None:
        return False
    status = found[1].source_status(found[0])
    return status is None or status[1] == "in_force"
