"""准入申请 and 我的申请 (a department; an admin for any department).

/apply is one form: the department (a department account's own, shown and not editable; an
admin types it), city, date, kind, matter (the city's catalogue offered as suggestions; any
name is accepted, and the engine never admits by guess), target communities from the registry
(single communities or all of a street), funding and staff, and an optional funding document.
Posting it decides and logs the request as the account (`decide_request`, which refuses a
department filing for another: 403) and lands on the decision's page. A field that cannot be
used brings the form back, values kept, with one line in Chinese naming the field (422);
nothing is logged.

The attached file is not stored: its name, size and sha256 are logged with the funding, in the
shape `zhunru evaluate --attach` logs (log.store.file_attachment).

/requests lists logged decisions newest first, a page at a time, read by SQL (never the whole
log): a department sees its own, an admin all (or one department's).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
import unicodedata
from decimal import Decimal
from pathlib import PureWindowsPath
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from sqlmodel import Session, select
from starlette.concurrency import run_in_threadpool
from zhunru.errors import InputError, RulesetError
from zhunru.log.store import LogEntry
from zhunru.messages import CATEGORIES, VERDICTS
from zhunru.office.publish import KIND_LABELS
from zhunru.office.workdays import today_in_china

from ..app import decide_request, status_of
from ..auth import require
from .certificates import city_options
from .common import MAX_FORM, error_page, form, page, state

router = APIRouter()

LEVELS = {"district": "区(县)级", "city": "市级", "street": "街道级"}
DEPARTMENT_ROLES = {"department": "职能部门", "street_office": "街道办事处",
                    "coordination_body": "区(县)社区工作领导协调机构"}
FUNDING_KINDS = {"funds": "工作经费", "special_funds": "专项经费", "purchase_of_services": "政府购买服务"}
MAX_SUGGESTED = 400  # catalogue names offered in the matter's <datalist>: the page stays small
MAX_FILE_NAME = 200
DRAIN_LIMIT = 16 * MAX_FORM  # an upload over the limit but under this is read to its end before the 413
PAGE = 50  # decisions per page of 我的申请
SHOWN_COMMUNITIES = 5  # community names listed per decision on 我的申请; the rest are counted
# A field's name on the form: an engine message (`field.path: …`, in English) is shown after it.
FIELDS = {"id": "申请编号", "city": "城市", "date": "申请日期", "department": "申请部门", "kind": "事项类型",
          "matter": "事项名称", "communities": "目标社区", "funding": "经费", "personnel": "下派人员",
          "basis": "法律依据"}
TEXT_FIELDS = ("id", "department", "level", "role", "city", "date", "kind", "matter", "amount", "source",
               "document", "funding_kind", "personnel", "basis")


class Problem(InputError):
    """A form field that cannot be used; the message is Chinese and names the field (422)."""


# -- 准入申请 ------------------------------------------------------------------------------------
@router.get("/apply")
def apply_form(request: Request):
    account = require(request, state(request).accounts, "department", "admin")
    values = {"department": account.scope if account.role == "department" else "",
              "city": _last_city(request, account), "date": today_in_china().isoformat(), "kind": "task",
              "level": "district", "role": "department", "funding_kind": "funds"}
    return _form_page(request, account, values)


@router.post("/apply")
async def apply(request: Request):
    account = require(request, state(request).accounts, "department", "admin")
    # The body is read only when its size is known and within the form's limit: a chunked
    # upload of unknown size would otherwise be spooled to disk whole before any check.
    length = request.headers.get("content-length", "")
    if not length.isdigit():
        return error_page(request, 411, InputError("附件:提交未说明大小(Content-Length),请用本页的表单提交。"))
    if int(length) > MAX_FORM:
        if int(length) <= DRAIN_LIMIT:  # read and dropped: a browser cut off mid-upload shows a reset, not this page
            async for _chunk in request.stream():
                pass
        return error_page(request, 413, InputError(
            f"附件:文件过大(本次提交 {_size(int(length))}),附件连同表单不能超过 {_size(MAX_FORM)}。"
            "请压缩后,或只附经费文件的关键页,重新提交。本次未办理,未记入日志。"))
    fields = await form(request)  # the CSRF token first (403): nothing is done for a forged form
    posted = await request.form()  # the same parsed form (cached): its file and repeated fields
    values = {k: fields.get(k, "").strip() for k in TEXT_FIELDS}
    if account.role == "department":  # shown, not editable; what is posted is still checked (may_file)
        values["department"] = values["department"] or account.scope or ""
    picked = [v for v in posted.getlist("community") if isinstance(v, str)]
    streets = [v for v in posted.getlist("street") if isinstance(v, str)]
    upload = posted.get("attachment")
    if isinstance(upload, str) or (upload is not None and not upload.filename):  # no file chosen: an empty part
        upload = None
    zhunru = state(request).zhunru
    try:
        raw, funding = await run_in_threadpool(_request, zhunru, values, picked, streets)
        attachments = [await _attachment(upload, funding)] if upload is not None else []
        shown = await run_in_threadpool(decide_request, zhunru, raw, True, "zh", account, attachments)
    except InputError as exc:
        if status_of(exc) != 422:  # another department's name (403), the log down (503): the error page
            raise
        return await run_in_threadpool(_form_page, request, account, values, picked=set(picked),
                                       streets=set(streets), status=422, problem=_chinese(exc),
                                       had_file=upload is not None)
    return RedirectResponse(f"/decisions/{shown['decision_id']}", status_code=303)


def _form_page(request: Request, account, values: dict, picked: set = frozenset(), streets: set = frozenset(),
               status: int = 200, problem: str | None = None, had_file: bool = False):
    from zhunru.office.registry import CommunityRegistry

    zhunru = state(request).zhunru
    if account.role == "department":  # its own name, whatever a forged form said
        values = {**values, "department": account.scope or ""}
    rows = CommunityRegistry(zhunru.log).list()  # not closed: it is the service's own log
    groups: dict[str, dict[str, list]] = {}
    for row in rows:
        groups.setdefault(row.district, {}).setdefault(row.street, []).append(row)
    return page(request, "apply.html.j2", status=status, v=values, problem=problem, had_file=had_file,
                fixed_department=account.role == "department", cities=city_options(zhunru.rulesets),
                suggested=_catalogue(zhunru, values.get("city"), values.get("date")), groups=groups,
                picked=picked, streets=streets, street_value=_street_value, levels=LEVELS,
                department_roles=DEPARTMENT_ROLES, funding_kinds=FUNDING_KINDS, max_file=_size(MAX_FORM))


def _request(zhunru, values: dict, picked: list[str], streets: list[str]) -> tuple[dict, dict | None]:
    """The contract's Request from the form's fields, and its funding (or None). A field the
    engine cannot take raises `Problem` naming it in Chinese; the engine checks the rest."""
    if not values["department"]:
        raise Problem("申请部门:请填写部门全称,例如“七星关区应急管理局”。")
    if not values["city"]:
        raise Problem("城市:请选择城市。")
    try:
        date = dt.date.fromisoformat(values["date"])
    except ValueError:
        raise Problem(f"申请日期:“{values['date'][:20]}”不是有效日期,请按 2026-05-01 的格式填写。") from None
    if not values["matter"]:
        raise Problem("事项名称:请填写要交给社区的事项,例如“社区防汛物资清点”。")
    communities = _communities(zhunru, picked, streets)
    funding = _funding(values)
    personnel = _plain(values["personnel"]) or "0"
    if not re.fullmatch(r"[0-9]{1,6}", personnel):
        raise Problem(f"下派人员:“{values['personnel'][:20]}”不是人数,请填写 0 或正整数。")
    raw = {"id": values["id"] or f"web-{date:%Y%m%d}-{secrets.token_hex(4)}", "city": values["city"],
           "date": date.isoformat(),
           "department": {"name": values["department"], "level": values["level"] or "district",
                          "role": values["role"] or "department"},
           "kind": values["kind"], "matter": values["matter"], "communities": communities,
           "personnel": int(personnel)}
    if funding:
        raw["funding"] = funding
    if values["basis"]:
        raw["basis"] = values["basis"]
    return raw, funding


def _communities(zhunru, picked: list[str], streets: list[str]) -> list[dict]:
    """Ticked communities by registry code, and `all` of each ticked street (its district too:
    two districts may each have a street of the same name)."""
    from zhunru.office.registry import CommunityRegistry

    out = []
    for value in streets:
        try:
            district, street = json.loads(value)
            out.append({"name": "all", "district": str(district), "street": str(street)})
        except (ValueError, TypeError):
            raise Problem("目标社区:所选街道无法识别,请刷新页面后重新选择。") from None
    registry = {row.code: row for row in CommunityRegistry(zhunru.log).list()} if picked else {}  # one query
    for code in dict.fromkeys(picked):
        row = registry.get(code)
        if row is None:
            raise Problem(f"目标社区:社区名册中没有编码为“{code[:40]}”的社区,请刷新页面后重新选择。")
        out.append({"code": row.code, "name": row.name})
    if not out:
        raise Problem("目标社区:请至少选择一个社区,或选择整个街道。")
    return out


def _plain(text: str) -> str:
    """Full-width digits and commas (５００００, 5，000) as typed on a Chinese keyboard, made plain."""
    return unicodedata.normalize("NFKC", text).strip()


def _funding(values: dict) -> dict | None:
    amount, source, document = values["amount"], values["source"], values["document"]
    if not (amount or source or document):
        return None
    number = _plain(amount).replace(",", "")
    if not re.fullmatch(r"[0-9]{1,16}(\.[0-9]{1,2})?", number):
        raise Problem(f"经费金额:“{amount[:20]}”不是金额,请填写以元为单位的数字,最多两位小数,例如 50000。")
    if not source:
        raise Problem("经费来源:填写了经费,请写明来源,例如“区财政”。")
    funding = {"amount": str(Decimal(number)), "source": source, "kind": values["funding_kind"] or "funds"}
    if document:
        funding["document"] = document
    return funding


async def _attachment(upload, funding: dict | None) -> dict:
    """The uploaded file's record: its name, size and sha256 with the funding it documents (the
    shape of `zhunru evaluate --attach`; the bytes are not kept)."""
    digest, size = hashlib.sha256(), 0
    while block := await upload.read(1 << 20):
        digest.update(block)
        size += len(block)
    # a browser may send the client's full path (old Windows browsers): keep the file's own name
    name = PureWindowsPath(upload.filename).name.replace("/", "_")
    name = "".join(c for c in name if c.isprintable())[:MAX_FILE_NAME] or "attachment"
    return {"amount": funding["amount"] if funding else "0", "source": funding["source"] if funding else "attachment",
            "document": funding.get("document") if funding else None, "kind": "file", "path": name,
            "size": size, "sha256": digest.hexdigest()}


def _chinese(exc: InputError) -> str:
    """One line naming the field in Chinese: ours already do; an engine message gets the field's
    Chinese name in front (`matter: …` → `事项名称:matter: …`)."""
    message = str(exc).splitlines()[0] if str(exc) else "输入有误"
    if isinstance(exc, Problem):
        return message
    head = message.split(":", 1)[0].split(".", 1)[0].split("[", 1)[0]
    return f"{FIELDS.get(head, '输入')}有误:{message}"


def _catalogue(zhunru, city: str | None, day: str | None) -> list[tuple[str, str]]:
    """(name, what it is) for the city's catalogue in force on the day: the matter's suggestions."""
    try:
        on = dt.date.fromisoformat(day or "")
    except ValueError:
        on = today_in_china()
    try:
        book = zhunru.engine.book_for(zhunru.rulesets.city_id(city or ""), on)
    except (InputError, RulesetError):  # no city yet, or none in force that day: no suggestions
        return []
    found: dict[str, str] = {}
    for kind, entries in book.codes.items():
        for entry in entries.values():
            what = CATEGORIES.get(entry.list_name) or VERDICTS.get(entry.list_name) or (entry.list_name,)
            found.setdefault(entry.item.name, f"{KIND_LABELS.get(kind, kind)} · {what[0]}")
            if len(found) >= MAX_SUGGESTED:
                return list(found.items())
    return list(found.items())


def _street_value(district: str, street: str) -> str:
    return json.dumps([district, street], ensure_ascii=False)


def _last_city(request: Request, account) -> str:
    """The city of the department's last request (the city it files for), else the first city."""
    zhunru = state(request).zhunru
    if account.role == "department":
        with Session(zhunru.log.reader) as session:
            city = session.exec(select(LogEntry.city).where(LogEntry.department == account.scope,
                                                            LogEntry.entry_type == "decision")
                                .order_by(LogEntry.seq.desc()).limit(1)).first()
        if city:
            return city
    options = city_options(zhunru.rulesets)
    return options[0][0] if options else ""


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MiB" if n >= 1024 * 1024 else f"{max(1, n // 1024)} KiB"


# -- 我的申请 ------------------------------------------------------------------------------------
@router.get("/requests")
def requests(request: Request, department: str = "", before: str = ""):
    account = require(request, state(request).accounts, "department", "admin")
    if account.role == "department":
        department = account.scope or ""
    department = department.strip()[:200]
    if before and not (before.isdigit() and len(before) < 19):
        raise Problem("before:页码参数不是行号")
    log = state(request).zhunru.log
    query = select(LogEntry.seq, LogEntry.entry_id, LogEntry.request_id, LogEntry.created_at, LogEntry.request_date,
                   LogEntry.department, LogEntry.kind, LogEntry.outcome, LogEntry.request_json,
                   LogEntry.payload_json).where(LogEntry.entry_type == "decision")
    if department:
        query = query.where(LogEntry.department == department)
    if before:
        query = query.where(LogEntry.seq < int(before))
    with Session(log.reader) as session:
        rows = session.exec(query.order_by(LogEntry.seq.desc()).limit(PAGE + 1)).all()
        more, rows = len(rows) > PAGE, rows[:PAGE]
        ids = [r.entry_id for r in rows]
        acts = dict(session.exec(select(LogEntry.act_key, LogEntry.entry_type)
                                 .where(LogEntry.act_key.in_(ids))).all()) if ids else {}
    items = [_item(r, acts.get(r.entry_id)) for r in rows]
    kept = {"department": department} if account.role == "admin" and department else {}
    later = "/requests?" + urlencode({**kept, "before": rows[-1].seq}) if more else None
    return page(request, "requests.html.j2", items=items, department=department, later=later,
                paged=bool(before), admin=account.role == "admin")


def _item(row, act: str | None) -> dict:
    decision, filed = json.loads(row.payload_json), json.loads(row.request_json)
    names = [c.get("name", "") for c in filed.get("communities", [])]
    matter = decision.get("matter") or {}
    return {"decision_id": row.entry_id, "request_id": row.request_id, "date": row.request_date,
            "created_at": row.created_at, "department": row.department, "kind": row.kind,
            "matter": matter.get("name") or matter.get("code") or "", "outcome": row.outcome, "act": act,
            "communities": names[:SHOWN_COMMUNITIES], "more_communities": max(0, len(names) - SHOWN_COMMUNITIES)}
