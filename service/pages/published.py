"""予以公布 (public, no login): a district's admitted list — every matter in effect for its
communities, with department, basis, funding and approval, and what was withdrawn — as a page
(200 rows at a time), CSV and XLSX. The same plan as `zhunru publish` (engine/office/publish.py)."""
from __future__ import annotations

import csv
import datetime as dt
import io
import tempfile
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, StreamingResponse
from starlette.background import BackgroundTask

from zhunru.errors import InputError
from zhunru.office import publish as publishing

from .common import page, state

router = APIRouter()
PAGE = 200


def _date(value: str | None, field: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{field}: {value[:20]!r} is not a date (YYYY-MM-DD)") from None


def districts(log) -> list[str]:
    """The districts a publication can be asked for: the registry's and those requests named."""
    from sqlalchemy import text

    found: set[str] = set()
    with log.reader.connect() as conn:
        for query in ("SELECT DISTINCT district FROM zhunru_target WHERE district IS NOT NULL",
                      "SELECT DISTINCT district FROM zhunru_community"):
            try:
                found.update(r[0] for r in conn.execute(text(query)))
            except Exception:  # noqa: BLE001 - no registry table in this database
                conn.rollback()
    return sorted(found)


def plan_for(request: Request, district: str | None, start: str | None, end: str | None):
    if not district or not district.strip():
        raise InputError("district: choose a district (区/县)")
    if len(district) > 200:
        raise InputError("district: at most 200 characters")
    return publishing.plan(state(request).zhunru.log, district.strip(), _date(start, "start"), _date(end, "end"))


@router.get("/published")
def published(request: Request, district: str | None = None, start: str | None = None, end: str | None = None,
              page_no: int = 1):
    log = state(request).zhunru.log
    choices = districts(log)
    if not district:
        return page(request, "published.html.j2", choices=choices, plan=None, rows=[], withdrawn=[])
    chosen = plan_for(request, district, start, end)
    pages = max(1, -(-len(chosen.order) // PAGE))
    page_no = min(max(1, page_no), pages)
    part = publishing.Plan(chosen.header, chosen.order[(page_no - 1) * PAGE:page_no * PAGE], chosen.withdrawn)
    rows = [dict(r, no=r["no"] + (page_no - 1) * PAGE) for r in publishing.items(log, part)]
    query = f"district={quote(district)}" + (f"&start={start}" if start else "") + (f"&end={end}" if end else "")
    return page(request, "published.html.j2", choices=choices, plan=chosen.header, rows=rows, query=query,
                withdrawn=publishing.withdrawals(log, chosen) if page_no == 1 else [], page_no=page_no, pages=pages,
                district=district, start=start or "", end=end or "")


def _filename(district: str, suffix: str) -> str:
    return f"inline; filename*=UTF-8''{quote(f'{district}准入清单.{suffix}')}"


@router.get("/published.csv")
def published_csv(request: Request, district: str | None = None, start: str | None = None, end: str | None = None):
    chosen = plan_for(request, district, start, end)
    log = state(request).zhunru.log

    def lines():  # streamed: memory does not grow with the list
        buffer = io.StringIO()
        table = csv.writer(buffer, lineterminator="\r\n")
        buffer.write("\ufeff")  # Excel reads UTF-8 with a BOM
        table.writerow(publishing.CSV_COLUMNS)
        for r in publishing.items(log, chosen):
            table.writerow(publishing.csv_row(r))
            if buffer.tell() > 64 * 1024:
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue().encode()

    return StreamingResponse(lines(), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": _filename(district, "csv")})


@router.get("/published.xlsx")
def published_xlsx(request: Request, district: str | None = None, start: str | None = None, end: str | None = None):
    chosen = plan_for(request, district, start, end)
    folder = tempfile.mkdtemp(prefix="zhunru-xlsx-")
    out = publishing.write_xlsx(state(request).zhunru.log, chosen, Path(folder) / "admitted.xlsx")

    def remove() -> None:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)

    return FileResponse(out, background=BackgroundTask(remove),
                        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": _filename(district, "xlsx")})
