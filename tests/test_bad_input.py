"""Every bad request: exactly one line on stderr naming the field, exit 2, no traceback, and
nothing written to the log (its rows are counted before and after on the real SQLite file)."""
from __future__ import annotations

import json
import sqlite3

import pytest
from click.testing import CliRunner

from helpers import bijie_request, run_cli
from zhunru.cli import cli


def _json(**overrides) -> bytes:
    return json.dumps(bijie_request(**overrides), ensure_ascii=False).encode()


def _with_community(**fields) -> bytes:
    return _json(communities=[{"name": "洪山社区", "population": 8200, "households": 2900, **fields}])


GOOD = _json()
FUNDING = {"amount": 50000, "source": "区财政"}

# (id, file bytes, extra arguments, text the one error line must contain)
BAD = [
    ("malformed json", b'{"city": "bijie", ', [], "not valid JSON"),
    ("top-level array", b"[1, 2]", [], "request"),
    ("population many", _with_community(population="many"), [], "communities.0.population"),
    ("households negative", _with_community(households=-1), [], "communities.0.households"),
    ("personnel float", _json(personnel=1.5), [], "personnel"),
    ("personnel negative", _json(personnel=-1), [], "personnel"),
    ("amount true", _json(funding={**FUNDING, "amount": True}), [], "funding.amount"),
    ("amount text", _json(funding={**FUNDING, "amount": "lots"}), [], "funding.amount"),
    ("amount negative", _json(funding={**FUNDING, "amount": -1}), [], "funding.amount"),
    ("amount nan", GOOD[:-1] + b', "funding": {"amount": NaN, "source": "x"}}', [], "funding.amount"),
    ("amount huge", GOOD[:-1] + b', "funding": {"amount": 1e400, "source": "x"}}', [], "funding.amount"),
    ("funding without source", _json(funding={"amount": 5}), [], "funding.source"),
    ("unknown field", _json(colour="red"), [], "colour"),
    ("unknown nested field", _json(department={"name": "x", "rank": 1}), [], "department.rank"),
    ("missing department", json.dumps({k: v for k, v in bijie_request().items() if k != "department"}).encode(),
     [], "department"),
    ("unknown kind", _json(kind="party"), [], "kind"),
    ("unknown role", _json(department={"name": "x", "role": "boss"}), [], "department.role"),
    ("empty matter", _json(matter="  "), [], "matter"),
    ("date not iso", _json(date="01/05/2021"), [], "date"),
    ("date as number", _json(date=20210501), [], "date"),
    ("unknown city", _json(city="atlantis"), [], "city"),
    ("bijie before its ruleset", _json(date="2010-01-01"), [], "date"),
    ("guandu before its ruleset", _json(city="guandu", date="2015-06-01"), [], "date"),
    ("bad --as-of", GOOD, ["--as-of", "tomorrow"], "--as-of"),
    ("--as-of no version covers", GOOD, ["--as-of", "2010-01-01"], "date"),
    ("empty input", b"", [], "empty"),
    ("whitespace input", b" \n\t\n", [], "empty"),
    ("non-utf8", _json().decode().replace("bijie", "毕节").encode("gbk"), [], "request"),
    ("over the limit", b'{"matter": "' + b"x" * (1024 * 1024 + 10) + b'"}', [], "limit"),
]

BAD_BATCH = [
    ("batch one bad line", GOOD + b"\n" + GOOD.replace(b"2021-05-01", b"2021-05-02") + b"\n{oops\n", "line 3"),
    ("batch bad field on a line", GOOD + b"\n" + _json(personnel="two") + b"\n", "line 2: personnel"),
    ("batch unknown city", GOOD + b"\n" + _json(city="atlantis") + b"\n", "city"),
    ("batch no version", GOOD + b"\n" + _json(date="2010-01-01") + b"\n", "date"),
    ("batch blank", b"\n\n\n", "empty"),
    ("batch non-utf8", GOOD + b"\n\xff\xfe\n", "UTF-8"),
]


def count_rows(url: str) -> tuple[int, int]:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        return (conn.execute("SELECT count(*) FROM zhunru_log").fetchone()[0],
                conn.execute("SELECT count(*) FROM zhunru_attachment").fetchone()[0])


@pytest.fixture
def seeded(tmp_path, sqlite_url):
    """A log that already holds one decision with a funding attachment."""
    path = tmp_path / "good.json"
    path.write_bytes(_json(funding=FUNDING, id="seed"))
    result = CliRunner().invoke(cli, ["evaluate", str(path), "--db", sqlite_url])
    assert result.exit_code == 0, result.output
    assert count_rows(sqlite_url) == (1, 1)
    return sqlite_url


def assert_one_line(result_code: int, stdout: str, stderr: str, needle: str) -> None:
    lines = stderr.strip().splitlines()
    assert result_code == 2, (stdout, stderr)
    assert len(lines) == 1, stderr
    assert lines[0].startswith("zhunru: error: "), stderr
    assert needle in lines[0], stderr
    assert "Traceback" not in stderr + stdout
    assert stdout == ""


@pytest.mark.parametrize("name,data,args,needle", BAD, ids=[b[0] for b in BAD])
def test_bad_request_file(tmp_path, seeded, name, data, args, needle):
    path = tmp_path / "bad.json"
    path.write_bytes(data)
    result = CliRunner().invoke(cli, ["evaluate", str(path), "--db", seeded, *args])
    assert_one_line(result.exit_code, result.stdout, result.stderr, needle)
    assert count_rows(seeded) == (1, 1)


@pytest.mark.parametrize("name,data,args,needle", BAD[:8], ids=[b[0] for b in BAD[:8]])
def test_bad_request_stdin(seeded, name, data, args, needle):
    result = CliRunner().invoke(cli, ["evaluate", "-", "--db", seeded, *args], input=data)
    assert_one_line(result.exit_code, result.stdout, result.stderr, needle)
    assert count_rows(seeded) == (1, 1)


@pytest.mark.parametrize("name,data,needle", BAD_BATCH, ids=[b[0] for b in BAD_BATCH])
def test_bad_batch_logs_nothing(tmp_path, seeded, name, data, needle):
    path = tmp_path / "batch.jsonl"
    path.write_bytes(data)
    result = CliRunner().invoke(cli, ["evaluate", "--batch", str(path), "--db", seeded])
    assert_one_line(result.exit_code, result.stdout, result.stderr, needle)
    assert count_rows(seeded) == (1, 1)


def test_batch_over_the_input_limit(tmp_path, seeded):
    from zhunru.cli.common import MAX_INPUT_BYTES

    path = tmp_path / "huge.jsonl"
    with path.open("wb") as handle:  # sparse: refused by its size before a byte is read
        handle.truncate(MAX_INPUT_BYTES + 1)
    result = CliRunner().invoke(cli, ["evaluate", "--batch", str(path), "--db", seeded])
    assert_one_line(result.exit_code, result.stdout, result.stderr, "limit")
    assert count_rows(seeded) == (1, 1)


@pytest.mark.parametrize("args,needle", [
    (["--attach", "/nonexistent/appropriation.pdf"], "--attach"),
    (["--attach", "{doc}", "--no-log"], "--attach"),
    (["--fail-on", "maybe"], "--fail-on"),
    (["--format", "xml"], "--format"),
])
def test_bad_options(tmp_path, seeded, args, needle):
    doc = tmp_path / "doc.pdf"
    doc.write_bytes(b"%PDF")
    path = tmp_path / "good.json"
    path.write_bytes(_json(id="another"))
    args = [a.replace("{doc}", str(doc)) for a in args]
    result = CliRunner().invoke(cli, ["evaluate", str(path), "--db", seeded, *args])
    assert result.exit_code == 2, result.output
    assert needle in result.stderr and "Traceback" not in result.stderr
    assert count_rows(seeded) == (1, 1)


def test_missing_file(seeded, tmp_path):
    result = CliRunner().invoke(cli, ["evaluate", str(tmp_path / "nope.json"), "--db", seeded])
    assert_one_line(result.exit_code, result.stdout, result.stderr, "FILE")


# -- the real console script ---------------------------------------------------------------
SUBPROCESS = [
    ("malformed", b'{"city": ', "not valid JSON"),
    ("unknown city", _json(city="atlantis"), "city"),
    ("no version", _json(date="2010-01-01"), "date"),
    ("amount true", _json(funding={**FUNDING, "amount": True}), "funding.amount"),
    ("empty", b"", "empty"),
]


@pytest.mark.parametrize("name,data,needle", SUBPROCESS, ids=[s[0] for s in SUBPROCESS])
def test_console_script_bad_request(tmp_path, name, data, needle):
    db = tmp_path / "log.sqlite"
    result = run_cli("evaluate", "-", "--db", f"sqlite:///{db}", input=data.decode())
    assert_one_line(result.returncode, result.stdout, result.stderr, needle)
    assert not db.exists()  # not even an empty log was created


def test_console_script_bad_batch_line(tmp_path, seeded):
    path = tmp_path / "batch.jsonl"
    path.write_bytes(GOOD + b"\n" + _json(communities=[{"name": "x", "population": "many"}]) + b"\n")
    result = run_cli("evaluate", "--batch", str(path), "--db", seeded)
    assert_one_line(result.returncode, result.stdout, result.stderr, "line 2: communities.0.population")
    assert count_rows(seeded) == (1, 1)


def test_console_script_non_utf8(tmp_path, seeded):
    path = tmp_path / "gbk.json"
    path.write_bytes(_json(matter="社区矫正").decode().encode("gbk"))
    result = run_cli("evaluate", str(path), "--db", seeded)
    assert_one_line(result.returncode, result.stdout, result.stderr, "request")
    assert count_rows(seeded) == (1, 1)


# -- bad rulesets: `ruleset validate` exits 1 with one line per problem -------------------
def _ruleset_dir(tmp_path, text: str):
    city = tmp_path / "rs" / "testcity"
    city.mkdir(parents=True)
    (city / "2020.1.yaml").write_text(text, encoding="utf-8")
    return city / "2020.1.yaml"


@pytest.mark.parametrize("text,needle", [
    ("id: testcity\nversion: !!python/object/apply:os.system ['echo pwned']\n", "line 2"),
    ("id: testcity\nversion: [unclosed\n", "line"),
    ("- just\n- a list\n", "mapping"),
])
def test_bad_ruleset_yaml(tmp_path, capfd, text, needle):
    path = _ruleset_dir(tmp_path, text)
    result = CliRunner().invoke(cli, ["ruleset", "validate", str(path)])
    assert result.exit_code == 1, result.output
    assert needle in result.output, result.output
    assert "Traceback" not in result.output + result.stderr
    assert "pwned" not in capfd.readouterr().out


def test_python_tag_ruleset_subprocess(tmp_path):
    path = _ruleset_dir(tmp_path, "id: testcity\nversion: '1'\nnote: !!python/name:os.system\n")
    result = run_cli("ruleset", "validate", str(path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "line 3" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
