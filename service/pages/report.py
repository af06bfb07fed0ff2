"""社区减负 report (district office, auditor, admin): what each community and district carries —
tasks by list, plates, certificates, assessments, paperwork, the share of commissioned matters
that came with funding — with its chart; a before/after comparison of two periods. The same
numbers as `zhunru report` (engine/office/report.py), read from the log's target rows."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from zhunru.errors import InputError
from zhunru.office import report as reports

from ..auth import require
from .common import page, state
from .published import _date, districts

router = APIRouter()
COLUMNS = ("duty", "assist", "commissioned", "nameplate", "certificate", "assessment", "paperwork", "total",
           "funded_share", "refused", "pending")


def build(request: Request, district: str | None, start: str | None, end: str | None,
          before: str | None = None, after: str | None = None) -> dict:
    """The report (or the comparison of two periods A..B) an account may see: an approver's own district."""
    account = require(request, state(request).accounts, "approver", "admin", "auditor")
    if account.role == "approver":
        district = account.scope
    district = (district or "").strip() or None
    log = state(request).zhunru.log
    if before or after:
        if not (before and after):
            raise InputError("after: a comparison needs two periods, before and after (e.g. 2021-01-01..2021-06-30)")
        sides = []
        for name, span in (("before", before), ("after", after)):
            first, last = reports.parse_span(span, name)
            sides.append({"label": span, "start": first, "end": last})
        return reports.compare(log, *sides, district=district)
    return reports.report(log, district, _date(start, "start"), _date(end, "end"))


@router.get("/report")
def report_page(request: Request, district: str | None = None, start: str | None = None, end: str | None = None,
                before: str | None = None, after: str | None = None):
    data = build(request, district, start, end, before, after)
    return page(request, "report.html.j2", data=data, chart=Markup(reports.chart(data)),  # our own SVG, escaped inside
                columns=COLUMNS, labels=reports.LABELS, choices=districts(state(request).zhunru.log),
                values={"district": district or "", "start": start or "", "end": end or "",
                        "before": before or "", "after": after or ""})


@router.get("/report.xlsx")
def report_xlsx(request: Request, district: str | None = None, start: str | None = None, end: str | None = None,
                before: str | None = None, after: str | None = None):
    from fastapi.responses import Response

    from ..app import XLSX

    data = build(request, district, start, end, before, after)
    return Response(reports.to_xlsx(data), media_type=XLSX,
                    headers={"Content-Disposition": "attachment; filename*=UTF-8''%E5%87%8F%E8%B4%9F%E6%8A%A5%E5%91%8A.xlsx"})


@router.get("/report/print")
def report_print(request: Request, district: str | None = None, start: str | None = None, end: str | None = None,
                 before: str | None = None, after: str | None = None):
    """The self-contained report page (what `zhunru report --out` writes), to print or post."""
    return HTMLResponse(reports.to_html(build(request, district, start, end, before, after)))
