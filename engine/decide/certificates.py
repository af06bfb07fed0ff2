"""Certificate check: is a certificate a community is asked for its to issue?"""
from __future__ import annotations

import datetime as dt

from zhunru.decide.evaluate import Engine
from zhunru.models import Department, Request


def check_certificate(engine: Engine, text: str, city: str, on: dt.date | None = None, lang: str | None = None,
                      basis: str | None = None) -> dict:
    """The contract's certificate answer: verdict, certificate, reasons (in `lang`, by default
    the engine's), suggestions, redirect. `basis`: the legal basis the asker cites, if any."""
    lang = lang or engine.lang
    city = engine.registry.city_id(city)
    request = Request.model_validate({
        "city": city, "date": (on or dt.date.today()).isoformat(), "kind": "certificate", "matter": text.strip(),
        "department": Department(name="社区居民委员会", level="street", role="department").model_dump(),
        **({"basis": basis.strip()} if basis and basis.strip() else {}),
    })
    decision = engine.evaluate(request)
    book = engine.book_for(city, request.date)
    entry = book.lookup("certificate", text)
    certificate = None
    if entry is not None:
        certificate = {"code": entry.item.key, "name": entry.item.name, "list": entry.list_name,
                       "aliases": list(entry.item.aliases)}
    return {"query": text, "verdict": decision.verdict, "certificate": certificate,
            "reasons": [{"code": r.code, "clause": r.clause, "message": r.text(lang), "source": r.source}
                        for r in decision.reasons],
            "suggestions": decision.suggestions,
            "redirect": entry.item.redirect if entry else None,
            "ruleset": decision.ruleset.model_dump(), "advisory": decision.advisory}
