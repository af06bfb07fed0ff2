"""规则集 (public, no login: rulesets are public law): every city's versions, one ruleset with
each clause beside its source's words, the city's concordance, and what changed between two
versions.

    /rulesets                               cities and versions; which one decides today
    /rulesets/{city}                        → the version that decides today
    /rulesets/{city}/{version}              the ruleset; each clause at #clause-<ID>
    /rulesets/{city}/{version}?view=concordance   the sources sentence by sentence beside the clauses
    /rulesets/{city}/diff?from=V1&to=V2     the diff of `zhunru ruleset diff`

The lookups are the API's (api_rulesets.py), in Chinese: an unknown city or version is a 404
page, a bad query value 422 naming the field. A decision's clause `bijie@2017.1#BJ-ADM-02` is
the page `/rulesets/bijie/2017.1#clause-BJ-ADM-02`.
"""
from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse

from zhunru.errors import InputError
from zhunru.kinds import LISTS
from zhunru.office.workdays import today_in_china

from ..api_rulesets import (MAX_VERSION, BadValue, city_name, deciding, find_city, find_version, listing,
                            registry, ruleset_diff)
from .common import page

router = APIRouter()

STATUS = {"in_force": "正式文件", "proposal": "建议案", "draft": "征求意见稿"}
COVERAGE = {"full": "完整", "partial": "部分"}
BASIS = {"per_resident": "每位居民", "per_100_households": "每百户", "per_community": "每个社区", "fixed": "固定金额"}
PER = {"year": "每年", "once": "一次性"}
ROLES = {"department": "职能部门", "street_office": "街道办事处", "coordination_body": "区(县)社区建设领导协调机构"}
LEVELS = {"city": "市级", "district": "区(县)级", "street": "街道级"}
CAPS = {"assist_categories": "协助事项类别", "assist_items": "协助事项", "duty_items": "依法履行职责事项"}
DEADLINES = {"apply_ahead_days": "提前申请(工作日)", "decide_within_days": "审批时限(工作日)",
             "review_after_days": "复核期限(工作日)"}
VIEWS = ("", "concordance")


def labels() -> dict:
    from zhunru.authoring.diff import BURDEN_LABELS, FIELD_LABELS, KIND_LABELS, LIST_LABELS

    def zh(pairs: dict) -> dict:  # the Chinese half of each (zh, en) label
        return {k: v[0] for k, v in pairs.items()}

    return {"STATUS": STATUS, "COVERAGE": COVERAGE, "BASIS": BASIS, "PER": PER, "ROLE": ROLES, "LEVEL": LEVELS,
            "CAPS": CAPS, "DEADLINES": DEADLINES, "KIND": zh(KIND_LABELS), "LIST": zh(LIST_LABELS),
            "BURDEN": zh(BURDEN_LABELS), "FIELD": zh(FIELD_LABELS)}


def href(ref: str, clause: str | None = None) -> str:
    """The page of `city@version`, at a clause if one is named."""
    city, _, version = ref.partition("@")
    return f"/rulesets/{quote(city)}/{quote(version)}" + (f"#clause-{clause}" if clause else "")


@router.get("/rulesets")
def rulesets(request: Request):
    today = today_in_china()  # Beijing's date decides which version is in force, not the server's
    rows = listing(registry(request), today)
    for city in rows:
        for v in city["versions"]:
            ended = v["effective_to"] is not None and today >= v["effective_to"]
            v["period"] = "尚未生效" if today < v["effective_from"] else "已失效" if ended else "现行"
            v["deciding"] = v["version"] == city["current"]
            v["ended"] = ended
    return page(request, "rulesets.html.j2", cities=rows, today=today, **labels())


@router.get("/rulesets/{city}")
def city_page(request: Request, city: str):
    reg = registry(request)
    found = find_city(reg, city, "zh")
    item, _ended = deciding(reg, found, today_in_china())
    item = item or reg.versions(found)[0]  # before the first version: the first
    return RedirectResponse(href(item.ref), status_code=303)


@router.get("/rulesets/{city}/diff")
def diff_page(request: Request, city: str, a: str = Query("", alias="from"), b: str = Query("", alias="to")):
    # Plain strings: FastAPI's own checks would answer with JSON; every value is checked here.
    reg = registry(request)
    found = find_city(reg, city, "zh")
    versions = [v.ruleset.version for v in reg.versions(found)]
    form = {"from": a.strip(), "to": b.strip()}
    values = {"city": found, "name": city_name(reg, found), "versions": versions, "form": form, "result": None,
              "problem": None, **labels()}
    if not form["from"] and not form["to"]:  # the empty form, set to the last change
        form.update({"from": versions[-2] if len(versions) > 1 else versions[0], "to": versions[-1]})
        return page(request, "ruleset_diff.html.j2", **values)
    try:
        for field, value in (("from", form["from"]), ("to", form["to"])):
            if not value:
                raise BadValue(f"{'起始版本' if field == 'from' else '对比版本'}({field}):请选择版本。")
            if len(value) > MAX_VERSION:
                raise BadValue(f"{'起始版本' if field == 'from' else '对比版本'}({field}):最多 {MAX_VERSION} 个字符。")
        result = ruleset_diff(reg, found, form["from"], form["to"], "zh")
    except BadValue as exc:
        return page(request, "ruleset_diff.html.j2", status=422, **{**values, "problem": str(exc)})
    return page(request, "ruleset_diff.html.j2", **{**values, "result": result}, href=href)


@router.get("/rulesets/{city}/{version}")
def ruleset_page(request: Request, city: str, version: str, view: str = ""):
    if view not in VIEWS:
        raise BadValue(f"显示方式(view):只能是 concordance(对照表)或不填,不能是“{view[:20]}”。")
    reg = registry(request)
    found = find_city(reg, city, "zh")
    item = find_version(reg, found, version, "zh")
    r = item.ruleset
    today = today_in_china()
    current, ended = deciding(reg, found, today)
    parents = parent_versions(reg, item)
    documents = {s.document: s.title for s in r.sources if s.document}
    quoted = {c.id: item.source_status(c) for c in r.all_clauses()}  # (document or part, status)
    links = clause_links(item, parents)
    values = {"item": item, "r": r, "name": city_name(reg, found), "today": today, "parents": parents,
              "deciding": current is not None and current.ref == item.ref, "ended": ended,
              "versions": [v.ruleset.version for v in reg.versions(found)], "documents": documents, "quoted": quoted,
              "links": links, "view": view, **labels()}
    if view == "concordance":
        return page(request, "ruleset.html.j2", concordance=concordance(reg, item), **values)
    return page(request, "ruleset.html.j2", sections=sections(r), **values)


def parent_versions(reg, item) -> list:
    """The parent's versions that apply during this version's span (a city extends `national`,
    whose 2015.1 and 2020.1 both apply to a city version running from 2017)."""
    parent = item.ruleset.extends
    if not parent:
        return []
    start, end = item.ruleset.effective_from, item.ruleset.effective_to
    try:
        versions = reg.versions(parent)
    except InputError:  # a missing parent: the engine refuses the city anyway; the page still shows it
        return []
    return [v for v in versions
            if (end is None or v.ruleset.effective_from < end)
            and (v.ruleset.effective_to is None or v.ruleset.effective_to > start)]


def clause_links(item, parents: list) -> dict[str, str]:
    """clause id → where it is shown: on this page, or on a parent's page (the latest parent
    version that has it), for the clause references of the lists (otherwise, caps, max_count)."""
    links = {c.id: f"#clause-{c.id}" for c in item.ruleset.all_clauses()}
    for parent in reversed(parents):
        for c in parent.ruleset.all_clauses():
            links.setdefault(c.id, href(parent.ref, c.id))
    return links


def sections(r) -> list[dict]:
    """Each kind the ruleset has rules for, with its lists in the engine's lookup order and what
    else bounds it (what happens to an unlisted matter, a maximum count, the off-list clause)."""
    out = []
    for kind, names in LISTS.items():
        section = getattr(r, kind)
        if section is None:
            continue
        lists = [{"name": name, "list": getattr(section, name)} for name in names if getattr(section, name) is not None]
        out.append({"kind": kind, "lists": lists, "otherwise": getattr(section, "otherwise", None),
                    "max_count": getattr(section, "max_count", None),
                    "max_count_clause": getattr(section, "max_count_clause", None),
                    "commissioned": getattr(section, "commissioned", None)})
    return out


def concordance(reg, item) -> dict | None:
    """The city's concordance (rulesets/<city>/concordance.yaml) for reading: each source sentence
    with the clauses beside it, each clause linked to the version that holds it (this one first)."""
    from zhunru.rulebook.concordance import FILE, load, sentence_status

    path = item.path.parent / FILE
    if not path.is_file():
        return None
    found, problems = load(path)
    if found is None:  # `zhunru ruleset validate` names what is wrong; the page says it cannot be read
        return {"documents": [], "problem": problems[0].message if problems else "unreadable",
                "modelled": 0, "not_modelled": 0}
    versions = reg.versions(item.ruleset.id)
    held: dict[str, tuple[str, str]] = {}  # clause id → (text, ref of the version showing it)
    for v in [item, *reversed(versions)]:
        for c in v.ruleset.all_clauses():
            held.setdefault(c.id, (c.text, v.ref))
    titles = {s.document: s.title for v in versions for s in v.ruleset.sources if s.document}
    documents, modelled, not_modelled = [], 0, 0
    for doc in found.documents:
        sentences = []
        for s in doc.sentences:
            clauses = [{"id": c, "text": held[c][0], "ref": held[c][1], "href": href(held[c][1], c)} if c in held
                       else {"id": c, "text": None, "ref": None, "href": None} for c in s.clauses]
            sentences.append({"text": s.text, "where": s.where, "clauses": clauses, "not_modelled": s.not_modelled,
                              "status": sentence_status(versions, doc.document, s.text)})
            modelled, not_modelled = modelled + bool(s.clauses), not_modelled + (not s.clauses)
        statuses = list(dict.fromkeys(x["status"] for x in sentences if x["status"]))
        documents.append({"document": doc.document, "title": titles.get(doc.document), "part": doc.part,
                          "sentences": sentences, "statuses": statuses})
    return {"documents": documents, "problem": None, "modelled": modelled, "not_modelled": not_modelled}
