"""Plain helpers and constants shared by the tests (no fixtures: those live in conftest.py).

Test modules import from here by name (`from helpers import run_cli`); conftest.py is never
imported by name.

- the repository, the shipped rulesets, the PostgreSQL server and a Bijie request;
- the real console script (`run_cli`) and the CLI in-process (`zhunru`);
- the district-office test city `testville` (tests/data/rulesets) and its community registry;
- a district's log for the notice, publication and report tests (`TOUR`, `build`, on testville);
- headless Chromium (`chromium`, `dump_dom`).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
RULESETS = REPO / "rulesets"
PG_URL = os.environ.get("ZHUNRU_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def in_ci() -> bool:
    """CI sets CI (.ci/run exports CI=true): slow tests run, missing services fail instead of skipping."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def bijie_request(**overrides) -> dict:
    request = {
        "city": "bijie", "date": "2021-05-01",
        "department": {"name": "七星关区司法局", "level": "district", "role": "department"},
        "kind": "task", "matter": "社区矫正",
        "communities": [{"name": "洪山社区", "population": 8200, "households": 2900}],
    }
    request.update(overrides)
    return request


def run_cli(*args, input: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """The real console script, as a subprocess."""
    full_env = {**os.environ, **(env or {})}
    exe = Path(sys.executable).with_name("zhunru")
    return subprocess.run([str(exe), *args], input=input, capture_output=True, text=True, env=full_env, timeout=300)


def zhunru(*args, input=None):
    """The CLI in-process (click's CliRunner); InputError surfaces as result.exception."""
    from click.testing import CliRunner

    from zhunru.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args], input=input)


def write_json(path: Path, data) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


# -- the district office (issue 4): the test city `testville` and a community registry ----------
TEST_RULESETS = Path(__file__).resolve().parent / "data" / "rulesets"

COMMUNITIES_CSV = """name,code,district,street,population,households
洪山社区,QX-001,七星关区,市西街道,8200,2900
南关社区,QX-002,七星关区,市西街道,5100,1750
东门社区,QX-003,七星关区,市东街道,3333,1111
洪山社区,HH-001,海湖区,洪山街道,4000,1500
"""


def registry_csv(tmp_path: Path, text: str = COMMUNITIES_CSV, name: str = "communities.csv",
                 encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def import_communities(tmp_path: Path, url: str) -> dict:
    """`zhunru community import` of COMMUNITIES_CSV into a fresh log: all four rows added."""
    result = zhunru("community", "import", registry_csv(tmp_path), "--db", url, "--format", "json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["added"], summary["updated"], summary["unchanged"]) == (4, 0, 0), summary
    return summary


def district_request(**overrides) -> dict:
    """A request to the district office's reference city, `testville` (needs the `testville`
    fixture): its lists are full and its sources in force, so what its rules admit is in effect.
    Bijie cannot be that city: its rules are in annexes marked 征求意见稿, so its decisions are
    advisory and bind nobody until the district body approves them."""
    return bijie_request(**{"city": "testville", **overrides})


def make_request(**overrides) -> dict:
    request = {"city": "testville", "date": "2024-09-02",
               "department": {"name": "测试区应急局", "level": "district", "role": "department"},
               "kind": "task", "matter": "应急演练组织",
               "communities": [{"name": "洪山社区", "population": 8200, "households": 2900}],
               "funding": {"amount": 30000, "source": "区财政", "document": "测财〔2024〕9号"}}
    request.update(overrides)
    return request


def add_account(url: str, name: str, role: str = "admin", scope: str | None = None, display: str | None = None,
                password: str = "correct-horse-battery"):
    """An account in the database at `url` (what `zhunru user add` makes)."""
    from zhunru.office.accounts import Accounts

    accounts = Accounts(url)
    try:
        return accounts.add(name, role, password, scope=scope, display=display)
    finally:
        accounts.close()


# -- a district's log for the notice, publication and report tests ------------------------------
# Requests decided by the real `zhunru evaluate`, the district body's acts written as log entries
# (act_record, the queue's own record), on SQLite and on PostgreSQL (the `tour` fixture).
QX, JH = "七星关区", "金海湖新区"
HONGSHAN = {"name": "洪山社区", "district": QX, "street": "市西街道", "population": 8200, "households": 2900}
MAYUAN = {"name": "麻园社区", "district": QX, "street": "市东街道", "population": 6000, "households": 2000}
XIAOBA = {"name": "小坝社区", "district": JH, "street": "小坝镇", "population": 3000, "households": 1000}
FUNDS = {"amount": 50000, "source": "区财政", "document": "七财发〔2021〕12号"}

# id → (request overrides, act on it or None). Expected, for 七星关区 on testville@2020.1 (binding, full lists):
#   duty-2020   admitted duty (2020)        assist     admitted assist (both communities)
#   plate       admitted nameplate (洪山)    approved   commissioned, funded, approved
#   staffed     commissioned, staff only, approved      unfunded   rejected (no funding)
#   refused     commissioned, funded, refused           pending    commissioned, funded, awaiting
#   elsewhere   admitted duty in 金海湖新区 only
TOUR = {
    "duty-2020": (dict(date="2020-06-01", department={"name": "七星关区民政局"}, matter="调解居民纠纷",
                       communities=[HONGSHAN]), None),
    "assist": (dict(matter="社区矫正", communities=[HONGSHAN, MAYUAN]), None),
    "plate": (dict(kind="nameplate", matter="社区居委会牌子", department={"name": "七星关区民政局"},
                   communities=[HONGSHAN]), None),
    "approved": (dict(department={"name": "七星关区统计局"}, matter="经济普查入户登记",
                      communities=[HONGSHAN, MAYUAN], funding=FUNDS), ("approval", "张三", "同意,经费已到位")),
    "staffed": (dict(department={"name": "七星关区卫健局"}, matter="健康档案入户核对", communities=[MAYUAN],
                     personnel=2), ("approval", "张三", None)),
    "unfunded": (dict(department={"name": "七星关区文明办"}, matter="创建文明城市入户调查",
                      communities=[HONGSHAN, MAYUAN]), None),
    "refused": (dict(department={"name": "七星关区住建局"}, matter="房屋安全排查", communities=[HONGSHAN],
                     funding={"amount": 20000, "source": "区财政"}), ("refusal", "李四", "与社区职责无关")),
    "pending": (dict(department={"name": "七星关区应急局"}, matter="应急物资清点", communities=[MAYUAN],
                     funding={"amount": 8000, "source": "区财政"}), None),
    "elsewhere": (dict(department={"name": "金海湖新区民政局"}, matter="调解居民纠纷", communities=[XIAOBA]), None),
}
PUBLISHED = {"duty-2020", "assist", "plate", "approved", "staffed"}  # in 七星关区


def evaluate(url: str, request: dict) -> dict:
    result = zhunru("evaluate", "-", "--db", url, "--format", "json", input=json.dumps(request, ensure_ascii=False))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def act(url: str, request_id: str, verb: str, by: str, note: str | None) -> dict:
    """The district body's act, as the approval queue records it."""
    from zhunru.log.store import DecisionLog, act_record

    store = DecisionLog(url)
    try:
        entry = store.find(request_id)
        return store.append([act_record(entry, verb, by, note)])[0]
    finally:
        store.close()


def build(url: str) -> dict:
    """Decide the tour's requests and record the acts; returns id → decision JSON."""
    decisions = {}
    for rid, (overrides, acting) in TOUR.items():
        decisions[rid] = evaluate(url, district_request(id=rid, **overrides))
        if acting:
            act(url, rid, *acting)
    return decisions


# -- headless Chromium -------------------------------------------------------------------------
def chromium() -> str:
    """The Chromium binary; skip only when it is absent and this is not CI."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if in_ci():
        pytest.fail("chromium is not installed (.ci/run installs it with apt-get)")
    pytest.skip("chromium is not installed")


def dump_dom(path, tmp_path) -> str:
    exe = chromium()
    args = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp_path / 'chromium-profile'}", "--dump-dom", path.resolve().as_uri()]
    result = subprocess.run(args, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout
