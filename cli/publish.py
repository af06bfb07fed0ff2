"""`zhunru notice`, `zhunru publish`, `zhunru report`: what the district office hands out."""
from __future__ import annotations

import contextlib
import json
from pathlib import Path

import click

from zhunru.errors import InputError

from .common import CONTEXT, db_option, dump_json, parse_date


@contextlib.contextmanager
def _log(db_url):
    """The decision log, read only, closed afterwards (a PostgreSQL connection is not left to the GC)."""
    from zhunru.log.store import DecisionLog

    store = DecisionLog(db_url, read_only=True)
    try:
        yield store
    finally:
        store.close()


def _write(path: Path, text: str, option: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{option}: cannot write {path} ({exc.strerror})") from None


@click.command(context_settings=CONTEXT)
@click.argument("ident", metavar="ID")
@click.argument("file", required=False, metavar="[FILE]")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), help="Write the notice as HTML to FILE.html.")
@click.option("--pdf", "pdf", type=click.Path(dir_okay=False, path_type=Path),
              help="Also print it to FILE.pdf with headless Chromium; without Chromium, a printable "
                   "FILE.html is written beside it instead.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "html"]), default="text", show_default=True,
              help="What goes to standard output.")
@db_option
def notice(ident, file, out, pdf, fmt, db_url):
    """不予准入告知书: the refusal notice for a request, to hand the department.

    \b
    ID is a decision id, a request id, a log row number, or the id of the district body's
    refusal. A notice is given for a request the ruleset rejected, one the district body
    refused, and an off-list (commissioned) matter awaiting approval with neither funding nor
    staff attached. It cites every reason's clause and source, the ruleset id@version and
    its sha256, and the log row, and states that the community may decline the work
    (权随责走、费随事转).

    \b
    Examples:
      zhunru notice r-1a2b3c…                         # print it (Chinese)
      zhunru notice r-1a2b3c… --out notice.html       # one-page HTML with print CSS (A4)
      zhunru notice r-1a2b3c… --pdf notice.pdf        # PDF (headless Chromium; ZHUNRU_CHROMIUM)

    \b
    `zhunru notice verify FILE` checks a notice saved as HTML against the log: the decision is
    at the row it names with the hash it prints, under the ruleset it cites, and the log still
    gives grounds for it. Exit 0 when it holds, 1 naming what does not.

    \b
    Exit 2 for an unknown ID, or for an admitted, approved or funded-and-pending request.
    """
    from zhunru.office import notice as notices

    if ident == "verify" and file is not None:
        with _log(db_url) as store:
            claim, problem = notices.verify_file(store, file)
        if fmt == "json":
            click.echo(dump_json({"ok": problem is None, "problem": problem, **claim}))
        elif problem:
            click.echo(f"告知书不符 notice does not match the log: {problem}")
        else:
            click.echo(f"告知书属实 notice matches the log: decision {claim['decision_id']}, row {claim['seq']}")
        raise SystemExit(1 if problem else 0)
    if file is not None:
        raise InputError(f"FILE: only `zhunru notice verify FILE` takes a file (got {file!r} after {ident!r})")
    with _log(db_url) as store:
        data = notices.notice_data(store, ident)
    html = notices.to_html(data)
    if out is not None:
        _write(out, html, "--out")
    if pdf is not None:
        exe = notices.pdf_renderer()
        if exe is None:
            fallback = pdf.with_suffix(".html")
            _write(fallback, html, "--pdf")
            click.echo(f"zhunru: no PDF renderer (chromium) found; wrote printable HTML {fallback} instead "
                       "(open it and print; set ZHUNRU_CHROMIUM to a Chromium binary for PDF)", err=True)
        else:
            notices.write_pdf(html, pdf, exe)
    if fmt == "json":
        click.echo(dump_json(data))
    elif fmt == "html":
        click.echo(html)
    elif out is None and pdf is None:
        click.echo(notices.to_text(data))
    else:
        click.echo("已生成 written: " + ", ".join(str(p) for p in (out, pdf) if p is not None))


@click.command(context_settings=CONTEXT)
@click.option("--district", required=True, help="The district (区/县) whose communities' list is published.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Folder for admitted.csv, admitted.json and admitted.html.")
@click.option("--from", "start", metavar="DATE", help="Only requests dated on or after DATE.")
@click.option("--to", "end", metavar="DATE", help="Only requests dated on or before DATE.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="What goes to standard output: the paths written, or the publication as JSON.")
@click.option("--xlsx", is_flag=True, help="Also write admitted.xlsx (one sheet; text cells are never formulas).")
@db_option
def publish(district, out_dir, start, end, fmt, xlsx, db_url):
    """予以公布: write a district's admitted list as CSV, JSON and a web page.

    \b
    Published: every matter in effect for a community of the district — tasks on the duty
    and assist lists, commissioned matters the district body approved, and admitted
    nameplates, certificates, assessments, meetings, ledgers, reports and postings — with
    the department, the basis (clause and source), the funding attached (amount, source,
    document, staff) and the approval (by whom, when). Not published: rejected, refused or
    pending requests, and admissions under a proposal/draft ruleset not yet approved.
    A community belongs to a district by the request's "district" field or, failing that,
    the community registry.

    \b
    Files: admitted.csv (UTF-8 with BOM, opens in Excel), admitted.json, admitted.html
    (self-contained, lang zh-CN, no external assets: post it as is); with --xlsx also
    admitted.xlsx. Text that a spreadsheet would run as a formula (=, +, -, @ first) is
    written as text.

    \b
    Examples:
      zhunru publish --district 七星关区 --out site/2021
      zhunru publish --district 七星关区 --from 2021-01-01 --to 2021-12-31 --format json
    """
    from zhunru.office import publish as publishing

    first, last = parse_date(start, "--from"), parse_date(end, "--to")
    with _log(db_url) as store:
        chosen = publishing.plan(store, district, first, last)
        paths = publishing.write(store, chosen, out_dir)
        if xlsx:
            paths.append(publishing.write_xlsx(store, chosen, out_dir / "admitted.xlsx"))
    if fmt == "json":  # the JSON file just written, as it is
        with paths[1].open(encoding="utf-8") as written:
            for line in written:
                click.echo(line, nl=False)
        return
    click.echo(f"{chosen.header['title']}: {chosen.header['total']} 项 items")
    for p in paths:
        click.echo(f"  {p}")


@click.command(context_settings=CONTEXT)
@click.option("--district", help="Only this district (区/县).")
@click.option("--from", "start", metavar="DATE", help="Only requests dated on or after DATE.")
@click.option("--to", "end", metavar="DATE", help="Only requests dated on or before DATE.")
@click.option("--compare", "spans", nargs=2, metavar="A..B C..D",
              help="Before/after: two date ranges (request dates; an end may be open, e.g. 2022-01-01..).")
@click.option("--ruleset-compare", "refs", nargs=2, metavar="CITY@V1 CITY@V2",
              help="Before/after: decisions made under two ruleset versions.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Also write report.html (table and chart), report.json, report.svg and report.xlsx here.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@db_option
def report(district, start, end, spans, refs, out_dir, fmt, db_url):
    """社区减负: the burden on communities, per community and per district.

    \b
    Counts what is in effect (admitted by the ruleset or approved by the district body):
    tasks by list (duty 履职, assist 协助, commissioned 委托), nameplates, certificate duties,
    assessments, and paperwork (meetings, ledgers, reports, postings); the share of
    commissioned matters that came with funding (费随事转); refused and pending requests.
    A matter sent to several communities counts for each community, once for the district.

    \b
    Examples:
      zhunru report --district 七星关区
      zhunru report --from 2021-01-01 --to 2021-12-31 --format json
      zhunru report --compare 2021-01-01..2021-06-30 2021-07-01..2021-12-31 --out report/
      zhunru report --ruleset-compare guangzhou@2016.1 guangzhou@2021.1
    """
    from zhunru.office import report as reports

    if spans and refs:
        raise InputError("--compare: use either --compare or --ruleset-compare, not both")
    if (spans or refs) and (start or end):
        raise InputError("--from: a comparison names its own periods; leave out --from/--to")
    # Every option is checked before the log is opened.
    sides = None
    if spans:
        (a1, a2), (b1, b2) = (reports.parse_span(s) for s in spans)
        sides = ({"label": spans[0], "start": a1, "end": a2}, {"label": spans[1], "start": b1, "end": b2})
    elif refs:
        sides = tuple({"label": r, "ruleset": reports.check_ruleset_ref(r)} for r in refs)
    first, last = parse_date(start, "--from"), parse_date(end, "--to")
    with _log(db_url) as store:
        data = (reports.compare(store, *sides, district=district) if sides
                else reports.report(store, district, first, last))
    if out_dir is not None:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            (out_dir / "report.json").write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
            (out_dir / "report.svg").write_text(reports.chart(data), encoding="utf-8")
            (out_dir / "report.html").write_text(reports.to_html(data), encoding="utf-8")
            (out_dir / "report.xlsx").write_bytes(reports.to_xlsx(data))
        except OSError as exc:
            raise InputError(f"--out: cannot write to {out_dir} ({exc.strerror})") from None
    if fmt == "json":
        click.echo(dump_json(data))
    else:
        click.echo(_report_text(data, reports.LABELS))


TEXT_COLUMNS = ("duty", "assist", "commissioned", "nameplate", "certificate", "assessment", "paperwork", "total",
                "funded_share", "refused", "pending")


def _table(part: dict, labels: dict, signed: bool = False) -> list[str]:
    def fmt(row, c):
        if c == "funded_share":
            return "" if signed else ("—" if row[c] is None else f"{row[c] * 100:.1f}%")
        return f"{row[c]:+d}" if signed else str(row[c])

    head = "\t".join(labels[c] for c in TEXT_COLUMNS)
    lines = [f"区县 district\t{head}"]
    lines += [f"{r['district']}\t" + "\t".join(fmt(r, c) for c in TEXT_COLUMNS) for r in part["districts"]]
    lines += ["", f"社区 community\t{head}"]
    lines += [f"{r['district']} {r['name']}\t" + "\t".join(fmt(r, c) for c in TEXT_COLUMNS) for r in part["communities"]]
    return lines


def _report_text(data: dict, labels: dict) -> str:
    if data["kind"] == "single":
        lines = ["社区工作负担报告 burden report" + (f" — {data['district']}" if data["district"] else "")]
        lines += _table(data, labels)
    else:
        lines = [f"负担对比 before/after: {data['before']['label']} → {data['after']['label']}", "", "之前 before:"]
        lines += _table(data["before"], labels) + ["", "之后 after:"] + _table(data["after"], labels)
        lines += ["", "变化 change (after − before):"] + _table(data["delta"], labels, signed=True)
    if not data.get("districts", data.get("after", {}).get("districts")) and data["kind"] == "single":
        lines.append("(空 empty: no decisions in the log for this scope)")
    return "\n".join(lines)


COMMANDS = [notice, publish, report]
