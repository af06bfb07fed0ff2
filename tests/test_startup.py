"""Start-up hygiene (what is imported and loaded, not how long it takes): the command line
imports only click until a command runs; `cert check` needs no database, no progress bars and
only the city asked for (and its parents); rulesets are parsed city by city."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import pytest

PROBE = """
import json, sys
from zhunru.cli import main
heavy = {heavy!r}
before = sorted(m for m in heavy if m in sys.modules)
sys.argv = ['zhunru', *{args!r}]
code = None
try:
    main()
except SystemExit as exc:
    code = exc.code
after = sorted(m for m in heavy if m in sys.modules)
loaded = []
if 'zhunru.rulebook.loader' in after:
    from zhunru.rulebook import loader
    if loader.default_registry.cache_info().currsize:
        loaded = sorted(loader.default_registry()._loaded)
print('PROBE ' + json.dumps({{'code': code, 'before': before, 'after': after, 'loaded': loaded}}), file=sys.stderr)
"""
HEAVY = ["pydantic", "yaml", "sqlalchemy", "sqlmodel", "psycopg", "durable", "rich", "opencc", "zhunru.decide.evaluate",
         "zhunru.rulebook.loader", "zhunru.log.store"]


def probe(*args: str, cache: str | None = None) -> dict:
    # A fresh ruleset cache unless given: a warm one would answer `cert check` without the engine.
    env = {**os.environ, "ZHUNRU_CACHE_DIR": cache or tempfile.mkdtemp(prefix="zhunru-probe-")}
    result = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY, args=list(args))], capture_output=True,
                            text=True, env=env, timeout=120)
    lines = [line for line in result.stderr.splitlines() if line.startswith("PROBE ")]
    assert lines, result.stderr
    return json.loads(lines[-1][len("PROBE "):])


def test_importing_the_cli_imports_only_click():
    code = "import sys, zhunru.cli; print(sorted(m for m in %r if m in sys.modules))" % HEAVY
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_help_loads_no_engine():
    found = probe("--help")
    assert found["code"] == 0
    assert found["after"] == [], found


@pytest.mark.parametrize("city,expected", [("bijie", ["bijie", "national"]), ("national", ["national"]),
                                           ("guangzhou", ["guangzhou", "national"])])
def test_cert_check_loads_only_its_city(city, expected):
    found = probe("cert", "check", "亲属关系证明", "--city", city, "--as-of", "2021-06-01")
    assert found["code"] == 0, found
    assert found["loaded"] == expected
    for heavy in ("sqlalchemy", "sqlmodel", "psycopg", "zhunru.log.store", "rich"):
        assert heavy not in found["after"], found


def test_a_second_cert_check_needs_no_pydantic_and_no_ruleset_loading(tmp_path):
    args = ("cert", "check", "亲属关系证明", "--city", "bijie", "--as-of", "2021-06-01")
    first = probe(*args, cache=str(tmp_path))
    assert "pydantic" in first["after"] and first["loaded"] == ["bijie", "national"]
    second = probe(*args, cache=str(tmp_path))
    assert second["code"] == 0, second
    assert not {"pydantic", "yaml", "zhunru.rulebook.loader", "zhunru.decide.evaluate", "sqlalchemy"} & set(second["after"]), second


def test_evaluate_no_log_needs_no_database(tmp_path):
    request = tmp_path / "r.json"
    request.write_text(json.dumps({"city": "tianjiaan", "date": "2019-01-01", "kind": "task", "matter": "社区矫正",
                                   "department": {"name": "区司法局"}}, ensure_ascii=False), encoding="utf-8")
    found = probe("evaluate", str(request), "--no-log")
    assert found["code"] == 0, found
    assert found["loaded"] == ["national", "tianjiaan"]
    assert not {"sqlalchemy", "sqlmodel", "psycopg", "zhunru.log.store"} & set(found["after"]), found


def test_probe_sees_a_database_command():
    # the probes above can fail: a logging command does import the database layer
    found = probe("log", "verify", "--db", "sqlite:///:memory:")
    assert {"sqlalchemy", "zhunru.log.store"} <= set(found["after"]), found
