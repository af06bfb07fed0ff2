"""准入申请批量导入 (department): upload JSON Lines or the XLSX template; every row is checked
first (one bad row: a message naming it, nothing logged), then the batch is decided in the
background while the page shows its progress as it goes (streamed HTML: no script needed), and
ends with the outcomes and a link to each decision. The batch finishes even if the browser
leaves: what was started is logged whole."""
from __future__ import annotations

import html
import queue
import threading

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from zhunru.errors import InputError
from zhunru.messages import OUTCOMES

from ..app import MAX_BATCH, XLSX, batch_requests, decide_batch, status_of
from ..auth import require
from .common import form, page, state

router = APIRouter()


@router.get("/apply/batch")
def batch_form(request: Request):
    require(request, state(request).accounts, "department", "admin")
    return page(request, "batch.html.j2", problem=None, limit=MAX_BATCH // (1024 * 1024))


@router.get("/apply/template.xlsx")
def template(request: Request):
    from zhunru.office.batch import template as make

    return Response(make(), media_type=XLSX,
                    headers={"Content-Disposition": "attachment; filename*=UTF-8''%E5%87%86%E5%85%A5%E7%94%B3%E8%AF%B7.xlsx"})


@router.post("/apply/batch")
async def batch(request: Request):
    account = require(request, state(request).accounts, "department", "admin")
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > MAX_BATCH + 64 * 1024:
        raise InputError(f"file: over the limit of {MAX_BATCH // (1024 * 1024)} MiB")
    await form(request)  # the CSRF token
    upload = (await request.form()).get("file")
    if upload is None or isinstance(upload, str):
        return page(request, "batch.html.j2", status=422, problem="file: 请选择要上传的文件", limit=MAX_BATCH // 2**20)
    body = await upload.read(MAX_BATCH + 1)
    if len(body) > MAX_BATCH:
        return page(request, "batch.html.j2", status=413, problem=f"file: 文件超过 {MAX_BATCH // 2**20} MiB",
                    limit=MAX_BATCH // 2**20)
    try:  # everything checkable is checked before the page starts: a bad row is a plain 4xx page
        batch_requests(body)
    except InputError as exc:
        return page(request, "batch.html.j2", status=status_of(exc), problem=str(exc), limit=MAX_BATCH // 2**20)
    return StreamingResponse(_run(request, body, account), media_type="text/html; charset=utf-8")


def _run(request: Request, body: bytes, account):
    """Decide in a thread of its own; yield the page: its head, progress lines, the result."""
    events: queue.Queue = queue.Queue()
    zhunru = state(request).zhunru

    def work():
        try:
            events.put(("done", decide_batch(zhunru, body, account, "zh", lambda d, t: events.put(("progress", (d, t))))))
        except InputError as exc:
            events.put(("error", exc))
        except Exception as exc:  # noqa: BLE001 - reported on the page, not lost in a thread
            events.put(("error", InputError(f"batch: internal error {exc.__class__.__name__}")))

    threading.Thread(target=work, name="zhunru-batch", daemon=True).start()
    shell = page(request, "batch_run.html.j2").body.decode()
    head, tail = shell.split("<!--progress-->", 1)
    yield head
    while True:
        kind, value = events.get()
        if kind == "progress":
            done, total = value
            yield (f'<div class="progress"><progress max="{total}" value="{done}"></progress> '
                   f'已处理 {done} / {total}</div>\n')
            continue
        if kind == "error":
            yield f'<div class="problem" role="alert" id="batch-error">{html.escape(str(value))}</div>'
        else:
            yield _summary(value)
        break
    yield tail


def _summary(result: dict) -> str:
    counts = "、".join(f"{OUTCOMES[k][0]} {v} 项" for k, v in result["outcomes"].items())
    rows = "".join(
        f'<tr><td data-label="申请"><a href="/decisions/{html.escape(d["decision_id"])}">{html.escape(d["request_id"])}</a></td>'
        f'<td data-label="事项">{html.escape(d["matter"]["name"])}</td>'
        f'<td data-label="结论">{OUTCOMES[d["outcome"]][0]}{"(已记录)" if d.get("already_logged") else ""}</td></tr>'
        for d in result["decisions"][:1000])
    more = f'<p class="small">仅列出前 1000 项,共 {result["count"]} 项。</p>' if result["count"] > 1000 else ""
    return (f'<div class="flash" role="status" id="batch-done">已处理 {result["count"]} 项:{counts}。全部已记入日志。</div>'
            f'<div class="scroll"><table class="stack" id="batch-result"><thead><tr><th>申请</th><th>事项</th>'
            f'<th>结论</th></tr></thead><tbody>{rows}</tbody></table></div>{more}')
