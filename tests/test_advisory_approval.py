"""An admission under a draft (Bijie's 附件1 and 3 are 征求意见稿) binds nobody until the district
body confirms it: it waits in the queue beside what needs approval, the body approves or refuses
it as it would a request, and once approved it is in effect — published, counted, withdrawable —
with `log verify` and `log rebuild` agreeing (SQLite and PostgreSQL). An admission by a binding
ruleset is not the body's to approve."""
from __future__ import annotations

import json

from helpers import HONGSHAN, MAYUAN, QX, add_account, bijie_request, evaluate, make_request, zhunru


def queue(url: str) -> dict[str, dict]:
    done = zhunru("queue", "--db", url, "--format", "json")
    assert done.exit_code == 0, done.output
    return {item["request_id"]: item for item in json.loads(done.output)}


def test_an_advisory_admission_waits_for_the_body_and_binds_once_approved(db_url, tmp_path):
    add_account(db_url, "qx", "approver", scope=QX, display="七星关区社区办")
    duty = evaluate(db_url, bijie_request(id="duty", matter="调解居民纠纷", communities=[HONGSHAN]))
    assist = evaluate(db_url, bijie_request(id="assist", matter="社区矫正", communities=[MAYUAN]))
    for d in (duty, assist):
        assert (d["outcome"], d["advisory"]) == ("admitted", True)
        assert "SOURCE_DRAFT" in {r["code"] for r in d["reasons"]}

    waiting = queue(db_url)
    assert set(waiting) == {"duty", "assist"}
    assert (waiting["duty"]["outcome"], waiting["duty"]["advisory"]) == ("admitted", True)
    text = zhunru("queue", "--db", db_url)
    assert "依据征求意见稿或建议予以准入:经批准后方生效" in text.output

    # nothing is in effect before the body acts: the publication lists nothing
    site = tmp_path / "before"
    assert zhunru("publish", "--district", QX, "--out", site, "--db", db_url).exit_code == 0
    assert "调解居民纠纷" not in (site / "admitted.csv").read_text(encoding="utf-8-sig")

    approved = zhunru("approve", "duty", "--as", "qx", "--note", "主任会议确认", "--db", db_url)
    assert approved.exit_code == 0, approved.output
    refused = zhunru("refuse", "assist", "--as", "qx", "--note", "附件尚未印发", "--db", db_url)
    assert refused.exit_code == 0, refused.output
    assert queue(db_url) == {}
    again = zhunru("approve", "duty", "--as", "qx", "--db", db_url)
    assert again.exit_code == 2 and "already approved" in again.output

    site = tmp_path / "after"
    assert zhunru("publish", "--district", QX, "--out", site, "--db", db_url).exit_code == 0
    admitted = (site / "admitted.csv").read_text(encoding="utf-8-sig")
    assert "调解居民纠纷" in admitted and "社区矫正" not in admitted
    report = json.loads(zhunru("report", "--district", QX, "--format", "json", "--db", db_url).output)
    text = json.dumps(report, ensure_ascii=False)
    assert '"duty": 1' in text and '"assist": 1' not in text

    for command in (("log", "verify"), ("log", "rebuild"), ("log", "verify")):
        done = zhunru(*command, "--db", db_url)
        assert done.exit_code == 0, (command, done.output)
    withdrawn = zhunru("withdraw", "duty", "--as", "qx", "--note", "居民反对", "--db", db_url)
    assert withdrawn.exit_code == 0, withdrawn.output


def test_a_binding_admission_is_not_the_bodys_to_approve(db_url, testville):
    add_account(db_url, "office", "admin")
    decision = evaluate(db_url, make_request(id="bound", matter="调解居民纠纷"))
    assert (decision["outcome"], decision["advisory"]) == ("admitted", False)
    assert "bound" not in queue(db_url)
    done = zhunru("approve", "bound", "--as", "office", "--db", db_url)
    assert done.exit_code == 2 and "not needs_approval" in done.output
