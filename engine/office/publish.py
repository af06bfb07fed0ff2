"""予以公布: the admitted list of one district, as CSV, JSON and a self-contained HTML page.

What is published (the district body's standing list of what its communities carry):
every matter *in effect* (matters.Matter.in_effect) for at least one community of the
district — tasks admitted on the duty or assist list, commissioned matters the district body
approved, and nameplates, certificates, assessments and paperwork a ruleset admitted. Refused,
rejected and pending matters are not published, nor admissions under a proposal/draft
ruleset (advisory) that the body has not approved. Each row names the matter, the department,
the basis (clause and source), the funding the department attached, and the approval.
"""
from __future__ import annotations

import csv
import datetime as dt
import itertools
import json
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from zhunru.errors import InputError
from zhunru.log.matters import NO_DISTRICT, Matter, basis, enricher, matters_at, registry_rows
from zhunru.log.targets import published_rows
from zhunru.messages import CATEGORIES

KIND_LABELS = {"task": "工作事项", "nameplate": "挂牌", "certificate": "证明", "assessment": "评比考核检查",
               "meeting": "会议", "ledger": "台账", "report": "报表", "posting": "上墙"}
LIST_LABELS = {"duty": CATEGORIES["duty"][0], "assist": CATEGORIES["assist"][0],
               "commissioned": "经审批的委托事项", **{k: v for k, v in KIND_LABELS.items() if k != "task"}}
LIST_ORDER = ("duty", "assist", "commissioned", "nameplate", "certificate", "assessment",
              "meeting", "ledger", "report", "posting")
RULE = ("公布范围:本区社区依法履行职责事项、依法协助政府工作事项、经区(县)社区工作领导协调机构审批的委托事项,"
        "以及经准入的挂牌、证明、评比考核检查、会议、台账、报表、上墙事项。未经准入、审批中或不予准入的事项不在此列;"
        "依据建议案或草案作出、尚未经审批的准入决定不予公布。")
CSV_COLUMNS = ("序号", "清单", "事项", "事项编码", "类型", "提出部门", "社区", "申请日期", "依据条款", "依据来源",
               "经费金额(元)", "经费来源", "经费文件", "下派人员", "审批人", "审批时间", "决定编号", "申请编号", "规则集")


def _money(amount) -> str | None:
    return None if amount is None else f"{amount:.2f}"


def row(m: Matter, district: str) -> dict:
    f = m.funding
    act = m.act if m.status == "approved" else None
    return {
        "list": m.list_name, "list_label": LIST_LABELS[m.list_name],
        "matter": m.decision["matter"]["name"], "matter_code": m.decision["matter"].get("code"),
        "kind": m.kind, "kind_label": KIND_LABELS[m.kind],
        "department": m.request["department"]["name"],
        "communities": [c["name"] for c in m.communities_in(district)],
        "date": m.request["date"], "basis": basis(m.decision),
        "funding": {"amount": _money(f["amount"]), "source": f["source"], "document": f["document"],
                    "personnel": f["personnel"]},
        "approval": {"by": act.get("by"), "at": act.get("at"), "note": act.get("note")} if act else None,
        "decision_id": m.entry_id, "request_id": m.request_id, "ruleset": m.ruleset,
        "ruleset_sha256": m.ruleset_sha256,
    }


@dataclass
class Plan:
    """What a publication holds, found from the log's target rows alone (pass 1): its header
    and the log rows of its items in publication order. Small: three values per item."""

    header: dict
    order: list[tuple[int, str, int]]  # (list's place in LIST_ORDER, request date, log row)
    withdrawn: list[int]  # log rows of the decisions withdrawn (撤销) since they were in effect


def plan(store, district: str, start: dt.date | None = None, end: dt.date | None = None) -> Plan:
    """Pass 1: every decision in effect for a community of `district` (by the request's own
    district, else the registry: matters.enrich, exactly as the notice and the report), by
    index over the target rows, without loading a decision."""
    if not district.strip():
        raise InputError("--district: must not be empty")
    if start and end and start > end:
        raise InputError(f"--from: {start} is after --to {end}")
    registry = registry_rows(store)
    order = sorted(_decisions_in(store, district, registry, start, end, "in_effect"))
    withdrawn = [seq for _place, _date, seq in _decisions_in(store, district, registry, start, end, "withdrawn")]
    counts = {name: 0 for name in LIST_ORDER}
    for place, _date, _seq in order:
        counts[LIST_ORDER[place]] += 1
    header = {"title": f"{district}社区工作事项准入清单", "district": district,
              "from": start.isoformat() if start else None, "to": end.isoformat() if end else None,
              "generated_at": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
              "rule": RULE, "counts": {k: v for k, v in counts.items() if v}, "total": len(order),
              "withdrawn": len(withdrawn), "checkpoint": _checkpoint(store)}
    return Plan(header, order, withdrawn)


def _checkpoint(store) -> dict | None:
    """The latest signed checkpoint of the log: printed with the list, it lets a reader prove
    later that the log behind it was not rewritten (zhunru log verify --against)."""
    found = store.latest_checkpoint()
    return found.as_dict() if found else None


def _decisions_in(store, district: str, registry: list[dict], start, end, state: str) -> list[tuple[int, str, int]]:
    """(list's place, request date, log row) of each decision in `state` for a community of
    `district` (by the request's own district, else the registry's)."""
    mine = [r for r in registry if r.get("district") == district]
    enrich = enricher(registry)
    found = []
    candidates = published_rows(store, district, sorted({r["code"] for r in mine if r.get("code")}),
                                sorted({r["name"] for r in mine}), start, end, no_district=NO_DISTRICT, state=state)
    for seq, rows in itertools.groupby(candidates, key=lambda r: r["decision_seq"]):
        rows = list(rows)
        places = enrich([{"name": r["community_name"], "code": r["code"], "district": r["district"]} for r in rows])
        if any((c.get("district") or NO_DISTRICT) == district for c in places):
            found.append((LIST_ORDER.index(rows[0]["list_name"]), rows[0]["request_date"], seq))
    return found


def withdrawals(store, chosen: Plan) -> list[dict]:
    """The withdrawn matters of the publication's district: what was in effect and no longer is."""
    district = chosen.header["district"]
    out = []
    for m in matters_at(store, chosen.withdrawn):
        w = m.withdrawal or {}
        out.append({"matter": m.decision["matter"]["name"], "kind_label": KIND_LABELS[m.kind],
                    "department": m.request["department"]["name"],
                    "communities": [c["name"] for c in m.communities_in(district)], "date": m.request["date"],
                    "withdrawn_at": w.get("at"), "by": w.get("by"), "note": w.get("note"),
                    "decision_id": m.entry_id, "request_id": m.request_id})
    return out


def items(store, chosen: Plan) -> Iterator[dict]:
    """Pass 2: the publication's rows, numbered, in order, 500 decisions fetched at a time."""
    district = chosen.header["district"]
    matters = matters_at(store, (seq for _place, _date, seq in chosen.order))
    for no, m in enumerate(matters, 1):
        yield dict(row(m, district), no=no)


def spreadsheet_safe(cell):
    """A text cell a spreadsheet would run as a formula (=, +, -, @, or a tab or carriage
    return first) is written with a leading apostrophe: shown as text, never evaluated."""
    if isinstance(cell, str) and cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + cell
    return cell


def csv_row(r: dict) -> list:
    """A publication row for CSV: every text a spreadsheet could run is neutralised."""
    return [spreadsheet_safe(c) for c in csv_row_raw(r)]


def csv_row_raw(r: dict) -> list:
    f, a = r["funding"], r["approval"] or {}
    cells = [r["no"], r["list_label"], r["matter"], r["matter_code"] or "", r["kind_label"], r["department"],
             "、".join(r["communities"]), r["date"], "; ".join(b["clause"] for b in r["basis"]),
             "; ".join(b["source"] for b in r["basis"]), f["amount"] or "", f["source"] or "",
             f["document"] or "", f["personnel"] or "", a.get("by") or "", a.get("at") or "",
             r["decision_id"], r["request_id"], r["ruleset"]]
    return cells


def xlsx_cell(sheet, value):
    """A cell for openpyxl's write-only sheet. Text is always stored as text (never a formula,
    whatever it begins with: openpyxl would otherwise write "=…" as one); numbers as numbers."""
    from openpyxl.cell import WriteOnlyCell

    if isinstance(value, str):
        value = "".join(c for c in value if c in "\t\n" or ord(c) >= 32)  # XML forbids other controls
        cell = WriteOnlyCell(sheet, value=value)
        cell.data_type = "s"
        return cell
    return WriteOnlyCell(sheet, value=value)


def write_xlsx(store, chosen: Plan, out: Path) -> Path:
    """The publication as one XLSX sheet (what offices open), rows streamed as they are read."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(chosen.header["district"][:31] or "admitted")
    sheet.append([xlsx_cell(sheet, chosen.header["title"])])
    sheet.append([xlsx_cell(sheet, c) for c in CSV_COLUMNS])
    for r in items(store, chosen):
        cells = csv_row_raw(r)
        if cells[10]:
            cells[10] = float(cells[10])  # the amount, as a number a sum can use
        sheet.append([xlsx_cell(sheet, c) for c in cells])
    try:
        book.save(out)
    except OSError as exc:
        raise InputError(f"--out: cannot write {out} ({exc.strerror})") from None
    return out


def write(store, chosen: Plan, out_dir: Path, stem: str = "admitted") -> list[Path]:
    """CSV (UTF-8 with BOM), JSON and HTML into out_dir, written together as the rows are
    read (memory does not grow with the publication); returns the paths written."""
    from zhunru.office.templating import environment

    paths = [out_dir / f"{stem}.csv", out_dir / f"{stem}.json", out_dir / f"{stem}.html"]
    header = chosen.header
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with paths[0].open("w", encoding="utf-8-sig", newline="") as csv_file, \
                paths[1].open("w", encoding="utf-8") as json_file, paths[2].open("w", encoding="utf-8") as html_file:
            table = csv.writer(csv_file, lineterminator="\r\n")
            table.writerow(CSV_COLUMNS)
            json_file.write(json.dumps(header, ensure_ascii=False, indent=2)[:-2] + ',\n  "items": [')

            def rows() -> Iterator[dict]:  # each row to the CSV and the JSON as the page takes it
                for r in items(store, chosen):
                    table.writerow(csv_row(r))
                    json_file.write(("\n" if r["no"] == 1 else ",\n")
                                    + textwrap.indent(json.dumps(r, ensure_ascii=False, indent=2), "    "))
                    yield r

            stream = rows()
            groups = ((LIST_LABELS[name], header["counts"][name], group)
                      for name, group in itertools.groupby(stream, key=lambda r: r["list"]))
            withdrawn = withdrawals(store, chosen)  # few: read before the page needs them
            for chunk in environment().get_template("publication.html.j2").generate(
                    pub=header, groups=groups, withdrawals=withdrawn):
                html_file.write(chunk)
            for _rest in stream:  # nothing is left unless the page stopped early
                pass
            json_file.write(("\n  ]" if header["total"] else "]") + ',\n  "withdrawals": '
                            + textwrap.indent(json.dumps(withdrawn, ensure_ascii=False, indent=2), "  ").lstrip()
                            + "\n}\n")
    except OSError as exc:
        raise InputError(f"--out: cannot write to {out_dir} ({exc.strerror})") from None
    return paths
