"""本社区 (a community worker): what has been admitted to my community and by whom; report a
demand that reached the community without admission (filed on the department's behalf, marked
as reported by the community, decided like any other request: a refusal comes with its
printable notice); ask the district body to withdraw an admitted matter."""
from __future__ import annotations

import datetime as dt
import json
import secrets

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from zhunru.errors import InputError
from zhunru.office.workdays import today_in_china

from ..app import decide_request
from ..auth import require
from .certificates import city_options
from .common import form, page, state

router = APIRouter()
SHOWN = 200  # rows a page lists (newest first)
STATES = {"in_effect": "已准入", "advisory": "参考意见(未生效)", "pending": "待审批", "refused": "区社区办不予准入",
          "rejected": "不予准入", "withdrawn": "已撤销"}


def _community(request: Request, code: str | None) -> tuple[object, dict]:
    """The account and the community it may see: its own; an admin names one (?code=)."""
    from zhunru.office.registry import CommunityRegistry

    account = require(request, state(request).accounts, "community", "admin")
    code = account.scope if account.role == "community" else (code or "").strip()
    if not code:
        raise InputError("code: name the community (?code=…)")
    row = CommunityRegistry(state(request).zhunru.log).get(code)  # retired or not: its own page still shows it
    found = row.as_dict() if row else {"code": code, "name": code, "district": None, "street": None}
    return account, found


def _matters(log, community: dict) -> list[dict]:
    """Every decision naming the community (by code, or by name where the request gave no code),
    newest first, with the state its act gave it: read by index, at most SHOWN rows."""
    query = text("SELECT t.state, t.kind, t.request_date, t.funded, t.staffed, l.entry_id, l.request_id, "
                 "l.department, l.matter, l.request_json FROM zhunru_target t JOIN zhunru_log l ON l.seq = t.decision_seq "
                 "WHERE t.community = :code OR (t.code IS NULL AND t.community_name = :name) "
                 f"ORDER BY t.decision_seq DESC LIMIT {SHOWN}")
    with log.reader.connect() as conn:
        found = [dict(r) for r in conn.execute(query, {"code": community["code"], "name": community["name"]}).mappings()]
    for r in found:
        request = json.loads(r.pop("request_json"))
        r["matter_name"] = r["matter"] if not request.get("matter") else request["matter"]
        r["reported"] = bool(request.get("reported_by"))
        r["state_label"] = STATES.get(r["state"], r["state"])
    return found


@router.get("/community")
def community(request: Request, code: str | None = None, done: str | None = None):
    account, place = _community(request, code)
    matters = _matters(state(request).zhunru.log, place)
    return page(request, "community.html.j2", place=place, matters=matters, shown=SHOWN, done=done,
                in_effect=[m for m in matters if m["state"] == "in_effect"],
                other=[m for m in matters if m["state"] != "in_effect"])


@router.get("/community/report")
def report_form(request: Request, code: str | None = None):
    _account, place = _community(request, code)
    return page(request, "community_report.html.j2", place=place, values={"date": today_in_china().isoformat()},
                cities=city_options(state(request).zhunru.rulesets), kinds=KIND_CHOICES, problem=None)


KIND_CHOICES = ("task", "nameplate", "certificate", "assessment", "meeting", "ledger", "report", "posting")


@router.post("/community/report")
async def report(request: Request, code: str | None = None):
    """File the reported demand on the department's behalf; show its decision."""
    data = await form(request)
    account, place = _community(request, code or data.get("code"))
    raw = {
        "id": f"rpt-{dt.date.today():%Y%m%d}-{secrets.token_hex(3)}", "city": data.get("city", ""),
        "date": data.get("date", ""), "kind": data.get("kind", ""), "matter": data.get("matter", ""),
        "department": {"name": data.get("department", ""), "level": data.get("level") or "district"},
        "communities": [{k: place[k] for k in ("name", "code", "district", "street") if place.get(k)}],
        "reported_by": {"community": place["code"], "account": account.name,
                        **({"note": data["note"].strip()} if data.get("note", "").strip() else {})},
    }
    try:
        decision = await run_in_threadpool(decide_request, state(request).zhunru, raw, True, "zh", account)
    except InputError as exc:
        from ..app import status_of

        return page(request, "community_report.html.j2", status=status_of(exc), place=place, values=data,
                    cities=city_options(state(request).zhunru.rulesets), kinds=KIND_CHOICES, problem=str(exc))
    return RedirectResponse(f"/decisions/{decision['decision_id']}", status_code=303)


@router.post("/decisions/{ident}/ask-withdrawal")
async def ask_withdrawal(request: Request, ident: str):
    from zhunru.office.queue import request_withdrawal

    data = await form(request)
    account = require(request, state(request).accounts, "community", "admin")
    await run_in_threadpool(request_withdrawal, state(request).zhunru.log, ident, account, data.get("note"))
    return RedirectResponse("/community?done=asked", status_code=303)
