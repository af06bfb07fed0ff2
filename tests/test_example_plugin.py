"""The example third-party city plugin (examples/zhunru-city-example).

The slow test proves the issue's claim end to end: pip installs zhunru and the example into a
fresh virtual environment (no --system-site-packages, nothing editable), and the city plugs in
through the entry point alone. The fast tests check the example's data and rule in-process.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

from helpers import REPO
from zhunru.authoring.casetest import run_path
from zhunru.cli import cli
from zhunru.plugins import plugin_manager

EXAMPLE = REPO / "examples" / "zhunru-city-example"
EXAMPLE_RULESETS = EXAMPLE / "src" / "zhunru_city_example" / "rulesets"
BUILD_LITTER = shutil.ignore_patterns(".venv", ".git", "build", "dist", "*.egg-info", "__pycache__",
                                      ".hypothesis", "*.sqlite")


@pytest.fixture
def example_plugin():
    """The example module registered as a plugin for one test (as its entry point would)."""
    sys.path.insert(0, str(EXAMPLE / "src"))
    try:
        import zhunru_city_example
    finally:
        sys.path.remove(str(EXAMPLE / "src"))
    pm = plugin_manager()
    pm.register(zhunru_city_example, name="examplecity-test")
    try:
        yield zhunru_city_example
    finally:
        pm.unregister(name="examplecity-test")


def test_example_ruleset_validates():
    result = CliRunner().invoke(cli, ["ruleset", "validate", str(EXAMPLE_RULESETS)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "1 file(s), 0 problem(s)"


def test_example_cases_need_the_plugin_rule(example_plugin):
    with_rule = run_path(EXAMPLE_RULESETS)
    assert len(with_rule) == 5 and all(r.ok for r in with_rule), [r.failures for r in with_rule]


def test_without_the_plugin_its_rule_case_fails_showing_expected_and_actual():
    results = run_path(EXAMPLE_RULESETS)
    failed = [r for r in results if not r.ok]
    assert [r.case.name for r in failed] == ["the same without a basis is not accepted (plugin rule, 第六条)"]
    assert "outcome: expected 'rejected', actual 'needs_approval'" in failed[0].failures


def _venv_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZHUNRU_", "VIRTUAL_ENV", "PYTHON"))}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    return env


@pytest.mark.slow
def test_pip_installed_example_plugs_in_through_the_entry_point(tmp_path):
    # Copies, so the builds never write build/ or *.egg-info into the working tree.
    repo = tmp_path / "zhunru-src"
    shutil.copytree(REPO, repo, ignore=BUILD_LITTER)
    example = repo / "examples" / "zhunru-city-example"
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    env = _venv_env()
    pip = subprocess.run([str(bindir / "python"), "-m", "pip", "install", "-q", str(repo), str(example)],
                         capture_output=True, text=True, env=env, timeout=600)
    assert pip.returncode == 0, pip.stderr[-3000:]

    def zhunru(*args, stdin=None):
        return subprocess.run([str(bindir / "zhunru"), *args], input=stdin, capture_output=True, text=True,
                              env=env, cwd=tmp_path, timeout=300)

    # zhunru itself comes from the venv, not from the repo's editable install
    where = subprocess.run([str(bindir / "python"), "-c", "import zhunru, zhunru_city_example as m; "
                            "print(zhunru.__file__); print(m.RULESETS)"],
                           capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert where.returncode == 0, where.stderr
    zhunru_file, rulesets = where.stdout.splitlines()
    assert zhunru_file.startswith(str(venv)) and rulesets.startswith(str(venv))

    plugins = zhunru("plugins", "--format", "json")
    assert plugins.returncode == 0, plugins.stderr
    listed = json.loads(plugins.stdout)
    row = next(p for p in listed["plugins"] if p["name"] == "examplecity")
    assert row["distribution"] == "zhunru-city-example 0.1.0"
    assert row["hooks"] == ["zhunru_city_rules", "zhunru_ruleset_paths"]
    assert "examplecity" in listed["cities"] and "guangzhou" in listed["cities"]

    request = {"city": "examplecity", "date": "2024-06-01", "kind": "task", "matter": "垃圾分类督导",
               "department": {"name": "示例区某局", "level": "district"}, "communities": [{"name": "示例社区"}],
               "funding": {"amount": 20000, "source": "区财政", "document": "示财〔2024〕1号"}}
    decided = zhunru("evaluate", "-", "--format", "json", "--no-log", stdin=json.dumps(request, ensure_ascii=False))
    assert decided.returncode == 0, decided.stderr
    decision = json.loads(decided.stdout)
    assert decision["ruleset"]["id"] == "examplecity" and decision["outcome"] == "rejected"
    assert "examplecity@2024.1#EX-ADM-02" in [r["clause"] for r in decision["reasons"]]  # the plugin's rule

    request["basis"] = "示例市生活垃圾管理条例"
    decided = zhunru("evaluate", "-", "--format", "json", "--no-log", stdin=json.dumps(request, ensure_ascii=False))
    assert json.loads(decided.stdout)["outcome"] == "needs_approval", decided.stderr

    # the city's CI, run against the installed package: data valid, all cases (plugin rule included) pass
    validated = zhunru("ruleset", "validate", rulesets)
    assert validated.returncode == 0 and "1 file(s), 0 problem(s)" in validated.stdout, validated.stderr
    tested = zhunru("ruleset", "test", rulesets)
    assert tested.returncode == 0, tested.stdout
    assert "5 passed, 0 failed" in tested.stdout

    # `pip install . && zhunru serve --demo` serves the pages from the installed package (templates included)
    import re
    import socket
    import time
    import urllib.parse
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([str(bindir / "zhunru"), "serve", "--demo", "--port", str(port)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        first = server.stdout.readline() + server.stdout.readline()
        assert re.search(r"password for every account: demo-\w+", first), first
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                with urllib.request.urlopen(base + "/login", timeout=5) as response:
                    login = response.read().decode()
                break
            except OSError:
                time.sleep(0.1)
        assert "qxg-office" in login and "演示账号" in login
        query = urllib.parse.urlencode({"text": "居住证明", "city": "毕节"})
        with urllib.request.urlopen(f"{base}/certificates?{query}", timeout=30) as response:
            assert "社区不应出具此证明" in response.read().decode()
    finally:
        server.terminate()
        server.wait(timeout=30)
