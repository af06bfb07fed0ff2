"""The README's district-office tour, run as written, on SQLite and on PostgreSQL.

The ```sh block under "## The district office's workflow" is taken from README.md and each line
is run with `bash -euo pipefail` as the real `zhunru` script (the venv's bin first on PATH), in a
temporary folder holding a copy of examples/, so the README cannot drift from what works.

The database: the tour's own first line `export ZHUNRU_DB=sqlite:///$PWD/zhunru.sqlite` is kept
for SQLite (it lands in the temporary folder). For PostgreSQL that one line is dropped and
ZHUNRU_DB is set in the environment to the `pg_url` fixture (a fresh schema); every other line
runs unchanged. Lines run one per bash process; `export` lines are carried into the following
ones, as they would be in one shell.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import REPO

SECTION = "## The district office's workflow"
EXPORT_DB = "export ZHUNRU_DB="


def tour_lines() -> list[str]:
    """The command lines of the section's ```sh block (blank lines and comment lines left out)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert SECTION in text, f"README.md has no section {SECTION!r}"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, f"no ```sh block under {SECTION!r}"
    lines = [line for line in block.group(1).splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert sum(line.startswith(EXPORT_DB) for line in lines) == 1, "the tour should set ZHUNRU_DB once"
    return lines


def run_tour(lines: list[str], cwd: Path, env: dict) -> dict[str, str]:
    """Run each line; fail naming the line that failed. Returns line → its standard output."""
    exports: list[str] = []
    outputs: dict[str, str] = {}
    for line in lines:
        script = "\n".join([*exports, line])
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, (f"README tour line failed (exit {done.returncode}): {line}\n"
                                      f"stdout: {done.stdout[-2000:]}\nstderr: {done.stderr[-2000:]}")
        assert "Traceback" not in done.stderr, done.stderr
        if line.startswith("export "):
            exports.append(line)
        outputs[line] = done.stdout
    return outputs


def output_of(outputs: dict[str, str], command: str) -> str:
    words = command.split()
    found = [out for line, out in outputs.items() if line.split("#")[0].split()[:len(words)] == words]
    assert len(found) == 1, f"the tour should run `{command}` once"
    return found[0]


@pytest.mark.slow  # every line of the tour as its own bash process: ~25 s per backend
@pytest.mark.parametrize("backend", ["sqlite", "pg"])
def test_readme_district_tour(backend, tmp_path, request):
    lines = tour_lines()
    shutil.copytree(REPO / "examples", tmp_path / "examples",
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    env = {**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
           # were ZHUNRU_DB ever unset, the default log would go here, never to the real user directory
           "XDG_DATA_HOME": str(tmp_path / "data")}
    for name in ("ZHUNRU_DB", "ZHUNRU_LANG", "ZHUNRU_CITY"):
        env.pop(name, None)
    if backend == "pg":
        env["ZHUNRU_DB"] = request.getfixturevalue("pg_url")
        lines = [line for line in lines if not line.startswith(EXPORT_DB)]

    outputs = run_tour(lines, tmp_path, env)

    # the log went where the tour says: the SQLite file in the working folder, or the PostgreSQL schema
    assert (tmp_path / "zhunru.sqlite").exists() == (backend == "sqlite")
    assert not (tmp_path / "data").exists()

    # before approve/refuse all three off-list tasks wait: Bijie's lists are partial, so even the
    # unfunded survey is not refused for its absence (the office refuses it below, 费随事转)
    queue = output_of(outputs, "zhunru queue")
    assert "qx-2021-007" in queue and "qx-2021-008" in queue and "qx-2021-009" in queue
    survey = output_of(outputs, "zhunru evaluate examples/district/survey.json")
    assert "结论: 须经审批" in survey and "未附经费或人员" in survey

    # an off-list task rests on the opinions text's 应按程序报批 (in force, not one of the draft annexes):
    # binding, and it waits for the office; the approval is what puts the drill in effect
    drill = output_of(outputs, "zhunru evaluate examples/district/drill.json")
    assert "结论: 须经审批" in drill and "BJ-ADM-02" in drill and "仅供参考" not in drill
    admitted = (tmp_path / "site" / "admitted.html").read_text(encoding="utf-8")
    assert "社区应急演练组织" in admitted  # approved
    assert "社区消防设施巡查" not in admitted and "入户经济普查" not in admitted  # both refused
    for name in ("admitted.csv", "admitted.json"):
        assert (tmp_path / "site" / name).is_file()

    notice = (tmp_path / "notice.html").read_text(encoding="utf-8")
    assert "不予准入" in notice and "入户经济普查" in notice

    for name in ("report.html", "report.json", "report.svg"):
        assert (tmp_path / "report" / name).is_file()
    assert "intact" in output_of(outputs, "zhunru log verify")

    # after the tour nothing is left waiting for the district body
    after = subprocess.run(["bash", "-euo", "pipefail", "-c",
                            "\n".join([*(line for line in lines if line.startswith("export ")),
                                       "zhunru queue --format json"])],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert after.returncode == 0, after.stderr
    assert json.loads(after.stdout) == []
