"""The burden report (社区减负): what the communities carry, per community and per district.

Counted from the log's target rows (log/targets.py: one per decision and community, with the
state its act gave it), streamed and tallied per community: matters *in effect* (admitted by an
in-force ruleset or approved by the district body; matters.in_effect), by list — duty, assist, commissioned tasks; nameplates;
certificate duties; assessments; paperwork (meeting, ledger, report, posting). A matter sent to
several communities counts once for each community and once for its district. Beside them:
how many commissioned matters came with funding (费随事转), and how many requests were refused
or rejected and are pending. Before/after compares two date ranges (by request date) or the
decisions made under two ruleset versions.
"""
from __future__ import annotations

import datetime as dt
import itertools
import re
from collections import Counter
from collections.abc import Iterable

from markupsafe import escape

from zhunru.errors import InputError
from zhunru.log.matters import NO_DISTRICT, PAPERWORK, enricher, registry_rows
from zhunru.log.targets import rows_in

BUCKETS = ("duty", "assist", "commissioned", "nameplate", "certificate", "assessment", *PAPERWORK)
NUMBERS = (*BUCKETS, "tasks", "paperwork", "total", "commissioned_funded", "commissioned_staffed_only",
           "refused", "pending")
LABELS = {"duty": "履职事项", "assist": "协助事项", "commissioned": "委托事项", "nameplate": "挂牌",
          "certificate": "证明", "assessment": "考核评比", "meeting": "会议", "ledger": "台账", "report": "报表",
          "posting": "上墙", "paperwork": "会议台账报表上墙", "tasks": "工作事项合计", "total": "合计",
          "commissioned_funded": "委托事项附经费", "commissioned_staffed_only": "委托事项仅派人员",
          "funded_share": "委托事项附经费比例", "refused": "不予准入", "pending": "待审批"}
# The chart's stacks: the three lists, then everything else a community carries.
SERIES = (("duty", "#1f5fa8"), ("assist", "#4a90d9"), ("commissioned", "#d9822b"), ("nameplate", "#7a7a7a"),
          ("certificate", "#2e8b57"), ("assessment", "#9b59b6"), ("paperwork", "#c0392b"))
NO_COMMUNITY = "(未注明社区)"


def contribution(state: str, list_name: str, funded: bool, staffed: bool) -> dict[str, int]:
    """What one decision adds to the counts of each community it targets (targets.STATES)."""
    if state == "in_effect":
        out = {list_name: 1}
        if list_name == "commissioned":
            out["commissioned_funded"] = int(funded)
            out["commissioned_staffed_only"] = int(staffed and not funded)
        return out
    if state in ("refused", "rejected"):
        return {"refused": 1}
    return {"pending": 1} if state == "pending" else {}  # advisory: binds nobody, counts nowhere


def totals(tally: dict[str, int]) -> dict:
    out = dict.fromkeys(NUMBERS, 0)
    out.update(tally)
    out["tasks"] = out["duty"] + out["assist"] + out["commissioned"]
    out["paperwork"] = sum(out[k] for k in PAPERWORK)
    out["total"] = sum(out[k] for k in BUCKETS)
    out["funded_share"] = funded_share(out["commissioned_funded"], out["commissioned"])
    return out


def funded_share(funded: int, total: int) -> float | None:
    """The share of commissioned matters that came with funding, to 4 places; None when none."""
    return None if total == 0 else round(funded / total, 4)


def burden(target_rows: Iterable[dict], district: str | None = None, registry: list[dict] | None = None) -> dict:
    """Per district and per community, from the log's target rows in log order (targets.rows_in):
    a decision counts once for each community it names and once for each of their districts.
    Memory grows with the number of communities, not with the log. Registered communities
    with nothing admitted show as 0."""
    by_community: dict[tuple[str, str], Counter] = {}
    streets: dict[tuple[str, str], str | None] = {}
    for r in registry or []:
        key = (r.get("district") or NO_DISTRICT, r["name"])
        by_community.setdefault(key, Counter())
        streets[key] = r.get("street")
    by_district: dict[str, Counter] = {d: Counter() for d, _ in by_community}
    enrich = enricher(registry or [])
    for _seq, rows in itertools.groupby(target_rows, key=lambda r: r["decision_seq"]):
        rows = list(rows)
        first = rows[0]
        adds = contribution(first["state"], first["list_name"], bool(first["funded"]), bool(first["staffed"]))
        keys = {}
        for c in enrich([{"name": r["community_name"], "code": r["code"], "district": r["district"],
                           "street": r["street"]} for r in rows]):
            key = (c.get("district") or NO_DISTRICT, c["name"])
            keys[key] = c.get("street")
        for key, street in keys.items():
            by_community.setdefault(key, Counter()).update(adds)
            streets[key] = streets.get(key) or street
        for d in {k[0] for k in keys}:
            by_district.setdefault(d, Counter()).update(adds)
    if district is not None:
        by_district = {d: v for d, v in by_district.items() if d == district}
        by_community = {k: v for k, v in by_community.items() if k[0] == district}
    districts = [{"district": d, "communities": sum(1 for k in by_community if k[0] == d), **totals(tally)}
                 for d, tally in sorted(by_district.items())]
    communities = [{"district": d, "street": streets.get((d, n)), "name": n, **totals(tally)}
                   for (d, n), tally in sorted(by_community.items())]
    return {"districts": districts, "communities": communities}


def _check_range(start, end, name):
    if start and end and start > end:
        raise InputError(f"{name}: {start} is after {end}")


def report(store, district=None, start=None, end=None) -> dict:
    _check_range(start, end, "--from")
    return {"kind": "single", "district": district, "from": _iso(start), "to": _iso(end),
            "generated_at": _now(), **burden(rows_in(store, start, end), district, registry_rows(store))}


def parse_span(text: str, name: str = "--compare") -> tuple[dt.date | None, dt.date | None]:
    """`A..B` (either end may be left open: `..B`, `A..`), dates in ISO form."""
    start, sep, end = text.partition("..")
    if not sep:
        raise InputError(f"{name}: {text!r} is not a date range like 2021-01-01..2021-06-30")
    try:
        span = (dt.date.fromisoformat(start) if start else None, dt.date.fromisoformat(end) if end else None)
    except ValueError:
        raise InputError(f"{name}: {text!r} is not a date range like 2021-01-01..2021-06-30") from None
    _check_range(*span, name)
    return span


def compare(store, before: dict, after: dict, district=None) -> dict:
    """before/after: {"label", "start", "end"} (date ranges) or {"label", "ruleset"}."""
    registry = registry_rows(store)
    sides = {}
    for name, side in (("before", before), ("after", after)):
        if "ruleset" in side:
            chosen = rows_in(store, ruleset=side["ruleset"])
        else:
            chosen = rows_in(store, side["start"], side["end"])
        sides[name] = {"label": side["label"], **burden(chosen, district, registry)}
    return {"kind": "compare", "district": district, "generated_at": _now(), **sides,
            "delta": delta(sides["before"], sides["after"])}


def delta(before: dict, after: dict) -> dict:
    """after − before, per district and per community (missing on one side counts as 0)."""
    out = {}
    for level, key in (("districts", ("district",)), ("communities", ("district", "name"))):
        a = {tuple(r[k] for k in key): r for r in before[level]}
        b = {tuple(r[k] for k in key): r for r in after[level]}
        rows = []
        for ident in sorted(set(a) | set(b)):
            row = dict(zip(key, ident))
            for n in NUMBERS:
                row[n] = b.get(ident, {}).get(n, 0) - a.get(ident, {}).get(n, 0)
            rows.append(row)
        out[level] = rows
    return out


def check_ruleset_ref(ref: str) -> str:
    from zhunru.rulebook.loader import default_registry

    if "@" not in ref:
        raise InputError(f"--ruleset-compare: {ref!r} is not city@version (e.g. guangzhou@2016.1)")
    try:
        default_registry().by_ref(ref)
    except InputError as exc:
        raise InputError(f"--ruleset-compare: {exc}") from None
    return ref


def _iso(d):
    return d.isoformat() if d else None


def _now():
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


# -- the chart ---------------------------------------------------------------------------------
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(value) -> str:
    """Text for the standalone SVG (XML): escaped, and without characters XML 1.0 forbids
    (a control character in a community name would make the file unreadable)."""
    return str(escape(_NOT_XML.sub("", str(value))))


def stacked_bars_svg(bars: list[tuple[str, dict]], series=SERIES, title: str = "", width: int = 560) -> str:
    """A horizontal stacked bar chart as standalone SVG: one bar per (label, values), one
    segment per series key. Widths are proportional to the largest bar total."""
    label_w, right, bar_h, gap, top = 170, 40, 18, 8, 34
    area = width - label_w - right
    biggest = max((sum(max(v.get(k, 0), 0) for k, _ in series) for _, v in bars), default=0)
    legend_y = top + len(bars) * (bar_h + gap) + 10
    legend, x, y = [], 10.0, legend_y
    for key, colour in series:  # legend items, wrapped to the chart's width
        text_ = LABELS.get(key, key)
        item_w = 16 + 13 * len(text_) + 14
        if x + item_w > width and x > 10:
            x, y = 10.0, y + 18
        legend.append(f'<rect x="{x:.0f}" y="{y}" width="12" height="12" fill="{colour}"/>'
                      f'<text x="{x + 16:.0f}" y="{y + 11}">{_text(text_)}</text>')
        x += item_w
    height = y + 24
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
             f'<title>{_text(title)}</title>',
             f'<text x="{width / 2:.0f}" y="20" text-anchor="middle" font-size="14">{_text(title)}</text>']
    for i, (label, values) in enumerate(bars):
        y = top + i * (bar_h + gap)
        parts.append(f'<text class="label" x="{label_w - 6}" y="{y + 13}" text-anchor="end">{_text(label)}</text>')
        x, total = float(label_w), 0
        for key, colour in series:
            value = max(values.get(key, 0), 0)
            if value and biggest:
                w = area * value / biggest
                parts.append(f'<rect class="seg" data-key="{key}" data-value="{value}" x="{x:.2f}" y="{y}" '
                             f'width="{w:.2f}" height="{bar_h}" fill="{colour}"><title>{_text(label)} '
                             f'{_text(LABELS.get(key, key))} {value}</title></rect>')
                x += w
            total += value
        parts.append(f'<text class="total" x="{x + 4:.2f}" y="{y + 13}">{total}</text>')
    parts += legend
    parts.append("</svg>")
    return "".join(parts)


def chart(data: dict) -> str:
    """The report's chart: per community, or before/after pairs per community when comparing."""
    def name(r):
        return r["name"] if data.get("district") else f"{r['district']} {r['name']}"

    if data["kind"] == "single":
        bars = [(name(r), r) for r in data["communities"]]
        return stacked_bars_svg(bars, title="各社区准入事项负担")
    before = {(r["district"], r["name"]): r for r in data["before"]["communities"]}
    after = {(r["district"], r["name"]): r for r in data["after"]["communities"]}
    bars = []
    for key in sorted(set(before) | set(after)):
        label = name({"district": key[0], "name": key[1]})
        bars.append((f"{label}(前)", before.get(key, {})))
        bars.append((f"{label}(后)", after.get(key, {})))
    return stacked_bars_svg(bars, title=f"负担对比:{data['before']['label']} → {data['after']['label']}")


XLSX_COLUMNS = ("duty", "assist", "commissioned", "nameplate", "certificate", "assessment", "meeting", "ledger",
                "report", "posting", "total", "commissioned_funded", "commissioned_staffed_only", "funded_share",
                "refused", "pending")


def to_xlsx(data: dict) -> bytes:
    """The report as a workbook: a sheet per part (the report, or before, after and change),
    one row per district then per community; numbers as numbers, names always as text."""
    import io

    from openpyxl import Workbook

    from zhunru.office.publish import xlsx_cell

    book = Workbook(write_only=True)
    parts = ([("报告", data)] if data["kind"] == "single"
             else [("之前", data["before"]), ("之后", data["after"]), ("变化", data["delta"])])
    for title, part in parts:
        sheet = book.create_sheet(title)
        sheet.append([xlsx_cell(sheet, h) for h in ("区(县)", "街道", "社区", *(LABELS[c] for c in XLSX_COLUMNS))])
        for row in part["districts"]:
            sheet.append([xlsx_cell(sheet, row["district"]), None, None, *(row.get(c) for c in XLSX_COLUMNS)])
        for row in part["communities"]:
            sheet.append([xlsx_cell(sheet, row["district"]), xlsx_cell(sheet, row.get("street") or ""),
                          xlsx_cell(sheet, row["name"]), *(row.get(c) for c in XLSX_COLUMNS)])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def to_html(data: dict) -> str:
    from zhunru.office.templating import render

    columns = ("duty", "assist", "commissioned", "nameplate", "certificate", "assessment", "paperwork", "total",
               "commissioned_funded", "funded_share", "refused", "pending")
    return render("report.html.j2", data=data, svg=chart(data), columns=columns, labels=LABELS)
