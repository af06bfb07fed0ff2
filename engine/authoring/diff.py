"""`zhunru ruleset diff A B`: what version B changes relative to A.

Lists are compared as the engine sees them: each ruleset with its parents (the nearest definition
wins), item by item through the normalised name within a kind, so an item that leaves `assist`
for `negative` is one move, not a removal and an addition. The burden delta counts what a
community carries: assist items and categories from the caps where a ruleset sets them (a source
may give counts but no items, e.g. Guangzhou 76 assist items), otherwise from the lists. Besides the
items, it shows what else bounds a community's load: the `caps:` section, each kind's
`max_count` (e.g. nameplates 3 → 4) and each list's coverage (full → partial).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from zhunru.kinds import LISTS
from zhunru.rulebook.book import compile_book
from zhunru.errors import InputError
from zhunru.messages import pick
from zhunru.rulebook.loaded import LoadedRuleset
from zhunru.rulebook.loader import Registry, default_registry, ruleset_roots
from zhunru.rulebook.normalize import normalize
from zhunru.rulebook.format import Item

META = ("title", "issuer", "effective_from", "effective_to", "status", "coverage", "extends")

# (Chinese, English) labels for text output
KIND_LABELS = {
    "task": ("工作事项", "tasks"), "certificate": ("证明", "certificates"), "nameplate": ("挂牌", "nameplates"),
    "posting": ("上墙", "postings"), "meeting": ("会议", "meetings"), "ledger": ("台账", "ledgers"),
    "report": ("报表", "reports"), "assessment": ("评比考核检查", "assessments"),
}
LIST_LABELS = {
    "duty": ("依法履行职责事项", "duty"), "assist": ("依法协助事项", "assist"), "negative": ("负面清单", "negative"),
    "must_issue": ("应当出具", "must issue"), "may_issue": ("可以出具", "may issue"),
    "must_not_issue": ("不应出具", "must not issue"), "allowed": ("允许", "allowed"), "forbidden": ("禁止", "forbidden"),
}
BURDEN_LABELS = {
    "assist_items": ("协助事项", "assist items"), "assist_categories": ("协助事项类别", "assist categories"),
    "duty_items": ("依法履行职责事项", "duty items"), "negative_items": ("负面清单事项", "negative-list items"),
}
CAP_FIELDS = ("assist_categories", "assist_items", "duty_items")  # not `clause`: each version cites its own
FIELD_LABELS = {
    "title": ("标题", "title"), "issuer": ("发布机关", "issuer"), "effective_from": ("生效日期", "effective from"),
    "effective_to": ("失效日期", "effective to"), "status": ("状态", "status"), "coverage": ("覆盖", "coverage"),
    "extends": ("上级规则集", "extends"),
}


@dataclass(frozen=True)
class Placed:
    kind: str
    list_name: str
    item: Item
    origin: str  # ref of the ruleset that defines it


def resolve(ref: str) -> tuple[LoadedRuleset, list[LoadedRuleset]]:
    """CITY[@VERSION] from the installed plugins, or the path of a ruleset file (its folder's
    rulesets first). Returns the ruleset and its chain (itself, then its parents)."""
    path = Path(ref)
    if ref.endswith((".yaml", ".yml")) or path.is_file():
        if not path.is_file():
            raise InputError(f"ruleset: {ref} is not a file")
        root = path.resolve().parent.parent
        registry = Registry([root] + [r for r in ruleset_roots() if r.resolve() != root])
        leaf = registry.by_ref(f"{path.parent.name}@{path.stem}")
    else:
        registry = default_registry()
        leaf = registry.by_ref(ref)
    return leaf, registry.chain(leaf)


def catalogue(chain: list[LoadedRuleset]) -> dict[str, dict[str, Placed]]:
    """kind → normalised name → where the engine would find it (nearest ruleset wins)."""
    found: dict[str, dict[str, Placed]] = {}
    for loaded in chain:
        for kind, lists in LISTS.items():
            section = getattr(loaded.ruleset, kind)
            if section is None:
                continue
            names = found.setdefault(kind, {})
            for list_name in lists:
                item_list = getattr(section, list_name)
                for item in (item_list.items if item_list else []):
                    names.setdefault(normalize(item.name), Placed(kind, list_name, item, loaded.ref))
    return found


def _caps(chain: list[LoadedRuleset]):
    for loaded in chain:
        if loaded.ruleset.caps is not None:
            return loaded.ruleset.caps
    return None


def burden(chain: list[LoadedRuleset], names: dict[str, dict[str, Placed]]) -> dict[str, dict]:
    """Counts a community carries, each with where the number comes from (cap or list)."""
    task = names.get("task", {}).values()
    listed = {ln: [p for p in task if p.list_name == ln] for ln in ("duty", "assist", "negative")}
    caps = _caps(chain)
    counted = {"assist_items": len(listed["assist"]),
               "assist_categories": len({p.item.category or p.item.name for p in listed["assist"]}),
               "duty_items": len(listed["duty"])}
    out = {}
    for key, count in counted.items():
        cap = getattr(caps, key, None) if caps else None
        out[key] = {"count": cap, "from": "cap"} if cap is not None else {"count": count, "from": "list"}
    out["negative_items"] = {"count": len(listed["negative"]), "from": "list"}
    return out


def _fund(fund) -> str:
    split = f", split {fund.split}" if fund.split else ""
    return f"{fund.standard.amount} {fund.standard.basis}/{fund.standard.per}{split}"


def _entry(placed: Placed) -> dict:
    return {"kind": placed.kind, "list": placed.list_name, "name": placed.item.name, "clause": placed.item.id,
            "from": placed.origin}


def diff(a_ref: str, b_ref: str) -> dict:
    a, a_chain = resolve(a_ref)
    b, b_chain = resolve(b_ref)
    result: dict = {
        "a": {"ref": a.ref, "path": str(a.path), "sha256": a.sha256},
        "b": {"ref": b.ref, "path": str(b.path), "sha256": b.sha256},
    }
    meta = []
    for name in META:
        va, vb = getattr(a.ruleset, name), getattr(b.ruleset, name)
        if va != vb:
            meta.append({"field": name, "a": None if va is None else str(va), "b": None if vb is None else str(vb)})
    result["metadata"] = meta

    a_names, b_names = catalogue(a_chain), catalogue(b_chain)
    added, removed, moved = [], [], []
    for kind in LISTS:
        in_a, in_b = a_names.get(kind, {}), b_names.get(kind, {})
        a_alias = {normalize(n): key for key, p in in_a.items() for n in p.item.aliases}
        matched_a = set()
        for key, placed in in_b.items():
            # the same matter: same name, or B's name is one of A's aliases (or the other way round)
            other_key = key if key in in_a else a_alias.get(key) or next(
                (normalize(n) for n in placed.item.aliases if normalize(n) in in_a), None)
            if other_key is None:
                added.append(_entry(placed))
                continue
            matched_a.add(other_key)
            before = in_a[other_key]
            if before.list_name != placed.list_name:
                moved.append({"kind": kind, "name": placed.item.name, "from_list": before.list_name,
                              "to_list": placed.list_name, "clause_a": before.item.id, "clause_b": placed.item.id})
        removed.extend(_entry(p) for key, p in in_a.items() if key not in matched_a)
    result.update(added=added, removed=removed, moved=moved)

    counts = []
    for kind, lists in LISTS.items():
        for list_name in lists:
            na = sum(1 for p in a_names.get(kind, {}).values() if p.list_name == list_name)
            nb = sum(1 for p in b_names.get(kind, {}).values() if p.list_name == list_name)
            if na or nb:
                counts.append({"kind": kind, "list": list_name, "a": na, "b": nb, "delta": nb - na})
    result["list_counts"] = counts

    book_a, book_b = compile_book(a_chain), compile_book(b_chain)
    cov_a, cov_b = book_a.coverage, book_b.coverage
    result["coverage"] = [{"kind": k, "list": ln, "a": cov_a.get((k, ln)), "b": cov_b.get((k, ln))}
                          for (k, ln) in sorted(set(cov_a) | set(cov_b)) if cov_a.get((k, ln)) != cov_b.get((k, ln))]

    caps_a, caps_b = _caps(a_chain), _caps(b_chain)
    result["caps"] = [{"field": f, "a": getattr(caps_a, f, None), "b": getattr(caps_b, f, None)}
                      for f in CAP_FIELDS if getattr(caps_a, f, None) != getattr(caps_b, f, None)]

    # max_count of a kind (e.g. at most 3 nameplates): the nearest ruleset that sets one, as the engine
    # reads it; shown when the number changes, with the clauses that set it
    max_a, max_b = book_a.max_count, book_b.max_count
    result["max_count"] = []
    for kind in LISTS:
        (na, ca, _), (nb, cb, _) = max_a.get(kind, (None, None, None)), max_b.get(kind, (None, None, None))
        if na != nb:
            result["max_count"].append({"kind": kind, "a": na, "b": nb, "clause_a": ca, "clause_b": cb})

    funds_a = {normalize(f.name): f for r in reversed(a_chain) for f in r.ruleset.base_funds}
    funds_b = {normalize(f.name): f for r in reversed(b_chain) for f in r.ruleset.base_funds}
    funds = []
    for key in sorted(set(funds_a) | set(funds_b)):
        fa, fb = funds_a.get(key), funds_b.get(key)
        sa, sb = (_fund(fa) if fa else None), (_fund(fb) if fb else None)
        if sa != sb:
            funds.append({"name": (fb or fa).name, "a": sa, "b": sb})
    result["base_funds"] = funds

    ba, bb = burden(a_chain, a_names), burden(b_chain, b_names)
    result["burden"] = {key: {"a": ba[key]["count"], "b": bb[key]["count"], "delta": bb[key]["count"] - ba[key]["count"],
                              "a_from": ba[key]["from"], "b_from": bb[key]["from"]} for key in ba}
    return result


def _list(kind: str, list_name: str, lang: str) -> str:
    return f"{pick(KIND_LABELS[kind], lang)}·{pick(LIST_LABELS[list_name], lang)}"


def text(result: dict, lang: str = "zh") -> list[str]:
    zh = lang == "zh"
    none = "无" if zh else "none"
    arrow = lambda a, b: f"{a if a is not None else none} → {b if b is not None else none}"  # noqa: E731
    lines = [f"{'规则集差异' if zh else 'Ruleset diff'}: {result['a']['ref']} → {result['b']['ref']}"]
    if result["metadata"]:
        lines.append("元数据:" if zh else "Metadata:")
        lines += [f"  {pick(FIELD_LABELS[m['field']], lang)}: {arrow(m['a'], m['b'])}" for m in result["metadata"]]
    lines.append("减负（社区承担的数量）:" if zh else "Burden (what a community carries):")
    for key, row in result["burden"].items():
        if row["a"] == row["b"] == 0:
            continue
        src = {"cap": "上限" if zh else "cap", "list": "清单" if zh else "list"}
        where = src[row["b_from"]] if row["a_from"] == row["b_from"] else f"{src[row['a_from']]}/{src[row['b_from']]}"
        lines.append(f"  {pick(BURDEN_LABELS[key], lang)}: {row['a']} → {row['b']} ({row['delta']:+d}, {where})")
    if result["caps"]:
        lines.append("上限:" if zh else "Caps:")
        lines += [f"  {pick(BURDEN_LABELS[c['field']], lang)}: {arrow(c['a'], c['b'])}" for c in result["caps"]]
    if result["max_count"]:
        lines.append("数量上限:" if zh else "Maximum counts:")
        for m in result["max_count"]:
            clause = m["clause_b"] if m["clause_a"] == m["clause_b"] else arrow(m["clause_a"], m["clause_b"])
            lines.append(f"  {pick(KIND_LABELS[m['kind']], lang)}: {arrow(m['a'], m['b'])}"
                         + (f" [{clause}]" if clause else ""))
    lines.append("清单条目数:" if zh else "List items:")
    for row in result["list_counts"]:
        change = f" ({row['delta']:+d})" if row["delta"] else ""
        lines.append(f"  {_list(row['kind'], row['list'], lang)}: {row['a']} → {row['b']}{change}")
    for key, title in (("added", ("新增", "Added")), ("removed", ("删除", "Removed"))):
        lines.append(f"{pick(title, lang)}: {len(result[key]) or none}")
        lines += [f"  + {_list(e['kind'], e['list'], lang)}: {e['name']} [{e['clause']}]" if key == "added"
                  else f"  - {_list(e['kind'], e['list'], lang)}: {e['name']} [{e['clause']}]" for e in result[key]]
    lines.append(f"{'移动' if zh else 'Moved'}: {len(result['moved']) or none}")
    for m in result["moved"]:
        lines.append(f"  ~ {m['name']}: {_list(m['kind'], m['from_list'], lang)} → {_list(m['kind'], m['to_list'], lang)}"
                     f" [{m['clause_a']} → {m['clause_b']}]")
    if result["coverage"]:
        lines.append("清单覆盖:" if zh else "List coverage:")
        lines += [f"  {_list(c['kind'], c['list'], lang)}: {arrow(c['a'], c['b'])}" for c in result["coverage"]]
    if result["base_funds"]:
        lines.append("基本经费:" if zh else "Base funds:")
        lines += [f"  {f['name']}: {arrow(f['a'], f['b'])}" for f in result["base_funds"]]
    return lines
