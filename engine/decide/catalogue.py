"""`cert check` without pydantic on its path: a community clerk's question answered from a
compiled, plain-data snapshot of the certificate catalogue in force.

The first check of a city on a date goes through the engine (decide/certificates.py) and stores
a snapshot of what it used (names, clauses, the catch-all rule) in the ruleset cache; later checks
answer from the snapshot with the same normalisation, the same compiled procedure and the same
reason texts (messages.reason_message). tests/test_catalogue.py holds both paths to the same answers. The snapshot is
plain data, stored as an authenticated JSON entry (engine/rulebook/cache.py). Its key covers the
code (every module of zhunru) and the content of every ruleset file and source the plugins offer,
so a change to either is a miss. A city whose plugins add rules (`zhunru_city_rules`) always takes
the engine's path.
"""
from __future__ import annotations

import datetime as dt
import hashlib

from zhunru.decide.procedure import procedure
from zhunru.rulebook import cache as ruleset_cache
from zhunru.messages import reason_message
from zhunru.errors import RulesetError
from zhunru.rulebook.cache import MAX_SOURCE_BYTES
from zhunru.rulebook.normalize import certificate_name, closest, normalize
from zhunru.safe_io import read_regular

KIND = "certificate"
VERDICTS = {"duty": "must_issue", "allowed": "may_issue", "forbidden": "must_not_issue"}


def snapshot_key(city: str, on: dt.date) -> str | None:
    """Content key of everything a certificate answer depends on: the code and the rulesets."""
    from zhunru.rulebook.roots import ruleset_roots

    digest = hashlib.sha256(f"catalogue|{ruleset_cache.code_hash()}|{city}|{on.isoformat()}".encode())
    for root in ruleset_roots():
        if not root.is_dir():
            continue
        for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix != ".pyc"):
            raw = read_regular(path, MAX_SOURCE_BYTES, str(path), RulesetError)
            digest.update(str(path).encode() + b"\0" + raw + b"\0")
    return digest.hexdigest()


def _plugin_rules(city: str) -> bool:
    from zhunru.plugins import plugin_manager

    return any(rule_list for rule_list in plugin_manager().hook.zhunru_city_rules(city=city))


def compile_snapshot(book, on: dt.date | None = None) -> dict:
    """The certificate catalogue of a compiled Book as plain data, for answers on the day `on`."""
    def clause(clause_id: str) -> dict:
        found, origin = book.clause(clause_id)
        status = origin.source_status(found)  # the document, or the part of it the quote lies in
        return {"ref": origin.ref, "text": found.text, "text_en": found.text_en,
                "source": {k: v for k, v in found.source.model_dump().items() if v is not None},
                "document": {"title": status[0], "status": status[1]} if status and status[1] != "in_force" else None}

    entries, wanted = [], set()
    names: dict[str, int] = {}
    codes: dict[str, int] = {}
    index: dict[int, int] = {}
    for table, target in ((book.names.get(KIND, {}), names), (book.codes.get(KIND, {}), codes)):
        for key, entry in table.items():
            if id(entry) not in index:
                index[id(entry)] = len(entries)
                item = entry.item
                entries.append({"list": entry.list_name, "id": item.id, "name": item.name, "code": item.key,
                                "aliases": list(item.aliases), "redirect": item.redirect})
                wanted.add(item.id)
            target[key] = index[id(entry)]
    hints = {key: index[id(entry)] for key, entry in book.hints.get(KIND, {}).items() if id(entry) in index}
    other = book.otherwise.get(KIND)
    otherwise = {"outcome": other[0].outcome, "clause": other[0].clause} if other else None
    if otherwise:
        wanted.add(otherwise["clause"])
    commissioned = book.commissioned[0] if book.commissioned else None
    if commissioned:
        wanted.add(commissioned)
    leaf = book.leaf.ruleset
    end = leaf.effective_to
    ended = end if (on is not None and end is not None and on >= end) else None  # as loader.ended_on
    return {"ruleset": {"id": leaf.id, "version": leaf.version, "sha256": book.sha256},
            "advisory": book.advisory or ended is not None, "status": leaf.status, "hints": hints,
            "ended": ended.isoformat() if ended else None, "proposal": book.advisory, "entries": entries, "names": names,
            "codes": codes, "otherwise": otherwise, "commissioned": commissioned,
            "clauses": {cid: clause(cid) for cid in sorted(wanted)}}


def remember(key: str | None, book, on: dt.date) -> None:
    if key is not None and not _plugin_rules(book.leaf.ruleset.id):
        ruleset_cache.store_data("catalogue", key, compile_snapshot(book, on))


def answer(snap: dict, text: str, lang: str) -> dict:
    """What decide/certificates.check_certificate answers, from a snapshot."""
    index = snap["codes"].get(text.strip())
    if index is None:
        key = normalize(text)
        index = snap["names"].get(key)
        if index is None:  # as Book.lookup: 开具一份居住证明 → 居住证明
            index = snap["names"].get(certificate_name(key))
    entry = snap["entries"][index] if index is not None else None
    otherwise = snap["otherwise"]
    facts = {"kind": KIND, "listed": entry["list"] if entry else "none", "partial": False, "funded": False,
             "shortfall": False, "over_cap": False, "assessor_ok": True, "basis": False,
             "otherwise": otherwise["outcome"] if (entry is None and otherwise) else "none"}
    _outcome, category, code = procedure().decide(facts)
    matter = entry["name"] if entry else text.strip()  # as decide/certificates.py strips it
    if entry is not None:
        clause_id = entry["id"]
    elif otherwise is not None:
        clause_id = otherwise["clause"]
    else:
        clause_id = snap["commissioned"]
    reasons = [_reason(snap, code, clause_id, lang, matter=matter, department="社区居民委员会")]
    if snap["proposal"]:
        reasons.append(_reason(snap, "PROPOSAL_ADVISORY", clause_id, lang, status=snap["status"]))
    document = snap["clauses"][clause_id]["document"]
    if document is not None:  # as Engine._not_binding
        reasons.append(_reason(snap, f"SOURCE_{document['status'].upper()}", clause_id, lang,
                               document=document["title"]))
    if snap["ended"]:
        reasons.append(_reason(snap, "VERSION_ENDED", clause_id, lang, version=snap["ruleset"]["version"],
                               end=snap["ended"]))
    certificate = None
    if entry is not None:
        certificate = {"code": entry["code"], "name": entry["name"], "list": entry["list"],
                       "aliases": entry["aliases"]}
    return {"query": text, "verdict": VERDICTS.get(category, "unknown"), "certificate": certificate,
            "reasons": reasons, "suggestions": [] if entry else _suggestions(snap, text),
            "redirect": entry["redirect"] if entry else None, "ruleset": snap["ruleset"],
            "advisory": snap["advisory"] or document is not None}


def _reason(snap: dict, code: str, clause_id: str, lang: str, **values) -> dict:
    """A reason as the engine's, in words: messages.reason_message with the snapshot's clause texts."""
    clause = snap["clauses"][clause_id]
    neutral = {"code": code, "clause": f"{clause['ref']}#{clause_id}", "values": values}

    def clause_text(_ref: str, lang: str) -> str:
        return (clause["text_en"] or clause["text"]) if lang == "en" else clause["text"]

    return {"code": code, "clause": neutral["clause"], "message": reason_message(neutral, lang, clause_text),
            "source": dict(clause["source"])}


def _suggestions(snap: dict, text: str, n: int = 3) -> list[str]:
    """As Book.suggestions: close names offered, never used to decide; a colloquial form first."""
    found = closest(text, snap["names"], lambda key: snap["entries"][snap["names"][key]]["name"], n)
    hint = snap["hints"].get(normalize(text))
    if hint is None:
        return found
    name = snap["entries"][hint]["name"]
    return ([name] + [f for f in found if f != name])[:n]


def fast_answer(text: str, city: str, on: dt.date, lang: str) -> tuple[dict | None, str | None]:
    """(answer, key): the answer from a cached snapshot, or None and the key to store under."""
    try:
        if _plugin_rules(city):
            return None, None
        key = snapshot_key(city, on)
    except OSError:
        return None, None
    snap = ruleset_cache.load_data("catalogue", key)
    if not isinstance(snap, dict):
        return None, key
    return answer(snap, text, lang), key
