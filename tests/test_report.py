"""社区减负 burden report: counts per community and per district, funding share, before/after,
the SVG chart; on SQLite and PostgreSQL. The district's requests go to testville, the binding
reference city; an advisory Bijie admission (its rules are in 征求意见稿 annexes) counts nowhere."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import HONGSHAN, JH, QX, bijie_request, district_request, dump_dom, evaluate, run_cli, zhunru
from zhunru.office.report import BUCKETS, SERIES, funded_share, stacked_bars_svg

SVG = "{http://www.w3.org/2000/svg}"


def report(url, *args):
    result = zhunru("report", "--db", url, "--format", "json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def pick(rows, **keys):
    found = [r for r in rows if all(r[k] == v for k, v in keys.items())]
    assert len(found) == 1, (keys, rows)
    return found[0]


def numbers(row, *names):
    return {n: row[n] for n in names}


def test_counts_per_community_and_district(tour):
    url, _ = tour
    data = report(url)
    qx = pick(data["districts"], district=QX)
    assert numbers(qx, "communities", "duty", "assist", "commissioned", "nameplate", "certificate", "assessment",
                   "paperwork", "tasks", "total", "commissioned_funded", "commissioned_staffed_only", "refused",
                   "pending") == {"communities": 2, "duty": 1, "assist": 1, "commissioned": 2, "nameplate": 1,
                                  "certificate": 0, "assessment": 0, "paperwork": 0, "tasks": 4, "total": 5,
                                  "commissioned_funded": 1, "commissioned_staffed_only": 1, "refused": 2,
                                  "pending": 1}
    assert qx["funded_share"] == 0.5
    hongshan = pick(data["communities"], name="洪山社区")
    assert numbers(hongshan, "duty", "assist", "commissioned", "nameplate", "total", "refused", "pending") == \
        {"duty": 1, "assist": 1, "commissioned": 1, "nameplate": 1, "total": 4, "refused": 2, "pending": 0}
    assert hongshan["funded_share"] == 1.0 and hongshan["street"] == "市西街道"
    mayuan = pick(data["communities"], name="麻园社区")
    assert numbers(mayuan, "assist", "commissioned", "total", "commissioned_staffed_only", "refused", "pending") == \
        {"assist": 1, "commissioned": 2, "total": 3, "commissioned_staffed_only": 1, "refused": 1, "pending": 1}
    assert pick(data["districts"], district=JH)["total"] == 1
    # --district keeps only that district; the per-community sums never undercount the district.
    only = report(url, "--district", QX)
    assert [d["district"] for d in only["districts"]] == [QX]
    assert {c["name"] for c in only["communities"]} == {"洪山社区", "麻园社区"}
    for key in BUCKETS:
        assert sum(c[key] for c in only["communities"]) >= only["districts"][0][key]


def test_compare_two_periods(tour, tmp_path):
    url, _ = tour
    data = report(url, "--district", QX, "--compare", "2020-01-01..2020-12-31", "2021-01-01..",
                  "--out", tmp_path / "rep")
    assert data["kind"] == "compare"
    assert pick(data["before"]["communities"], name="洪山社区")["total"] == 1
    assert pick(data["after"]["communities"], name="洪山社区")["total"] == 3
    delta = pick(data["delta"]["communities"], name="洪山社区")
    assert numbers(delta, "duty", "assist", "commissioned", "nameplate", "total") == \
        {"duty": -1, "assist": 1, "commissioned": 1, "nameplate": 1, "total": 2}
    # 麻园 had nothing before: it appears on one side only and the delta counts from 0.
    assert pick(data["delta"]["communities"], name="麻园社区")["total"] == 3
    html = (tmp_path / "rep" / "report.html").read_text(encoding="utf-8")
    assert "<svg" in html and "之前" in html and "变化" in html and "洪山社区(前)" in html


def test_ruleset_compare(tmp_path):
    url = f"sqlite:///{tmp_path / 'log.sqlite'}"
    tianhe = {"name": "员村社区", "district": "天河区", "population": 9000}
    evaluate(url, bijie_request(id="old", city="guangzhou", date="2019-05-01", matter="调解民间纠纷",
                                communities=[tianhe]))
    for n in range(2):
        evaluate(url, bijie_request(id=f"new{n}", city="guangzhou", date=f"2022-0{n + 3}-01",
                                    matter="调解民间纠纷", communities=[tianhe]))
    data = report(url, "--ruleset-compare", "guangzhou@2016.1", "guangzhou@2021.1")
    assert (data["before"]["label"], data["after"]["label"]) == ("guangzhou@2016.1", "guangzhou@2021.1")
    assert pick(data["before"]["districts"], district="天河区")["duty"] == 1
    assert pick(data["after"]["districts"], district="天河区")["duty"] == 2
    assert pick(data["delta"]["districts"], district="天河区")["duty"] == 1


def test_paperwork_is_counted(tmp_path, testville):
    url = f"sqlite:///{tmp_path / 'log.sqlite'}"
    posting = evaluate(url, district_request(id="p", kind="posting", matter="公示", communities=[HONGSHAN]))
    assert (posting["outcome"], posting["advisory"]) == ("admitted", False)
    row = pick(report(url)["communities"], name="洪山社区")
    assert (row["posting"], row["paperwork"], row["total"], row["funded_share"]) == (1, 1, 1, None)


def test_an_advisory_bijie_admission_is_no_burden(tmp_path):
    """Bijie's 公示 rule is in 附件3 (征求意见稿): admitted, advisory, counted nowhere (it binds nobody)."""
    url = f"sqlite:///{tmp_path / 'log.sqlite'}"
    posting = evaluate(url, bijie_request(id="p", kind="posting", matter="公示", communities=[HONGSHAN]))
    assert (posting["outcome"], posting["advisory"]) == ("admitted", True)
    row = pick(report(url)["communities"], name="洪山社区")
    assert (row["posting"], row["paperwork"], row["total"]) == (0, 0, 0)


def test_html_report_in_chromium(tour, tmp_path):
    url, _ = tour
    out = tmp_path / "rep"
    result = zhunru("report", "--db", url, "--district", QX, "--out", out)
    assert result.exit_code == 0, result.output
    assert "洪山社区" in result.stdout and "50.0%" in result.stdout
    svg = ET.parse(out / "report.svg").getroot()
    assert [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "label"] == ["洪山社区", "麻园社区"]
    assert [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "total"] == ["4", "3"]
    assert json.loads((out / "report.json").read_text(encoding="utf-8"))["districts"][0]["total"] == 5
    from openpyxl import load_workbook

    sheet = load_workbook(out / "report.xlsx").active
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[0][:4] == ["区(县)", "街道", "社区", "履职事项"] and rows[1][0] == QX
    assert [r[2] for r in rows[2:]] == ["洪山社区", "麻园社区"]
    dom = dump_dom(out / "report.html", tmp_path)
    assert "<svg" in dom and 'class="community"' in dom and "麻园社区" in dom


def test_empty_log_reports_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'log.sqlite'}"
    missing = zhunru("report", "--db", f"sqlite:///{tmp_path / 'typo' / 'log.sqlite'}")  # no folders made
    assert missing.exit_code == 2 and "--db: no log at" in missing.output and not (tmp_path / "typo").exists()
    result = zhunru("report", "--db", url)
    assert result.exit_code == 0, result.output
    assert "empty" in result.stdout


@pytest.mark.parametrize("args, field", [
    (["--compare", "2021-01-01", "2021-02-01..2021-03-01"], "--compare"),
    (["--compare", "2021-05-01..2021-01-01", "2021-02-01.."], "--compare"),
    (["--compare", "2021-01-01..", "..2021-01-01", "--from", "2021-01-01"], "--from"),
    (["--compare", "2021-01-01..", "..2021-01-01", "--ruleset-compare", "bijie@2017.1", "bijie@2017.1"], "--compare"),
    (["--ruleset-compare", "bijie", "bijie@2017.1"], "--ruleset-compare"),
    (["--ruleset-compare", "bijie@1999.9", "bijie@2017.1"], "--ruleset-compare"),
    (["--from", "yesterday"], "--from"),
])
def test_bad_input_exits_2(tmp_path, args, field):
    result = run_cli("report", "--db", str(tmp_path / "log.sqlite"), *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert field in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# -- the chart function ------------------------------------------------------------------------
values = st.dictionaries(st.sampled_from([k for k, _ in SERIES]), st.integers(0, 500))
bars = st.lists(st.tuples(st.text(min_size=1, max_size=12), values), max_size=12)


def segments(svg: str) -> list[ET.Element]:
    return [r for r in ET.fromstring(svg).iter(f"{SVG}rect") if r.get("class") == "seg"]


@settings(max_examples=80, deadline=None)
@given(bars)
def test_chart_widths_are_proportional(data):
    svg = stacked_bars_svg(data, title="<&>")
    segs = segments(svg)  # parses: well-formed whatever the labels hold
    totals = [sum(v.values()) for _, v in data]
    biggest = max(totals, default=0)
    assert len(segs) == sum(1 for _, v in data for x in v.values() if x and biggest)
    area = 560 - 170 - 40
    per_bar: dict[str, float] = {}
    for s in segs:
        width, value = float(s.get("width")), int(s.get("data-value"))
        assert width > 0
        assert abs(width - area * value / biggest) < 0.01
        per_bar[s.get("y")] = per_bar.get(s.get("y"), 0) + width
    for width in per_bar.values():
        assert width <= area + 0.05  # no bar leaves the chart
    if biggest:
        assert max(per_bar.values()) == pytest.approx(area, abs=0.05)  # the largest fills it


def test_chart_escapes_labels():
    svg = stacked_bars_svg([("<b>社区</b>&", {"duty": 1})], title="t")
    assert "<b>" not in svg
    labels = [t.text for t in ET.fromstring(svg).iter(f"{SVG}text") if t.get("class") == "label"]
    assert labels == ["<b>社区</b>&"]


@given(st.integers(0, 10_000), st.integers(0, 10_000))
def test_funded_share_is_a_share(funded, extra):
    share = funded_share(funded, funded + extra)
    assert share is None if funded + extra == 0 else 0 <= share <= 1
