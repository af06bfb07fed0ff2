"""社区名册 (the district office; an admin for every district; an auditor reads): the community
registry by district and street, retired communities apart; importing a CSV or XLSX file (the
same checks as `zhunru community import`; a template to fill in at /registry/template.xlsx);
editing one community; retiring one (and undoing it); the history of every change.

An approver manages its own district's communities only: a file with a row of another district,
or an edit of another district's community, is 403 and nothing is written. A file or a field
that cannot be used brings the page back with one line in Chinese naming the row or the field
(422); an import is all or nothing. Every change is recorded with the account that made it
(table zhunru_community_change, in the transaction of the change).
"""
from __future__ import annotations

from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from zhunru.errors import InputError
from zhunru.office.accounts import Forbidden

from ..auth import check_csrf, require
from .common import error_page, form, page, state

router = APIRouter()

MAX_UPLOAD = 16 * 1024 * 1024  # the file; the engine's own limit for any registry file is 32 MiB
FORM_OVERHEAD = 64 * 1024  # the multipart envelope and the form's other fields
DRAIN_LIMIT = 4 * MAX_UPLOAD  # an upload over the limit but under this is read to its end before the 413
SHOWN = 3000  # communities listed on one page; more: choose a district
HISTORY = 100  # changes listed
READERS = ("admin", "approver", "auditor")
WRITERS = ("admin", "approver")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FIELDS = {"name": "名称", "district": "区县", "street": "街道", "population": "人口", "households": "户数",
          "retired_at": "撤销日期", None: "整个社区"}
ACTIONS = {"import": "导入", "edit": "修改", "retire": "撤销", "restore": "恢复"}


def account_actor(account) -> dict:
    """Who acts, as the chain records it (the account, its role and scope, from the web)."""
    from zhunru.log.beside import account_actor as actor

    return actor(account, "web")


def _registry(request: Request):
    from zhunru.office.registry import CommunityRegistry

    return CommunityRegistry(state(request).zhunru.log)  # not closed: it is the service's own log


def _scope(account) -> str | None:
    """The district an account manages (an approver's), or None for every district."""
    return account.scope if account.role == "approver" else None


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):.0f} MiB" if n >= 1024 * 1024 else f"{max(1, n // 1024)} KiB"


def _view(request: Request, account, district: str | None, edit: str | None, values: dict | None = None) -> dict:
    """What the page shows: the registry (an approver's district, or the district asked for),
    the community being edited, the recent changes."""
    from zhunru.office.workdays import today_in_china

    registry = _registry(request)
    today = today_in_china()
    scope = _scope(account)
    everything = registry.list(retired=True)
    districts = sorted({r.district for r in everything})
    chosen = scope or (district if district in districts else None)
    rows = [r for r in everything if chosen is None or r.district == chosen]
    active = [r for r in rows if not r.retired_on(today)]
    retired = [r for r in rows if r.retired_on(today)]
    groups: dict[str, dict[str, list]] = {}
    for row in active[:SHOWN]:
        groups.setdefault(row.district, {}).setdefault(row.street, []).append(row)
    editing = None
    if edit:
        editing = registry.get(edit)
        if editing is None:
            raise _not_found(edit)
        if scope is not None and editing.district != scope:
            raise Forbidden(f"社区 {edit} 属于{editing.district},不在本账号管理的{scope}")
    shown = dict(values or (editing.as_dict() if editing else {}))
    for k in ("population", "households"):
        shown[k] = "" if shown.get(k) is None else shown[k]
    return {"groups": groups, "active_count": len(active), "retired": retired, "districts": districts,
            "chosen": chosen, "scope": scope, "editing": editing, "v": shown, "today": today.isoformat(),
            "history": [_readable(c) for c in registry.history(district=chosen, limit=HISTORY)], "shown_max": SHOWN,
            "max_upload": _size(MAX_UPLOAD), "FIELDS": FIELDS, "ACTIONS": ACTIONS,
            "may_write": account.role in WRITERS}


def _readable(change: dict) -> dict:
    """A change as the page shows it: a community an import added, with its values read out."""
    import json

    added = None
    if change["field"] is None and change["new_value"]:
        try:
            added = json.loads(change["new_value"])
        except ValueError:
            added = None
    return {**change, "added": added if isinstance(added, dict) else None}


def _not_found(code: str) -> InputError:
    from ..app import NotFound

    return NotFound(f"社区代码:名册中没有代码为“{code[:64]}”的社区")


def _render(request: Request, account, district: str | None = None, edit: str | None = None, status: int = 200,
            problem: str | None = None, done: str | None = None, values: dict | None = None):
    return page(request, "registry.html.j2", status=status, problem=problem, done=done,
                **_view(request, account, district, edit, values))


def _flash(params) -> str | None:
    done = params.get("done")
    code = (params.get("code") or "")[:64]
    if done == "import":
        return (f"已导入 {params.get('file', '')[:200]}:新增 {params.get('added', 0)} 个,更新 "
                f"{params.get('updated', 0)} 个,未变 {params.get('unchanged', 0)} 个社区,变更已记录。")
    if done == "edit":
        count = params.get("n", "0")
        return f"已修改社区 {code}({count} 项),变更已记录。" if count != "0" else f"社区 {code} 没有变化(原值相同)。"
    if done == "retire":
        return f"已撤销社区 {code},自 {params.get('on', '')[:10]} 起不再接受新的准入申请,已记录。"
    if done == "restore":
        return f"已恢复社区 {code},重新接受准入申请,已记录。"
    return None


@router.get("/registry")
def registry_page(request: Request, district: str | None = None, edit: str | None = None):
    account = require(request, state(request).accounts, *READERS)
    return _render(request, account, district, edit, done=_flash(request.query_params))


@router.get("/registry/template.xlsx")
def template(request: Request):
    from zhunru.office.registry import template_xlsx

    account = require(request, state(request).accounts, *READERS)
    name = quote("社区名册模板.xlsx")
    return Response(template_xlsx(_scope(account)), media_type=XLSX_TYPE, headers={
        "Content-Disposition": f"attachment; filename=\"registry-template.xlsx\"; filename*=UTF-8''{name}"})


def _problem(exc: InputError) -> str:
    """One line in Chinese naming the row or the field."""
    zh = getattr(exc, "zh", None)
    return (zh or str(exc)).splitlines()[0] if (zh or str(exc)) else "输入有误"


def _refused(exc: InputError):
    """An approver outside its district (403), an unknown code (404): the error page, in Chinese."""
    from zhunru.office.registry import OutOfScope, UnknownCommunity

    if isinstance(exc, OutOfScope):
        return Forbidden(exc.zh)
    if isinstance(exc, UnknownCommunity):
        from ..app import NotFound

        return NotFound(exc.zh)
    return None


@router.post("/registry/import")
async def import_file(request: Request):
    from zhunru.office.registry import RegistryError

    account = require(request, state(request).accounts, *WRITERS)
    # The body is read only when its size is known and within the limit: a chunked upload of
    # unknown size would otherwise be spooled to disk whole before any check.
    length = request.headers.get("content-length", "")
    if not length.isdigit():
        return error_page(request, 411, InputError("文件:提交未说明大小(Content-Length),请用本页的表单提交。"))
    if int(length) > MAX_UPLOAD + FORM_OVERHEAD:
        if int(length) <= DRAIN_LIMIT:  # read and dropped: a browser cut off mid-upload shows a reset, not this page
            async for _chunk in request.stream():
                pass
        return await run_in_threadpool(
            _render, request, account, None, None, 413,
            f"文件:文件过大(本次提交 {_size(int(length))}),名册文件不能超过 {_size(MAX_UPLOAD)}。"
            "请分成几个文件导入。本次未导入任何社区。")
    posted = await request.form(max_files=2, max_fields=20)
    token = posted.get("csrf")
    check_csrf(request, state(request).accounts, token if isinstance(token, str) else None)  # 403 for a forged form
    upload = posted.get("file")
    if upload is None or isinstance(upload, str) or not upload.filename:
        return await run_in_threadpool(_render, request, account, None, None, 422,
                                       "文件:请选择要导入的 CSV 或 XLSX 文件。")
    raw = await upload.read(MAX_UPLOAD + 1)
    name = "".join(c for c in upload.filename.replace("\\", "/").rsplit("/", 1)[-1] if c.isprintable())[:200] or "file"
    if len(raw) > MAX_UPLOAD:
        return await run_in_threadpool(_render, request, account, None, None, 413,
                                       f"文件:{name} 过大,名册文件不能超过 {_size(MAX_UPLOAD)}。本次未导入任何社区。")
    try:
        result = await run_in_threadpool(lambda: _registry(request).import_bytes(
            raw, name, name, actor=account_actor(account), scope=_scope(account)))
    except RegistryError as exc:
        return await run_in_threadpool(_render, request, account, None, None, 422,
                                       f"{_problem(exc)}。本次未导入任何社区。")
    except Forbidden as exc:
        raise _refused(exc) or exc from None
    query = urlencode({"done": "import", "file": name, "added": len(result.added), "updated": len(result.updated),
                       "unchanged": len(result.unchanged)})
    return RedirectResponse(f"/registry?{query}", status_code=303)


@router.post("/registry/edit")
async def edit(request: Request):
    from zhunru.office.registry import EDITABLE, RegistryError

    account = require(request, state(request).accounts, *WRITERS)
    data = await form(request)  # the CSRF token first (403): nothing is done for a forged form
    code = data.get("code", "").strip()
    changes = {k: data[k] for k in EDITABLE if k in data}
    if account.role == "approver":  # shown, not editable; what is posted is still checked
        changes["district"] = changes.get("district") or account.scope
    try:
        done = await run_in_threadpool(lambda: _registry(request).edit(code, changes, actor=account_actor(account),
                                                                       scope=_scope(account)))
    except (Forbidden, RegistryError) as exc:
        refused = _refused(exc)
        if refused is not None or not isinstance(exc, RegistryError):
            raise refused or exc from None
        return await run_in_threadpool(_render, request, account, None, code, 422, _problem(exc), None,
                                       {**changes, "code": code})
    return RedirectResponse(f"/registry?{urlencode({'done': 'edit', 'code': code, 'n': len(done)})}",
                            status_code=303)


@router.post("/registry/retire")
async def retire(request: Request):
    import datetime as dt

    from zhunru.office.registry import RegistryError

    account = require(request, state(request).accounts, *WRITERS)
    data = await form(request)
    code = data.get("code", "").strip()
    undo = data.get("undo") == "1"
    on = None
    if not undo:
        try:
            on = dt.date.fromisoformat(data.get("on", "").strip())
        except ValueError:
            return await run_in_threadpool(_render, request, account, None, code or None, 422,
                                           f"撤销日期:“{data.get('on', '')[:20]}”不是有效日期,请按 2026-05-01 的格式填写。")
    try:
        if undo:
            await run_in_threadpool(lambda: _registry(request).restore(code, actor=account_actor(account), scope=_scope(account)))
        else:
            await run_in_threadpool(lambda: _registry(request).retire(code, on, actor=account_actor(account),
                                                                      scope=_scope(account)))
    except (Forbidden, RegistryError) as exc:
        refused = _refused(exc)
        if refused is not None or not isinstance(exc, RegistryError):
            raise refused or exc from None
        return await run_in_threadpool(_render, request, account, None, code or None, 422, _problem(exc))
    query = {"done": "restore", "code": code} if undo else {"done": "retire", "code": code, "on": on.isoformat()}
    return RedirectResponse(f"/registry?{urlencode(query)}", status_code=303)
