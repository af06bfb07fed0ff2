"""Every decision zhunru makes on examples/ and on every ruleset's cases, pinned: outcome,
category, matter, reasons (code, clause, words in zh and en), funding, verdict, suggestions.

tests/data/golden_decisions.json was written by main as it stood before the engine was rebuilt
(durable_rules posted per request) and is what the compiled procedure must still say. One change
since, on purpose: past the end of a city's last version (guandu and h_county in 2021) a
certificate check answers, advisory, instead of exit 2 (44 entries). And Bijie's status per part of
its source (附件1, 3, 4, 5 are 征求意见稿): decisions resting on those annexes turned advisory with a
SOURCE_DRAFT reason naming the part (90 entries), and off-list tasks, under its now partial lists,
need approval instead of being refused or approved as commissioned (16 entries). When a ruleset or message
changes a decision on purpose, regenerate it and review the diff:
    ZHUNRU_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os

import yaml

from helpers import REPO
from zhunru.decide.certificates import check_certificate
from zhunru.decide.evaluate import Engine, parse_request
from zhunru.errors import InputError

GOLDEN = REPO / "tests" / "data" / "golden_decisions.json"
CITIES = ("bijie", "national", "guandu", "tianjiaan", "chengyang", "h_county", "guangzhou")
DATES = ("2016-06-01", "2019-06-01", "2021-06-01")
EXTRA_CERTIFICATES = ("生存证明", "无犯罪证明", "指定监护人证明", "居住证明")


def requests() -> list[dict]:
    out = [json.loads(f.read_text(encoding="utf-8")) for f in sorted((REPO / "examples/requests").glob("*.json"))]
    out += [json.loads(line) for line in (REPO / "examples/requests/bijie.jsonl").read_text(encoding="utf-8").splitlines()
            if line.strip()]
    out += [json.loads(f.read_text(encoding="utf-8")) for f in sorted((REPO / "examples/district").glob("*.json"))]
    for f in sorted(REPO.glob("rulesets/*/cases/*.yaml")):
        out += [c["request"] for c in yaml.safe_load(f.read_text(encoding="utf-8"))["cases"] if "request" in c]
    return out


def certificates() -> list[str]:
    names = []
    for f in sorted(REPO.glob("rulesets/*/cases/*.yaml")):
        names += [c["certificate"] for c in yaml.safe_load(f.read_text(encoding="utf-8"))["cases"] if "certificate" in c]
    return list(dict.fromkeys([*names, *EXTRA_CERTIFICATES]))


def key(request: dict) -> str:
    return hashlib.sha256(json.dumps(request, ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:16]


def pinned(shown) -> object:
    """What is pinned of a decision or certificate answer (sources are checked by validate)."""
    if isinstance(shown, str):
        return shown
    shown = dict(shown)
    shown.pop("decision_id", None)
    shown["ruleset"] = {k: v for k, v in shown["ruleset"].items() if k != "sha256"}  # changes with any edit
    shown["reasons"] = [[r["code"], r["clause"], r["message"]] for r in shown["reasons"]]
    return shown


def current() -> dict:
    out: dict = {}
    for lang in ("zh", "en"):
        engine = Engine(lang=lang)
        for request in requests():
            try:
                out[f"{lang}:{key(request)}"] = pinned(engine.evaluate(parse_request(request)).shown(lang))
            except InputError as exc:
                out[f"{lang}:{key(request)}"] = f"error: {exc}"
        for city in CITIES:
            for on in DATES:
                for name in certificates():
                    try:
                        answer = check_certificate(engine, name, city, dt.date.fromisoformat(on))
                    except InputError as exc:
                        answer = f"error: {exc}"
                    out[f"{lang}:cert:{city}:{on}:{name}"] = pinned(answer)
    return out


def test_decisions_are_as_pinned():
    got = current()
    if os.environ.get("ZHUNRU_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(got, ensure_ascii=False, sort_keys=True, indent=0) + "\n", encoding="utf-8")
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert len(got) == len(expected) > 600
    changed = [k for k in expected if got.get(k) != expected[k]]
    assert not changed, f"{len(changed)} decisions changed, e.g. {changed[0]}: {expected[changed[0]]} → {got.get(changed[0])}"
