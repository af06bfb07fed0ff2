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
import io
import json
from pathlib import Path

from zhunru.errors import InputError
from zhunru.log.matters import NO_DISTRICT, Matter, basis, in_range, matters_at, registry_rows
from zhunru.log.targets import published_seqs
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


def publication(store, district: str, start: dt.date | None = None, end: dt.date | None = None) -> dict:
    if not district.strip():
        raise InputError("--district: must not be empty")
    if start and end and start > end:
        raise InputError(f"--from: {start} is after --to {end}")
    registry = registry_rows(store)
    mine = [r for r in registry if r.get("district") == district]
    seqs = published_seqs(store, district, sorted({r["code"] for r in mine if r.get("code")}),
                          sorted({r["name"] for r in mine}), start, end, no_district=NO_DISTRICT)
    # The SQL finds the candidates by index; the registry decides each community's district
    # exactly as the notice and the report do (matters.enrich).
    chosen = [m for m in matters_at(store, seqs, registry)
              if m.in_effect and district in m.districts() and in_range(m, start, end)]
    chosen.sort(key=lambda m: (LIST_ORDER.index(m.list_name), m.request["date"], m.seq))
    rows = [dict(row(m, district), no=i) for i, m in enumerate(chosen, 1)]
    counts = {name: sum(1 for r in rows if r["list"] == name) for name in LIST_ORDER}
    return {"title": f"{district}社区工作事项准入清单", "district": district,
            "from": start.isoformat() if start else None, "to": end.isoformat() if end else None,
            "generated_at": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "rule": RULE, "counts": {k: v for k, v in counts.items() if v}, "total": len(rows), "items": rows}


def to_csv(pub: dict) -> str:
    """CSV text; write it with encoding utf-8-sig so Excel opens the Chinese correctly."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for r in pub["items"]:
        f, a = r["funding"], r["approval"] or {}
        writer.writerow([r["no"], r["list_label"], r["matter"], r["matter_code"] or "", r["kind_label"], r["department"],
                         "、".join(r["communities"]), r["date"], "; ".join(b["clause"] for b in r["basis"]),
                         "; ".join(b["source"] for b in r["basis"]), f["amount"] or "", f["source"] or "",
                         f["document"] or "", f["personnel"] or "", a.get("by") or "", a.get("at") or "",
                         r["decision_id"], r["request_id"], r["ruleset"]])
    return buffer.getvalue()


def to_html(pub: dict) -> str:
    from zhunru.office.templating import render

    groups = [(LIST_LABELS[name], [r for r in pub["items"] if r["list"] == name])
              for name in LIST_ORDER if pub["counts"].get(name)]
    return render("publication.html.j2", pub=pub, groups=groups)


def write(pub: dict, out_dir: Path, stem: str = "admitted") -> list[Path]:
    """CSV (UTF-8 with BOM), JSON and HTML into out_dir; returns the paths written."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = [out_dir / f"{stem}.csv", out_dir / f"{stem}.json", out_dir / f"{stem}.html"]
        paths[0].write_text(to_csv(pub), encoding="utf-8-sig", newline="")
        paths[1].write_text(json.dumps(pub, ensure_ascii=False, indent=2), encoding="utf-8")
        paths[2].write_text(to_html(pub), encoding="utf-8")
    except OSError as exc:
        raise InputError(f"--out: cannot write to {out_dir} ({exc.strerror})") from None
    return paths
