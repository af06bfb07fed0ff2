"""待审批 (the district body): the queue with working-day deadlines, a decision's page with its
reasons, funding and history, approve or refuse with a written reason, and the printable
不予准入告知书."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from ..app import act_as, decision_view, queue_for
from ..auth import require
from .common import form, page, state

router = APIRouter()


@router.get("/queue")
def queue(request: Request, done: str | None = None):
    account = require(request, state(request).accounts, "approver", "admin", "auditor")
    items = list(queue_for(state(request).zhunru, account))
    return page(request, "queue.html.j2", items=items, done=done)


@router.get("/decisions/{ident}")
def decision(request: Request, ident: str):
    require(request, state(request).accounts)
    view = decision_view(state(request).zhunru, ident, "zh")
    return page(request, "decision.html.j2", view=view, d=view["decision"], r=view["request"])


@router.post("/decisions/{ident}/{verb}")
async def act(request: Request, ident: str, verb: str):
    if verb not in ("approve", "refuse"):
        return RedirectResponse(f"/decisions/{ident}", status_code=303)
    data = await form(request)
    written = await run_in_threadpool(act_as, request, state(request), ident, verb, data.get("note"))
    return RedirectResponse(f"/queue?done={written['request_id']}:{verb}", status_code=303)


@router.get("/decisions/{ident}/notice")
def notice(request: Request, ident: str):
    """The 不予准入告知书 as a printable page (the browser's 打印 makes the PDF)."""
    from zhunru.office.notice import notice_data, to_html

    require(request, state(request).accounts)
    return HTMLResponse(to_html(notice_data(state(request).zhunru.log, ident)))
