"""Batch requests from a spreadsheet (准入申请批量导入): one request per row of an XLSX file in
the layout of `template()`, turned into the contract's request dicts; each problem is one line
naming the row and column. The requests are then decided like any list: all are checked before
anything is logged (zhunru.Zhunru.decide)."""
from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal, InvalidOperation

from zhunru.errors import InputError
from zhunru.kinds import KINDS
from zhunru.office.spreadsheet import column_name, xlsx_rows

# (key, header shown in the template, required, example)
COLUMNS = (
    ("id", "申请编号", False, "qx-2026-001"),
    ("city", "城市", True, "毕节"),
    ("date", "申请日期", True, "2026-05-01"),
    ("department", "提出部门", True, "七星关区应急管理局"),
    ("level", "部门层级", False, "区县"),
    ("kind", "类型", True, "工作事项"),
    ("matter", "事项", True, "社区应急演练组织"),
    ("communities", "社区", True, "QX-001、QX-002 或 全部:市西街道"),
    ("amount", "经费金额(元)", False, 30000),
    ("source", "经费来源", False, "区财政"),
    ("document", "经费文号", False, "七财发〔2026〕21号"),
    ("personnel", "下派人员", False, 0),
    ("basis", "法律依据", False, ""),
)
KIND_NAMES = {"工作事项": "task", "任务": "task", "挂牌": "nameplate", "证明": "certificate", "评比考核检查": "assessment",
              "考核": "assessment", "评比": "assessment", "检查": "assessment", "会议": "meeting", "台账": "ledger",
              "报表": "report", "上墙": "posting"}
LEVELS = {"市": "city", "市级": "city", "city": "city", "区县": "district", "区(县)": "district", "区": "district",
          "县": "district", "district": "district", "街道": "street", "street": "street"}
SEPARATORS = ("、", ",", ",", ";", ";", "\n")
ALL = ("全部:", "全部:", "all:")


def template() -> bytes:
    """The XLSX template offices fill in: the header row and one example row."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "准入申请"
    sheet.append([header for _key, header, _required, _example in COLUMNS])
    sheet.append([example for _key, _header, _required, example in COLUMNS])
    for i, (_key, header, _required, _example) in enumerate(COLUMNS):
        sheet.column_dimensions[column_name(i)].width = max(12, len(header) * 2 + 4)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def requests_from_xlsx(raw: bytes, where: str = "FILE") -> list[tuple[str, dict]]:
    """(label "row N", request dict) for every filled row after the header."""
    rows = xlsx_rows(raw, where)
    try:
        _number, header = next(rows)
    except StopIteration:
        raise InputError(f"{where}: empty sheet") from None
    names = {h: key for key, h, _r, _e in COLUMNS} | {key: key for key, *_ in COLUMNS}
    keys = [names.get(str(h).strip()) if h is not None else None for h in header]
    missing = [h for key, h, required, _e in COLUMNS if required and key not in keys]
    if missing:
        raise InputError(f"{where}: row 1: missing column(s) {'、'.join(missing)} (download the template)")
    out = []
    for number, values in rows:
        cells = {key: values[i] if i < len(values) else None for i, key in enumerate(keys) if key}
        place = {key: column_name(i) for i, key in enumerate(keys) if key}
        out.append((f"row {number}", _request(cells, number, place)))
    if not out:
        raise InputError(f"{where}: no requests (only a header)")
    return out


def _request(cells: dict, row: int, place: dict) -> dict:
    def bad(key: str, message: str) -> InputError:
        return InputError(f"row {row}, column {place.get(key, key)} ({key}): {message}")

    def text(key: str, required: bool = False) -> str | None:
        value = cells.get(key)
        if value is None or value == "":
            if required:
                raise bad(key, "empty")
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return str(value).strip()

    date = cells.get("date")
    if isinstance(date, (dt.date, dt.datetime)):
        date = date.isoformat()[:10]
    else:
        date = text("date", True)
    kind = text("kind", True)
    kind = KIND_NAMES.get(kind, kind)
    if kind not in KINDS:
        raise bad("kind", f"{kind!r} is not a kind ({'、'.join(sorted(set(KIND_NAMES)))})")
    level = text("level") or "district"
    if level not in LEVELS:
        raise bad("level", f"{level!r} is not 市、区县 or 街道")
    request = {"city": text("city", True), "date": date, "kind": kind, "matter": text("matter", True),
               "department": {"name": text("department", True), "level": LEVELS[level]},
               "communities": _communities(text("communities", True), bad)}
    if text("id"):
        request["id"] = text("id")
    amount = cells.get("amount")
    if amount not in (None, ""):
        try:
            value = Decimal(str(amount).replace(",", "").strip())
        except InvalidOperation:
            raise bad("amount", f"{amount!r} is not an amount in yuan") from None
        if not value.is_finite() or value < 0 or value > Decimal("1e15"):
            raise bad("amount", f"{amount!r} is not an amount in yuan")
        request["funding"] = {"amount": float(value), "source": text("source") or "未注明",
                              **({"document": text("document")} if text("document") else {})}
    personnel = cells.get("personnel")
    if personnel not in (None, "", 0):
        if isinstance(personnel, float) and personnel.is_integer():
            personnel = int(personnel)
        if not isinstance(personnel, int) or not 0 <= personnel <= 100_000:
            raise bad("personnel", f"{personnel!r} is not a number of people")
        request["personnel"] = personnel
    if text("basis"):
        request["basis"] = text("basis")
    return request


def _communities(value: str, bad) -> list[dict]:
    for prefix in ALL:
        if value.startswith(prefix):
            street = value[len(prefix):].strip()
            if not street:
                raise bad("communities", "全部: needs a street (全部:市西街道)")
            return [{"name": "all", "street": street}]
    for sep in SEPARATORS[1:]:
        value = value.replace(sep, SEPARATORS[0])
    names = [v.strip() for v in value.split(SEPARATORS[0]) if v.strip()]
    if len(names) > 10_000:
        raise bad("communities", "more than 10000 communities")
    # a registry code (letters, digits, dashes) is a code; anything else a name
    return [{"code": n} if n.isascii() and n.replace("-", "").isalnum() else {"name": n} for n in names]
