"""The community registry: CSV import (re-import updates, never duplicates), listing, and
requests naming their communities by name, code or `all` (issue 4)."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from helpers import COMMUNITIES_CSV, import_communities, make_request, registry_csv, run_cli, write_json
from zhunru.cli import cli
from zhunru.errors import InputError
from zhunru.office.registry import CommunityRegistry, parse_csv


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def listed(url, *extra):
    result = invoke("community", "list", "--format", "json", "--db", url, *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


# -- CSV validation: one line naming row and column -------------------------------------------
@pytest.mark.parametrize("text, message", [
    ("name,code,district,street,population\n", "row 1: missing column(s) households"),
    ("name,code,district,street,population,households,phone\n", "row 1: unknown column 'phone'"),
    ("name,code,district,street,population,households\n洪山社区,QX-1,七星关区,市西街道,八千,2900\n",
     "row 2, column population: '八千' is not a whole number"),
    ("name,code,district,street,population,households\n洪山社区,QX-1,七星关区,市西街道,8200,-5\n",
     "row 2, column households: '-5' is not a whole number"),
    ("name,code,district,street,population,households\na,QX-1,d,s,1,1\nb,,d,s,1,1\n", "row 3, column code: empty"),
    ("name,code,district,street,population,households\na,QX-1,d,s,1,1\n\nb,QX-1,d,s,1,1\n",
     "row 4, column code: 'QX-1' already on row 2"),
    ("name,code,district,street,population,households\na,QX-1,d,s,1\n", "row 2: 5 fields, expected 6"),
    ("name,code,district,street,population,households\nall,QX-1,d,s,1,1\n", "row 2, column name: 'all' is reserved"),
    ("name,code,district,street,population,households\n", "no communities"),
    ("", "empty file"),
])
def test_bad_csv_names_row_and_column(text, message):
    with pytest.raises(InputError) as err:
        parse_csv(text.encode())
    assert message in str(err.value)


def test_csv_from_a_spreadsheet_bom_gbk_and_thousands_separators():
    text = 'households,name,code,district,street,population\n"2,900",洪山社区,QX-001,七星关区,市西街道,8200\n'
    for raw in ((b"\xef\xbb\xbf" + text.encode()), text.encode("gbk")):
        rows = parse_csv(raw)
        assert rows == [{"name": "洪山社区", "code": "QX-001", "district": "七星关区", "street": "市西街道",
                         "population": 8200, "households": 2900}]
    assert parse_csv(b"name,code,district,street,population,households\na,c,d,s,,\n")[0]["population"] is None


def test_bad_csv_on_the_cli_is_one_line_exit_2_and_writes_nothing(tmp_path, db_url):
    good = "\n".join(COMMUNITIES_CSV.splitlines()[:3])
    bad = registry_csv(tmp_path, good + "\n东门社区,QX-003,七星关区,市东街道,3333,many\n")
    result = invoke("community", "import", bad, "--db", db_url)
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"zhunru: error: {bad}: row 4, column households: 'many' is not a whole number ≥ 0"]
    assert listed(db_url) == []  # the two good rows before it were not written either
    missing = invoke("community", "import", tmp_path / "nope.csv", "--db", db_url)
    assert missing.exit_code == 2 and "cannot read" in missing.output


# -- import and re-import ---------------------------------------------------------------------
def test_reimport_updates_by_code_and_never_duplicates(tmp_path, db_url):
    first = invoke("community", "import", registry_csv(tmp_path), "--db", db_url, "--format", "json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.output)["added"] == 4
    again = invoke("community", "import", registry_csv(tmp_path), "--db", db_url, "--format", "json")
    assert json.loads(again.output) | {"codes": None} == {"added": 0, "updated": 0, "unchanged": 4, "codes": None}
    changed = COMMUNITIES_CSV.replace("南关社区,QX-002,七星关区,市西街道,5100,1750", "南关社区,QX-002,七星关区,市西街道,5300,1800")
    changed += "新村社区,QX-004,七星关区,市东街道,900,300\n"
    third = invoke("community", "import", registry_csv(tmp_path, changed, "v2.csv"), "--db", db_url, "--format", "json")
    body = json.loads(third.output)
    assert (body["added"], body["updated"], body["unchanged"]) == (1, 1, 3)
    assert body["codes"] == {"added": ["QX-004"], "updated": ["QX-002"]}
    rows = listed(db_url)
    assert sorted(r["code"] for r in rows) == ["HH-001", "QX-001", "QX-002", "QX-003", "QX-004"]
    assert [(r["population"], r["households"]) for r in rows if r["code"] == "QX-002"] == [(5300, 1800)]
    assert [r["code"] for r in listed(db_url, "--street", "市西街道")] == ["QX-001", "QX-002"]
    assert [r["code"] for r in listed(db_url, "--district", "海湖区")] == ["HH-001"]
    text = invoke("community", "list", "--db", db_url, "--district", "七星关区")
    assert "洪山社区" in text.output and "共 4 个社区" in text.output


def test_import_as_a_subprocess(tmp_path, sqlite_url):
    done = run_cli("community", "import", str(registry_csv(tmp_path)), "--db", sqlite_url, "--lang", "en")
    assert done.returncode == 0, done.stderr
    assert "4 added" in done.stdout
    bad = run_cli("community", "import", str(registry_csv(tmp_path, "name,code\n", "bad.csv")), "--db", sqlite_url)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "missing column" in bad.stderr


# -- requests that name communities -----------------------------------------------------------
def evaluate(tmp_path, db_url, request, *extra):
    path = write_json(tmp_path / "request.json", request)
    return invoke("evaluate", path, "--format", "json", "--db", db_url, *extra)


def logged_communities(db_url, request_id):
    shown = invoke("log", "show", request_id, "--format", "json", "--db", db_url)
    assert shown.exit_code == 0, shown.output
    return [(c["code"], c["population"], c["households"]) for c in json.loads(shown.output)["request"]["communities"]]


def test_communities_by_name_code_and_all(tmp_path, db_url, testville):
    import_communities(tmp_path, db_url)
    request = make_request(id="by-street", matter="人口普查入户", funding={"amount": 26600, "source": "区财政"},
                                communities=[{"name": "all", "street": "市西街道"}, {"name": "QX-003"}])
    result = evaluate(tmp_path, db_url, request)
    assert result.exit_code == 0, result.output
    decision = json.loads(result.output)
    # 2 yuan per resident over 8200 + 5100 + 3333 residents
    assert decision["funding"]["required"] == 2 * (8200 + 5100 + 3333) == 33266
    assert decision["outcome"] == "rejected"
    assert logged_communities(db_url, "by-street") == [("QX-001", 8200, 2900), ("QX-002", 5100, 1750),
                                                      ("QX-003", 3333, 1111)]
    whole = make_request(id="by-district", matter="燃气安全入户宣传", funding={"amount": 1000, "source": "区财政"},
                              communities=[{"name": "all", "district": "七星关区"}, {"name": "南关社区"}])
    assert json.loads(evaluate(tmp_path, db_url, whole).output)["funding"]["required"] == 300 * (2900 + 1750 + 1111) / 100 == 17283
    assert [c[0] for c in logged_communities(db_url, "by-district")] == ["QX-003", "QX-001", "QX-002"]  # by district, street, code
    # the same name in two districts: narrowed by district, or an error listing the codes
    narrowed = make_request(id="narrowed", communities=[{"name": "洪山社区", "district": "海湖区"}])
    assert evaluate(tmp_path, db_url, narrowed).exit_code == 0
    assert logged_communities(db_url, "narrowed") == [("HH-001", 4000, 1500)]
    ambiguous = evaluate(tmp_path, db_url, make_request(id="amb", communities=[{"name": "洪山社区"}]))
    assert ambiguous.exit_code == 2
    assert "communities[0]: '洪山社区' names 2 communities: QX-001 (七星关区 市西街道), HH-001 (海湖区 洪山街道)" in ambiguous.output


def test_inline_numbers_are_used_as_given(tmp_path, db_url, testville):
    import_communities(tmp_path, db_url)
    request = make_request(id="inline", matter="人口普查入户", funding={"amount": 20, "source": "区财政"},
                                communities=[{"name": "不在名册的社区", "population": 10}])
    result = evaluate(tmp_path, db_url, request)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["outcome"] == "admitted"
    assert logged_communities(db_url, "inline") == [(None, 10, None)]


def test_unknown_community_is_exit_2_and_nothing_logged(tmp_path, db_url, testville):
    import_communities(tmp_path, db_url)
    cases = [([{"name": "QX-001"}, {"name": "不存在社区"}], "communities[1]: unknown community '不存在社区'"),
             ([{"name": "x", "code": "QX-999"}], "communities[0].code: unknown community code 'QX-999'"),
             ([{"name": "all", "street": "无此街道"}], "communities[0]: no community of 无此街道 in the registry"),
             ([{"name": "all"}], "communities[0]: 'all' needs a street or a district")]
    for communities, message in cases:
        result = evaluate(tmp_path, db_url, make_request(communities=communities))
        assert result.exit_code == 2, result.output
        assert result.output.strip() == f"zhunru: error: {message}" or result.output.startswith(f"zhunru: error: {message}")
        assert result.output.count("\n") == 1
    batch = tmp_path / "batch.jsonl"
    batch.write_text("\n".join(json.dumps(make_request(id=f"b{i}", communities=c), ensure_ascii=False)
                               for i, c in enumerate([[{"name": "QX-001"}], [{"name": "不存在社区"}]])), encoding="utf-8")
    result = invoke("evaluate", "--batch", batch, "--db", db_url)
    assert result.exit_code == 2 and "line 2: communities[0]: unknown community" in result.output
    # the log holds the import's registry entry and no decision
    assert invoke("log", "verify", "--db", db_url).output.strip().endswith("1 rows")
    assert [e["type"] for e in json.loads(invoke("log", "list", "--db", db_url, "--format", "json").output)] == [
        "registry_change"]


def test_all_without_a_registry_is_an_error(tmp_path, db_url, testville):
    result = evaluate(tmp_path, db_url, make_request(communities=[{"name": "all", "district": "七星关区"}]))
    assert result.exit_code == 2 and "'all' needs the community registry" in result.output
    # a name without numbers, and no registry yet: evaluated as given (nothing to check it against)
    plain = evaluate(tmp_path, db_url, make_request(id="plain", communities=[{"name": "某社区"}]))
    assert plain.exit_code == 0, plain.output
    assert json.loads(plain.output)["outcome"] == "needs_approval"
    assert logged_communities(db_url, "plain") == [(None, None, None)]


def test_registry_api_lookup_normalises_names(tmp_path, sqlite_url):
    registry = CommunityRegistry(sqlite_url)
    try:
        registry.import_csv(registry_csv(tmp_path))
        assert [r.code for r in registry.lookup("QX-003")] == ["QX-003"]
        assert [r.code for r in registry.lookup(" 东门 社区 ")] == ["QX-003"]  # spaces removed
        assert [r.code for r in registry.lookup("東門社區")] == ["QX-003"]  # traditional characters
        assert registry.count() == 4
    finally:
        registry.close()
