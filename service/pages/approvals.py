"""待审批 (the district body): the queue with working-day deadlines, a decision's page with its
reasons, funding and history, approve or refuse with a written reason, and the printable
不予准入告知书."""
from __future__ import annotations

import json

from fastapi import APIRouter, Request

from zhunru.errors import InputError
from urllib.parse import quote

from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from ..app import Unavailable, act_as, decision_view, queue_for
from ..auth import require
from .common import form, page, state

router = APIRouter()


@router.get("/queue")
def queue(request: Request, done: str | None = None):
    from zhunru.office.queue import request_districts, withdrawal_requests

    account = require(request, state(request).accounts, "approver", "admin", "auditor")
    log = state(request).zhunru.log
    items = list(queue_for(state(request).zhunru, account))
    asks = [{"ask": json.loads(ask.payload_json), "at": ask.created_at, "decision": decision.entry_id,
             "request_id": decision.request_id, "matter": json.loads(decision.request_json)["matter"]}
            for ask, decision in withdrawal_requests(log)
            if account.role != "approver" or request_districts(log, decision) == {account.scope}]
    return page(request, "queue.html.j2", items=items, done=done, asks=asks)


@router.get("/decisions/{ident}")
def decision(request: Request, ident: str):
    require(request, state(request).accounts)
    from zhunru.log.matters import in_effect
    from zhunru.log.targets import may_be_acted_on
    from zhunru.office.notice import notice_data

    view = decision_view(state(request).zhunru, ident, "zh")
    d, act = view["decision"], view["act"]
    effective = not view["withdrawal"] and in_effect(d["outcome"], bool(d.get("advisory")), act["act"] if act else None)
    try:  # a notice exists exactly where notice_data finds grounds for one
        notice_data(state(request).zhunru.log, d["decision_id"])
        has_notice = True
    except InputError:
        has_notice = False
    awaits = not act and may_be_acted_on(d["outcome"], bool(d.get("advisory")))
    return page(request, "decision.html.j2", view=view, d=d, r=view["request"], in_effect=effective,
                awaits=awaits, has_notice=has_notice, done=request.query_params.get("done"))


async def act(request: Request, ident: str):
    """approve, refuse or withdraw (the path's last part) as the logged-in account."""
    verb = request.url.path.rsplit("/", 1)[1]
    data = await form(request)
    written = await run_in_threadpool(act_as, request, state(request), ident, verb, data.get("note"))
    if verb == "withdraw":
        return RedirectResponse(f"/decisions/{written['decision_id']}?done=withdraw", status_code=303)
    return RedirectResponse(f"/queue?done={written['request_id']}:{verb}", status_code=303)


for _verb in ("approve", "refuse", "withdraw"):
    router.add_api_route(f"/decisions/{{ident}}/{_verb}", act, methods=["POST"])


@router.get("/decisions/{ident}/notice")
def notice(request: Request, ident: str):
    """The 不予准入告知书 as a printable page (the browser's 打印 makes the PDF too)."""
    from zhunru.office.notice import notice_data, to_html

    require(request, state(request).accounts)
    return HTMLResponse(to_html(notice_data(state(request).zhunru.log, ident)))


@router.get("/decisions/{ident}/notice.pdf")
def notice_pdf(request: Request, ident: str):
    require(request, state(request).accounts)
    return notice_pdf_response(state(request).zhunru.log, ident)


def notice_pdf_response(log, ident: str) -> Response:
    """The notice printed to PDF by headless Chromium (503 where the server has none)."""
    import tempfile
    from pathlib import Path

    from zhunru.office.notice import notice_data, pdf_renderer, to_html, write_pdf

    notice = notice_data(log, ident)
    exe = pdf_renderer()
    if exe is None:
        raise Unavailable("pdf: no Chromium on the server to print the notice (open the HTML notice and print it)")
    with tempfile.TemporaryDirectory(prefix="zhunru-notice-") as folder:
        out = Path(folder) / "notice.pdf"
        write_pdf(to_html(notice), out, exe)
        body = out.read_bytes()
    name = f"notice-{notice['request_id']}.pdf"
    return Response(body, media_type="application/pdf",
                    headers={"Content-Disposition": f"inline; filename*=UTF-8''{quote(name)}"})
