"""证明查询 (public, no login): may the community issue the certificate someone asks it for?

A GET form, so an answer is a link a resident can send on and no CSRF token is needed. The
engine answers (`check_certificate`, as `POST /api/v1/certificates/check` does); this page puts
the verdict in plain words, each reason with its clause and the quoted source, the suggestions
as links and where to go instead. Bad input comes back as the form with one line in Chinese
naming the field (422), never a traceback.
"""
from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from fastapi import APIRouter, Request

from zhunru.errors import InputError, RulesetError
from zhunru.office.workdays import today_in_china

from ..app import status_of
from .common import page, state

router = APIRouter()

MAX_TEXT = 200  # as the API's CertificateQuestion and `zhunru cert check`
MAX_CITY = 64
MAX_BASIS = 2000

# What each verdict means for the person asking (the headline is VERDICTS' words, in the
# template): the colour of the headline and one sentence a worker can read out.
EXPLAIN = {
    "must_issue": ("ok", "按规定,这是社区居民委员会应当出具的证明,可以向社区申请开具。"),
    "may_issue": ("ok", "按规定,社区居民委员会可以出具此证明,但不是必须出具;请向社区说明情况。"),
    "must_not_issue": ("bad", ("按规定,这项证明不应由社区居民委员会出具,社区可以据此不予开具。"
                               "需要此证明的,请向要求您提供证明的单位询问应由哪个部门出具。")),
    "unknown": ("warn", "现有规定没有明确社区是否出具此证明,需要社区工作人员根据具体情况判断。"),
}


class Problem(InputError):
    """A field of the form that cannot be used; the message is Chinese and names the field."""


@router.get("/certificates")
def certificates(request: Request, text: str = "", city: str = "", date: str = "", basis: str = ""):
    # Plain `str` parameters: FastAPI's own checks would answer a malformed date with JSON;
    # here every field is checked below and answered with the page.
    registry = state(request).zhunru.rulesets
    cities = city_options(registry)
    form = {"text": text, "city": city, "date": date, "basis": basis}
    values = {"form": form, "cities": cities, "answer": None, "problem": None}
    if not text.strip():  # the empty form; a link may choose the city (/certificates?city=毕节)
        form["city"] = quietly(registry, city)
        return page(request, "certificates.html.j2", **values)
    try:
        question = checked(registry, cities, text, city, date, basis)
        form["city"] = question["city"]  # the select shows the city however it was named (毕节, 畢節, bijie)
        from zhunru.decide.certificates import check_certificate

        answer = check_certificate(state(request).zhunru.engine, question["text"], question["city"],
                                   question["date"], lang="zh", basis=question["basis"])
    except InputError as exc:
        return page(request, "certificates.html.j2", status=status_of(exc), **{**values, "problem": str(exc)})
    return page(request, "certificates.html.j2", **{**values, "answer": shown(registry, answer, form)},
                explain=EXPLAIN.get(answer["verdict"], EXPLAIN["unknown"]),
                city_name=dict(cities).get(question["city"], question["city"]),
                day=question["date"])


def checked(registry, cities: list[tuple[str, str]], text: str, city: str, date: str, basis: str) -> dict:
    """The form's fields ready for the engine, or `Problem` with one line naming the field."""
    text, city, date, basis = text.strip(), city.strip(), date.strip(), basis.strip()
    if not text:
        raise Problem("要求开具的证明:请填写证明的名称,例如“居住证明”。")
    if len(text) > MAX_TEXT:
        raise Problem(f"要求开具的证明:最多 {MAX_TEXT} 个字,现有 {len(text)} 个字。")
    if not city:
        raise Problem("城市:请选择所在城市。")
    known = "、".join(name for _id, name in cities)
    try:
        city_id = registry.city_id(city) if len(city) <= MAX_CITY else None
    except RulesetError:
        city_id = None
    if city_id is None:
        raise Problem(f"城市:本系统还没有“{shorten(city)}”的规则,可选:{known}。")
    on = None
    if date:
        try:
            on = dt.date.fromisoformat(date)
        except ValueError:
            raise Problem(f"日期:“{shorten(date)}”不是有效的日期,请按 2021-05-01 的格式填写,或不填(按今天)。") from None
    first, day = earliest(registry, city_id), on or today_in_china()  # "today" is Beijing's, not the server's
    if first is not None and day < first:  # the engine would say this in English
        raise Problem(f"日期:{day} 时该城市还没有生效的规则(最早自 {first} 起),请改填日期。")
    if len(basis) > MAX_BASIS:
        raise Problem(f"法律法规依据:最多 {MAX_BASIS} 个字,现有 {len(basis)} 个字。")
    return {"text": text, "city": city_id, "date": day, "basis": basis or None}


def city_options(registry) -> list[tuple[str, str]]:
    """(id, Chinese name) of every city with rulesets: the name people use (its ruleset's first
    `names`, e.g. 毕节市), the id where it has none. The baseline (a ruleset that extends none,
    全国) comes last: it is what applies where a city has no rules of its own."""
    found = []
    for city in registry.cities():
        try:
            latest = registry.versions(city)[-1].ruleset
        except (RulesetError, IndexError):  # a broken city must not take the page down
            continue
        found.append((latest.extends is None, city, latest.names[0] if latest.names else city))
    # By id (ids are pinyin, so 毕节 comes before 广州, as a Chinese list is ordered), the baseline last.
    return [(city, name) for _root, city, name in sorted(found)]


def quietly(registry, city: str) -> str:
    """The city's id if `city` names one, else `city` itself (no option is then selected)."""
    try:
        return registry.city_id(city.strip()) if 0 < len(city.strip()) <= MAX_CITY else city
    except RulesetError:
        return city


def earliest(registry, city: str) -> dt.date | None:
    versions = registry.versions(city)
    return versions[0].ruleset.effective_from if versions else None


def shown(registry, answer: dict, form: dict) -> dict:
    """The answer with what the template needs besides: each reason's document title and
    whether its source was already quoted above, and the suggestions as links."""
    seen = set()
    reasons = []
    for reason in answer["reasons"]:
        source = reason.get("source") or {}
        key = (source.get("document"), source.get("quote"), source.get("law"), source.get("item"))
        reasons.append({**reason, "title": document_title(registry, reason.get("clause") or "", source),
                        "repeated": key in seen})
        seen.add(key)
    links = [(name, "/certificates?" + urlencode({"text": name, "city": form["city"],
                                                  **({"date": form["date"]} if form["date"].strip() else {})}))
             for name in answer.get("suggestions") or []]
    return {**answer, "reasons": reasons, "links": links}


def document_title(registry, clause: str, source: dict) -> str | None:
    """The title of the document a clause quotes (the ruleset's `sources:` list it), so a
    resident reads 《…》 rather than a file name."""
    document = source.get("document")
    if not document:
        return None
    try:
        ruleset = registry.by_ref(clause.split("#", 1)[0]).ruleset
    except InputError:  # a clause of a plugin's ruleset we cannot find: the file name alone
        return None
    return next((s.title for s in ruleset.sources if s.document == document), None)


def shorten(value: str, limit: int = 20) -> str:
    return value if len(value) <= limit else value[:limit] + "…"
