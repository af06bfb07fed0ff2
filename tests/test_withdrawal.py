"""撤销: the district body withdraws an admission in effect. The withdrawal is a new, chained log
entry with the account and the reason; from then on the matter no longer counts for its
communities (a capped plate frees its place), `log verify` and `log rebuild` agree, and it leaves
the published list (SQLite and PostgreSQL)."""
from __future__ import annotations

import json

from click.testing import CliRunner

from helpers import add_account
from test_standing import capville, decide, plate  # noqa: F401 - the capped test city
from zhunru.cli import cli


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_a_withdrawn_plate_frees_its_place(tmp_path, capville, db_url):  # noqa: F811
    add_account(db_url, "office", "admin", display="区社区办")
    add_account(db_url, "clerk", "department", scope="某区民政局")
    assert decide(plate(tmp_path, "p1", "社区居委会牌子"), "--db", db_url)["outcome"] == "admitted"
    assert decide(plate(tmp_path, "p2", "社区居委会牌子"), "--db", db_url)["outcome"] == "admitted"  # the same plate twice
    assert decide(plate(tmp_path, "p3", "社区服务站牌子"), "--db", db_url)["outcome"] == "rejected"

    for args, message in [
        (["withdraw", "p1", "--as", "clerk", "--note", "x"], "account: clerk is a department account"),
        (["withdraw", "p1", "--as", "office", "--note", " "], "--note: a withdrawal needs its reason"),
        (["withdraw", "p3", "--as", "office", "--note", "x"], "is not in effect (rejected)"),
        (["withdraw", "nope", "--as", "office", "--note", "x"], "ID: no decision 'nope'"),
    ]:
        done = run(*args, "--db", db_url)
        assert done.exit_code == 2 and message in done.output, (args, done.output)

    done = run("withdraw", "p1", "--as", "office", "--note", "居民反对", "--db", db_url, "--format", "json")
    assert done.exit_code == 0, done.output
    act = json.loads(done.output)
    assert (act["act"], act["by"], act["note"], act["actor"]["account"]) == ("withdrawal", "区社区办(office)", "居民反对", "office")
    again = run("withdraw", "p1", "--as", "office", "--note", "x", "--db", db_url)
    assert again.exit_code == 2 and "already withdrawn (已撤销) by 区社区办(office)" in again.output
    # p2 still carries the same plate: the cap is still taken
    assert decide(plate(tmp_path, "p4", "社区服务站牌子"), "--db", db_url)["outcome"] == "rejected"
    assert run("withdraw", "p2", "--as", "office", "--note", "经费未到位", "--db", db_url).exit_code == 0
    assert decide(plate(tmp_path, "p5", "社区服务站牌子"), "--db", db_url)["outcome"] == "admitted"

    assert run("log", "verify", "--db", db_url).exit_code == 0
    assert run("log", "rebuild", "--db", db_url).exit_code == 0
    verified = run("log", "verify", "--db", db_url)
    assert verified.exit_code == 0, verified.output

    shown = json.loads(run("log", "show", "p1", "--format", "json", "--db", db_url).output)
    assert shown["type"] == "decision"
    published = run("publish", "--district", "(未注明区县)", "--out", tmp_path / "site", "--db", db_url)
    assert published.exit_code == 0, published.output
    admitted = (tmp_path / "site" / "admitted.csv").read_text(encoding="utf-8-sig")
    assert "社区服务站牌子" in admitted and "社区居委会牌子" not in admitted
    page = json.loads((tmp_path / "site" / "admitted.json").read_text(encoding="utf-8"))
    assert page["withdrawn"] == 2 and [w["request_id"] for w in page["withdrawals"]] == ["p1", "p2"]
    assert page["withdrawals"][1]["note"] == "经费未到位" and page["withdrawals"][1]["by"] == "区社区办(office)"
    html = (tmp_path / "site" / "admitted.html").read_text(encoding="utf-8")
    assert html.count('class="withdrawn"') == 2 and "已撤销的准入事项(2 项)" in html
