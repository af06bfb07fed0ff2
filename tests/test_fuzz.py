"""Hostile input never produces a traceback.

Hypothesis throws random JSON and mutated valid requests at parse_request and at `evaluate`
(exit 0 or 2, never anything else), random YAML text and mutated shipped rulesets at
`ruleset validate` (exit 0 or 1); inputs over the size limits are refused up front; YAML alias
bombs and python tags are refused before anything is built. A single-byte change anywhere in a
stored value of the log is caught by `log verify`.
"""
from __future__ import annotations

import copy
import json
import re
import shutil
import sqlite3
import tempfile
import time
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from helpers import RULESETS, bijie_request, run_cli, write_json
from zhunru.rulebook import loaded as loader, safe_yaml
from zhunru.cli import cli
from zhunru.errors import InputError, RulesetError
from zhunru.decide.evaluate import MAX_REQUEST_BYTES, parse_request, parse_request_json

FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                                      HealthCheck.data_too_large])

json_scalars = st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.text(max_size=30)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=12), inner, max_size=5), max_leaves=20)
FIELDS = ["id", "city", "date", "department", "kind", "matter", "communities", "funding", "personnel", "basis",
          "unexpected"]


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from _paths(sub, (*prefix, key))
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            yield from _paths(sub, (*prefix, i))


@st.composite
def mutated_requests(draw):
    """A valid request with one part replaced, removed or added."""
    request = bijie_request(funding={"amount": 50000, "source": "区财政", "document": "七财发〔2021〕12号"}, id="fz")
    request = copy.deepcopy(request)
    paths = [p for p in _paths(request) if p]
    path = draw(st.sampled_from(paths))
    parent = request
    for key in path[:-1]:
        parent = parent[key]
    action = draw(st.sampled_from(["replace", "delete", "add"]))
    if action == "replace":
        parent[path[-1]] = draw(json_values)
    elif action == "delete":
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent[draw(st.sampled_from(FIELDS))] = draw(json_values)
    else:
        parent.append(draw(json_values))
    return request


requests = json_values | mutated_requests()


@FUZZ
@given(requests)
def test_parse_request_raises_only_input_error(data):
    try:
        parse_request(data)
    except InputError as exc:
        assert str(exc) and "\n" not in str(exc)


@FUZZ
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode)
       | mutated_requests().map(lambda r: json.dumps(r, ensure_ascii=False).encode()))
def test_parse_request_json_raises_only_input_error(raw):
    try:
        parse_request_json(raw)
    except InputError as exc:
        assert "\n" not in str(exc)


@settings(FUZZ, max_examples=60)
@given(requests)
def test_evaluate_exits_0_or_2(data):
    with tempfile.TemporaryDirectory() as tmp:
        path = write_json(Path(tmp) / "r.json", data)
        result = CliRunner().invoke(cli, ["evaluate", str(path), "--no-log", "--format", "json"])
    assert result.exit_code in (0, 2), (result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    if result.exit_code == 2:
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    else:
        assert json.loads(result.stdout)["outcome"] in ("admitted", "needs_approval", "rejected")


@settings(FUZZ, max_examples=30)
@given(st.lists(requests, min_size=1, max_size=5))
def test_evaluate_batch_exits_0_or_2_and_logs_nothing_on_2(batch):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "b.jsonl"
        path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in batch) + "\n", encoding="utf-8")
        db = Path(tmp) / "log.sqlite"
        result = CliRunner().invoke(cli, ["evaluate", "--batch", str(path), "--db", str(db), "--format", "json"])
        assert result.exit_code in (0, 2), (result.output, result.exception)
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
        if result.exit_code == 2:
            assert not db.exists() or _count(db) == 0, "a refused batch must log nothing"
        else:  # one decision printed per line, each logged (a repeated request id only once)
            decisions = [json.loads(line) for line in result.stdout.splitlines()]
            assert len(decisions) == len(batch), result.stdout
            assert all(d["outcome"] in ("admitted", "needs_approval", "rejected") for d in decisions)
            assert _count(db) == len({d["request_id"] for d in decisions})


def test_console_script_survives_hostile_requests(tmp_path):
    """The installed console script, on a handful of nasty inputs: exit 2, one line, no traceback."""
    nasty = [b"[" * 100000, b'{"a":' * 50000, b"\xff\xfe\x00", b"null", b'"\\ud800"',
             json.dumps(bijie_request(date="2021-02-30")).encode(),
             json.dumps(bijie_request(communities=[{"name": "x", "population": 1e400}])).encode()]
    for i, raw in enumerate(nasty):
        path = tmp_path / f"n{i}.json"
        path.write_bytes(raw)
        result = run_cli("evaluate", str(path), "--no-log")
        assert result.returncode == 2, (raw[:40], result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


# -- size limits ------------------------------------------------------------------------------
def test_request_over_the_size_limit_is_refused_up_front(tmp_path):
    big = bijie_request(basis="x" * 100, communities=[{"name": "社区" * 90}] * (MAX_REQUEST_BYTES // 500 + 10))
    path = write_json(tmp_path / "big.json", big)
    assert path.stat().st_size > MAX_REQUEST_BYTES
    result = run_cli("evaluate", str(path), "--no-log")
    assert result.returncode == 2 and "over the limit" in result.stderr, result.stderr


def test_ruleset_over_the_size_limit_is_refused_up_front(tmp_path):
    city = tmp_path / "big"
    city.mkdir()
    path = city / "2020.1.yaml"
    path.write_text("id: big\nnote: '" + "x" * (safe_yaml.MAX_RULESET_BYTES + 10) + "'\n", encoding="utf-8")
    with pytest.raises(RulesetError, match="over the limit"):
        loader.read_yaml(path)
    result = run_cli("ruleset", "validate", str(path))
    assert result.returncode == 1 and "over the limit" in result.stdout + result.stderr


# -- YAML alias bombs and python tags ---------------------------------------------------------
BILLION_LAUGHS = "\n".join(["a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]"]
                           + [f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)])
TAGS = ["!!python/object/apply:os.system ['echo pwned']", "!!python/name:os.system", "!!python/object/new:int [1]",
        "!!python/module:os", "!!binary aGVsbG8="]


@pytest.mark.parametrize("use_libyaml", [True, False])
def test_alias_bomb_refused_without_expansion(monkeypatch, use_libyaml):
    if not use_libyaml:
        monkeypatch.setattr(safe_yaml, "_CLoader", None)
    start = time.perf_counter()
    with pytest.raises(RulesetError, match="aliases"):
        loader.parse_yaml(BILLION_LAUGHS.encode(), "bomb.yaml")
    assert time.perf_counter() - start < 5  # not a timing claim: an expanded bomb never returns


@pytest.mark.parametrize("use_libyaml", [True, False])
@pytest.mark.parametrize("tag", TAGS[:4])
def test_python_tags_refused(monkeypatch, use_libyaml, tag, capfd):
    if not use_libyaml:
        monkeypatch.setattr(safe_yaml, "_CLoader", None)
    with pytest.raises(RulesetError, match="not allowed"):
        loader.parse_yaml(f"id: x\nversion: {tag}\n".encode(), "tag.yaml")
    assert "pwned" not in capfd.readouterr().out


def test_alias_bomb_through_validate(tmp_path):
    city = tmp_path / "bomb"
    city.mkdir()
    (city / "2020.1.yaml").write_text(BILLION_LAUGHS + "\n", encoding="utf-8")
    result = run_cli("ruleset", "validate", str(city / "2020.1.yaml"))
    assert result.returncode == 1 and "aliases" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


# -- ruleset YAML fuzz --------------------------------------------------------------------------
BIJIE = (RULESETS / "bijie" / "2017.1.yaml").read_text(encoding="utf-8")
yaml_tokens = st.sampled_from([":", "- ", "  ", "\n", "&a ", "*a", "!!python/name:os.system", "'", '"', "{", "}", "[",
                               "]", "null", "~", "2021-13-45", "-1", "1e999", "? ", "%YAML 1.1\n", "---\n", "\t", "#",
                               "|", ">", "id: ", "extends: ", "nope", "社区"])


@st.composite
def mutated_ruleset(draw):
    lines = BIJIE.splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["delete", "duplicate", "insert", "byte", "swap"]))
        if action == "delete":
            del lines[i]
        elif action == "duplicate":
            lines.insert(i, lines[i])
        elif action == "insert":
            lines.insert(i, draw(st.text(max_size=20)) + "\n")
        elif action == "byte":
            line = lines[i]
            j = draw(st.integers(0, max(len(line) - 1, 0)))
            lines[i] = line[:j] + draw(yaml_tokens) + line[j + 1:]
        else:
            k = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[k] = lines[k], lines[i]
        if not lines:
            lines = [""]
    return "".join(lines)


yaml_texts = (st.text(max_size=200) | st.lists(yaml_tokens | st.text(max_size=5), max_size=40).map("".join)
              | mutated_ruleset())


@pytest.fixture(scope="module")
def city_dir():
    tmp = Path(tempfile.mkdtemp())
    city = tmp / "bijie"
    shutil.copytree(RULESETS / "bijie" / "sources", city / "sources")
    shutil.copytree(RULESETS / "bijie" / "cases", city / "cases")  # so a valid mutation validates (exit 0)
    yield city
    shutil.rmtree(tmp)


@settings(FUZZ, max_examples=120)
@given(yaml_texts)
def test_validate_exits_0_or_1(city_dir, text):
    path = city_dir / "2017.1.yaml"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(cli, ["ruleset", "validate", str(path)])
    assert result.exit_code in (0, 1), (result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    if result.exit_code == 0:
        assert result.output.strip() == "1 file(s), 0 problem(s)", result.output
    else:  # one line per problem, each naming the file
        assert result.stdout.strip() and all(line.startswith(str(path)) for line in result.stdout.splitlines())
        assert re.search(r", [1-9][0-9]* problem\(s\)$", result.stderr.strip()), result.stderr


@settings(FUZZ, max_examples=150)
@given(st.binary(max_size=400) | yaml_texts.map(lambda t: t.encode("utf-8", "surrogatepass")))
@example(b"0000-00-00")  # found by this test: PyYAML's date constructor raised ValueError
@example(b"effective_from: 2021-02-30\n")
def test_parse_yaml_raises_only_ruleset_error(raw):
    try:
        loader.parse_yaml(raw, "fuzz.yaml")
    except RulesetError as exc:
        assert "\n" not in str(exc)


# -- log tampering: any single byte ---------------------------------------------------------------
COLUMNS = ["entry_id", "request_id", "created_at", "city", "ruleset", "ruleset_sha256", "outcome", "request_json",
           "payload_json", "prev_hash", "hash"]


def _count(db: Path) -> int:
    with closing(sqlite3.connect(db)) as conn:
        try:
            return conn.execute("SELECT count(*) FROM zhunru_log").fetchone()[0]
        except sqlite3.OperationalError:
            return 0


@pytest.fixture(scope="module")
def logged_db():
    tmp = Path(tempfile.mkdtemp())
    db = tmp / "log.sqlite"
    batch = tmp / "b.jsonl"
    batch.write_text("\n".join(json.dumps(bijie_request(
        id=f"t{i}", matter=["社区矫正", "入户经济普查", "招商引资"][i % 3],
        **({"funding": {"amount": 100 + i, "source": "区财政", "document": f"财{i}号"}} if i % 2 else {})),
        ensure_ascii=False) for i in range(6)) + "\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["evaluate", "--batch", str(batch), "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert _count(db) == 6
    yield db
    shutil.rmtree(tmp)


def _copy(source: Path, name: str) -> Path:
    """A fresh, complete copy (SQLite's backup API: the WAL's content included)."""
    target = source.with_name(f"{name}-{time.perf_counter_ns()}.sqlite")
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)
    return target


def _verify(db: Path) -> int:
    result = CliRunner().invoke(cli, ["log", "verify", "--db", str(db)])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydantic, on a value that is no longer text
@settings(FUZZ, max_examples=80)
@given(data=st.data())
def test_any_changed_byte_is_detected(logged_db, data):
    table = data.draw(st.sampled_from(["zhunru_log", "zhunru_attachment"]))
    db = _copy(logged_db, "tampered")
    with closing(sqlite3.connect(db)) as conn:
        if table == "zhunru_log":
            column = data.draw(st.sampled_from(COLUMNS))
            key = "seq"
        else:
            column = data.draw(st.sampled_from(["amount", "source", "document", "kind"]))
            key = "id"
        rows = conn.execute(f"SELECT {key}, {column} FROM {table} WHERE {column} IS NOT NULL ORDER BY {key}").fetchall()
        rowid, value = data.draw(st.sampled_from(rows))
        raw = bytearray(str(value).encode())
        pos = data.draw(st.integers(0, len(raw) - 1))
        new = data.draw(st.integers(0, 255).filter(lambda b: b != raw[pos]))
        raw[pos] = new
        try:
            changed = raw.decode("utf-8")
        except UnicodeDecodeError:  # no longer text: stored as the raw bytes
            changed = bytes(raw)
        conn.execute(f"UPDATE {table} SET {column} = ? WHERE {key} = ?", (changed, rowid))
        conn.commit()
    assert _verify(db) == 1, f"{table}.{column} row {rowid} byte {pos} → {new} not detected"


@settings(FUZZ, max_examples=20)
@given(data=st.data())
def test_deleted_or_reordered_rows_are_detected(logged_db, data):
    db = _copy(logged_db, "reordered")
    with closing(sqlite3.connect(db)) as conn:
        n = conn.execute("SELECT count(*) FROM zhunru_log").fetchone()[0]
        if data.draw(st.booleans()):
            seq = data.draw(st.integers(1, n))
            conn.execute("PRAGMA foreign_keys=OFF")
            conn.execute("DELETE FROM zhunru_log WHERE seq = ?", (seq,))
        else:
            a, b = data.draw(st.lists(st.integers(1, n), min_size=2, max_size=2, unique=True))
            conn.execute("UPDATE zhunru_log SET seq = -1 WHERE seq = ?", (a,))
            conn.execute("UPDATE zhunru_log SET seq = ? WHERE seq = ?", (a, b))
            conn.execute("UPDATE zhunru_log SET seq = ? WHERE seq = -1", (b,))
        conn.commit()
    assert _verify(db) == 1
