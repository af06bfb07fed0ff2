"""The rulesets over HTTP (public: rulesets are public law). The JSON API is here, and so are the
lookups the 规则集 pages (pages/rulesets.py) share with it, so both answer the same question the
same way.

    GET /api/v1/rulesets                              every city and its versions
    GET /api/v1/rulesets/{city}/{version}             one ruleset as data, with its sha256
    GET /api/v1/rulesets/{city}/diff?from=V1&to=V2    what V2 changes relative to V1

A city is named by its id or a Chinese name (毕节, 毕节市), as everywhere else. What the engine
reads is what is shown: the registry of the running `zhunru.Zhunru`, the loaded models as they
are, and the diff of `zhunru ruleset diff`. An unknown city or version is 404; a bad query value
422, both naming the field.
"""
from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from zhunru.errors import InputError, RulesetError
from zhunru.office.workdays import today_in_china

router = APIRouter(prefix="/api/v1", tags=["rulesets"])

MAX_CITY = 64  # as the certificate check: longer is no city's name, and is not normalised
MAX_VERSION = 32


class BadValue(InputError):
    """A query value that cannot be used (HTTP 422); the message names the field."""


# Messages in the API's language (English, `field: …`) and the pages' (Chinese, naming the
# field as a person reads it); `lang` picks one.
MESSAGES = {
    "city": ("找不到“{city}”的规则集。现有:{known}。", "city: no rulesets for {city!r} (known: {known})"),
    "version": ("{name}没有 {version} 版规则集。现有版本:{known}。",
                "version: {city} has no version {version!r} (known: {known})"),
    "from": ("起始版本(from):{name}没有“{version}”版,可选:{known}。",
             "from: {city} has no version {version!r} (known: {known})"),
    "to": ("对比版本(to):{name}没有“{version}”版,可选:{known}。",
           "to: {city} has no version {version!r} (known: {known})"),
}


def message(key: str, lang: str, **values) -> str:
    zh, en = MESSAGES[key]
    return (zh if lang == "zh" else en).format(**values)


def registry(request: Request):
    return request.app.state.service.zhunru.rulesets


def cities(registry) -> list[tuple[str, str]]:
    """(id, Chinese name) of every loadable city, the baseline last (the certificate page's list)."""
    from .pages.certificates import city_options

    return city_options(registry)


def find_city(registry, city: str, lang: str = "en") -> str:
    """The id of the city `city` names (id or Chinese name), or NotFound."""
    # imported here, not above: app.py may import this module while it is still loading
    from .app import NotFound

    known = cities(registry)
    try:
        found = registry.city_id(city) if 0 < len(city) <= MAX_CITY else None
    except RulesetError:
        found = None
    if found is None or found not in dict(known):  # a broken city is not offered either
        shown = city if len(city) <= 20 else city[:20] + "…"
        names = "、".join(name for _id, name in known) if lang == "zh" else ", ".join(i for i, _n in known)
        raise NotFound(message("city", lang, city=shown, known=names))
    return found


def find_version(registry, city: str, version: str, lang: str = "en", field: str = "version",
                 error: type[InputError] | None = None):
    """The loaded ruleset `city@version` (city already an id), or `error` (NotFound) naming `field`."""
    from .app import NotFound

    versions = registry.versions(city)
    for item in versions:
        if item.ruleset.version == version:
            return item
    shown = version if len(version) <= 20 else version[:20] + "…"
    raise (error or NotFound)(message(field, lang, city=city, name=city_name(registry, city), version=shown,
                        known=("、" if lang == "zh" else ", ").join(v.ruleset.version for v in versions)))


def city_name(registry, city: str) -> str:
    return dict(cities(registry)).get(city, city)


def deciding(registry, city: str, on: dt.date):
    """(the version that decides on `on`, whether it has ended) — None before the first version."""
    try:
        item = registry.in_force(city, on)
    except RulesetError:
        return None, False
    end = item.ruleset.effective_to
    return item, end is not None and on >= end


# -- the listing ----------------------------------------------------------------------------------
class VersionRow(BaseModel):
    version: str
    effective_from: dt.date
    effective_to: dt.date | None
    status: str
    coverage: str
    title: str
    sha256: str


class CityRow(BaseModel):
    city: str
    name: str
    current: str | None  # the version that decides today (Beijing's date); past the last one's end, still it
    versions: list[VersionRow]


def listing(registry, today: dt.date) -> list[dict]:
    out = []
    for city, name in cities(registry):
        current, _ended = deciding(registry, city, today)
        out.append({"city": city, "name": name, "current": current.ruleset.version if current else None,
                    "versions": [{"version": r.version, "effective_from": r.effective_from,
                                  "effective_to": r.effective_to, "status": r.status, "coverage": r.coverage,
                                  "title": r.title, "sha256": item.sha256}
                                 for item in registry.versions(city) for r in [item.ruleset]]})
    return out


def ruleset_diff(registry, city: str, a: str, b: str, lang: str = "en") -> dict:
    """`zhunru ruleset diff city@a city@b`, both checked to be versions of the city first (the
    diff also reads file paths, which a query value must never reach)."""
    from zhunru.authoring.diff import diff

    a_item = find_version(registry, city, a, lang, "from", BadValue)
    b_item = find_version(registry, city, b, lang, "to", BadValue)
    result = diff(a_item.ref, b_item.ref)
    for side in ("a", "b"):  # where the files lie on the server is no reader's business
        result[side].pop("path", None)
    return result


# -- the routes -----------------------------------------------------------------------------------
@router.get("/rulesets", response_model=list[CityRow])
def rulesets(request: Request):
    """Every city (id and Chinese name) and its versions; `current` is the version that decides
    today (Asia/Shanghai date)."""
    return listing(registry(request), today_in_china())


@router.get("/rulesets/{city}/diff")
def rulesets_diff(request: Request, city: str,
                  a: str = Query(..., alias="from", min_length=1, max_length=MAX_VERSION, description="version A"),
                  b: str = Query(..., alias="to", min_length=1, max_length=MAX_VERSION, description="version B"),
                  ) -> dict:
    """What version `to` changes relative to `from` (as `zhunru ruleset diff`): metadata, items
    added, removed and moved between lists, list counts, coverage, caps, max_count, base funds,
    and the burden a community carries."""
    reg = registry(request)
    return ruleset_diff(reg, find_city(reg, city), a, b)


@router.get("/rulesets/{city}/{version}")
def ruleset(request: Request, city: str, version: str) -> dict:
    """One ruleset as data: the model as loaded (every list, clause and source quote) and the
    sha256 of its file (what a decision's `ruleset.sha256` names for a city without parents)."""
    reg = registry(request)
    item = find_version(reg, find_city(reg, city), version)
    return {"ref": item.ref, "sha256": item.sha256, "ruleset": item.ruleset.model_dump(mode="json", exclude_none=True)}
