"""不予准入告知书: the one-page notice a community hands a department that asks it to do work
that was not admitted.

A notice exists for a decision the ruleset rejected, for a refusal by the district body, and
for an off-list matter awaiting approval with neither funding nor staff attached (费随事转: until
the body approves it *and* money or staff come with it, the community need not take it on).
An admitted or approved matter, or one awaiting approval with funding, has no notice.
"""
from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from zhunru.errors import InputError
from zhunru.log.matters import Matter, basis, cite, find_matter
from zhunru.messages import CATEGORIES, reason_message
from zhunru.office.publish import KIND_LABELS
from zhunru.office.workdays import china_date, today_in_china

PRINCIPLE = ("根据“权随责走、费随事转”的原则,未经准入审批、未落实相应经费或人员的工作事项,"
             "社区居民委员会可以拒绝承担。")
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def notice_data(store, ident: str) -> dict:
    m = find_matter(store, ident)
    grounds = _grounds(m, ident)
    f = m.funding
    act = m.act if m.status == "refused" else None
    reasons = _reasons(m, act)
    ruleset = m.decision["ruleset"]
    return {
        "title": "社区工作事项不予准入告知书", "grounds": grounds,
        "department": m.request["department"]["name"], "matter": m.decision["matter"]["name"],
        "matter_code": m.decision["matter"].get("code"), "kind": m.kind, "kind_label": KIND_LABELS[m.kind],
        "category_label": CATEGORIES[m.decision["category"]][0], "date": m.request["date"],
        "communities": [{k: c.get(k) for k in ("name", "code", "district", "street")} for c in m.communities],
        "funding": {"amount": None if f["amount"] is None else f"{f['amount']:.2f}", "source": f["source"],
                    "document": f["document"], "personnel": f["personnel"]},
        "reasons": reasons, "basis": basis(m.decision),
        "refusal": {"by": act.get("by"), "at": act.get("at"), "note": act.get("note")} if act else None,
        "advisory": bool(m.decision.get("advisory")), "principle": PRINCIPLE,
        "decision_id": m.entry_id, "request_id": m.request_id,
        "ruleset": f"{ruleset['id']}@{ruleset['version']}", "ruleset_sha256": ruleset["sha256"],
        "log": {"seq": m.seq, "hash": m.log_hash, "logged_at": m.created_at},
        "issuer": issuer(m, grounds, act), "number": number(m),
        "checkpoint": _checkpoint(store, m.seq),
        "issued_on": today_in_china().isoformat(),
    }


def _checkpoint(store, seq: int) -> dict | None:
    """The latest signed checkpoint that covers the decision's row, if one was taken since."""
    found = store.latest_checkpoint(covering=seq)
    return found.as_dict() if found else None


PROOF = re.compile(r'<div class="footer small" id="proof" data-decision="([0-9a-f]{1,64})" data-seq="(\d{1,15})" '
                   r'data-hash="([0-9a-f]{64})" data-ruleset-sha256="([0-9a-f]{0,64})"')
MAX_NOTICE = 4 * 1024 * 1024


def verify_file(store, path) -> tuple[dict, str | None]:
    """Check a saved HTML notice against the log: its decision is at the row it names, with the
    hash it prints, under the ruleset it cites, and still gives grounds for a notice. (What it
    claims, first problem or None.) InputError for a file that is not a zhunru notice."""
    from pathlib import Path

    path = Path(path)
    try:
        if not path.is_file():
            raise InputError(f"FILE: {path} is not a file")
        with path.open("rb") as handle:  # at most the limit: /dev/zero or a FIFO cannot hang us
            raw = handle.read(MAX_NOTICE + 1)
    except OSError as exc:
        raise InputError(f"FILE: cannot read {path} ({exc.strerror})") from None
    if len(raw) > MAX_NOTICE:
        raise InputError(f"FILE: over {MAX_NOTICE} bytes: not a notice")
    found = PROOF.search(raw.decode("utf-8", "replace"))
    if not found:
        raise InputError(f"FILE: {path} is not a notice zhunru printed as HTML (no proof block)")
    claim = {"decision_id": found.group(1), "seq": int(found.group(2)), "hash": found.group(3),
             "ruleset_sha256": found.group(4)}
    entry = store.find(claim["decision_id"])
    if entry is None or entry.entry_type != "decision":
        return claim, f"decision {claim['decision_id']} is not in the log"
    if entry.seq != claim["seq"] or entry.hash != claim["hash"]:
        return claim, (f"decision {claim['decision_id']} is row {entry.seq} with hash {entry.hash[:16]}… in the log; "
                       f"the notice says row {claim['seq']}, hash {claim['hash'][:16]}…")
    if (entry.ruleset_sha256 or "") != claim["ruleset_sha256"]:
        return claim, "the notice cites another ruleset version than the decision in the log"
    try:
        _grounds(find_matter(store, entry.entry_id), entry.entry_id)
    except InputError as exc:
        return claim, f"the log no longer gives grounds for this notice: {exc}"
    return claim, None


def issuer(m: Matter, grounds: str, act: dict | None) -> str:
    """Who issues the notice: the district body that refused (the account that acted), else the
    residents' committee of the community (several: each signs)."""
    if grounds == "refused" and act:
        actor = act.get("actor") or {}
        if actor.get("role") == "approver" and actor.get("scope"):
            return f"{actor['scope']}城市社区建设工作领导协调机构"
        return act.get("by") or "区(县)城市社区建设工作领导协调机构"
    names = [c["name"] for c in m.communities]
    return "、".join(f"{n}居民委员会" for n in names) if names else "社区居民委员会"


def number(m: Matter) -> str:
    """The notice's 文号: the year it was decided (China time) and its log row, so the same
    decision always carries the same number and the number leads back to the log."""
    return f"准入告〔{china_date(m.created_at).year}〕{m.seq}号"


def _reasons(m: Matter, act: dict | None) -> list[dict]:
    """Each reason with its clause; a clause's source is quoted once (later: 同上)."""
    given = [r for r in m.decision["reasons"] if r.get("code") != "PROPOSAL_ADVISORY"]
    if act is not None:
        # The decision only said "needs approval"; what refuses it is the body's act, under the
        # clause that gives the body that power (the one the decision cited first).
        first = given[0]
        given = [{"message": "经区(县)城市社区建设工作领导协调机构审批,不予准入" + (f":{act['note']}" if act.get("note") else "。"),
                  "clause": first["clause"], "source": first["source"]}]
    out, seen = [], set()
    for i, r in enumerate(given, 1):
        out.append({"no": i, "message": reason_message(r, "zh"), "clause": r["clause"],
                    "source": "同上" if r["clause"] in seen else cite(r)})
        seen.add(r["clause"])
    return out


def _grounds(m: Matter, ident: str) -> str:
    """Why a notice may be given; InputError when it may not."""
    status = m.status
    if status == "rejected":
        return "rejected"
    if status == "refused":
        return "refused"
    if status == "pending" and not m.funded and not m.staffed:
        return "unfunded"
    if status == "pending":
        raise InputError(f"ID: {ident} awaits the district body's decision with funding or staff attached; "
                         "there is no refusal to notify (approve or refuse it first)")
    raise InputError(f"ID: {ident} was {'approved' if status == 'approved' else 'admitted'}; "
                     "a refusal notice is only for a rejected, refused or unfunded request")


def to_html(notice: dict) -> str:
    from zhunru.office.templating import render

    return render("notice.html.j2", n=notice)


def to_text(notice: dict) -> str:
    n = notice
    places = "、".join(c["name"] for c in n["communities"]) or "社区"
    lines = [n["title"], n["number"], "", f"{n['department']}:", "",
             f"你单位于{n['date']}提出拟交由{places}承担的{n['kind_label']}「{n['matter']}」,"
             + {"rejected": "经审查,不予准入。", "refused": "经区(县)社区工作领导协调机构审批,不予准入。",
                "unfunded": "属清单外委托事项,未附经费或人员,在经审批并落实经费或人员之前,社区不予承担。"}[n["grounds"]],
             "", "理由与依据:"]
    for r in n["reasons"]:
        lines += [f"  {r['no']}. {r['message']}", f"     条款 {r['clause']}", f"     依据 {r['source']}"]
    if n["refusal"]:
        lines.append(f"  审批人 {n['refusal']['by']}  审批时间 {(n['refusal']['at'] or '')[:19]}")
    if n["advisory"]:
        lines.append("  注意:本决定所依据的规则集或文件为建议案、征求意见稿或已过有效期(见上列理由),本告知仅供参考。")
    lines += ["", n["principle"], "", f"{n['issuer']}(盖章)", n["issued_on"], "",
              f"决定编号 {n['decision_id']}  申请编号 {n['request_id']}",
              f"规则集 {n['ruleset']}  sha256 {n['ruleset_sha256']}",
              f"决策日志 第{n['log']['seq']}条 {n['log']['logged_at'][:19]}  哈希 {n['log']['hash']}"]
    return "\n".join(lines)


# -- PDF ---------------------------------------------------------------------------------------
def pdf_renderer() -> str | None:
    """A headless Chromium to print HTML to PDF (ZHUNRU_CHROMIUM, else on PATH), or None."""
    configured = os.environ.get("ZHUNRU_CHROMIUM")
    if configured:
        return configured if Path(configured).exists() or shutil.which(configured) else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def chromium_args(exe: str, profile: str) -> list[str]:
    # No network, no sync, no first-run work: the page is self-contained and the run must be quiet.
    return [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}"]


def write_pdf(html: str, out: Path, exe: str) -> None:
    with tempfile.TemporaryDirectory(prefix="zhunru-pdf-") as tmp:
        page = Path(tmp) / "notice.html"
        page.write_text(html, encoding="utf-8")
        args = chromium_args(exe, str(Path(tmp) / "profile")) + [
            "--no-pdf-header-footer", "--print-to-pdf-no-header", f"--print-to-pdf={out.resolve()}", page.as_uri()]
        try:
            subprocess.run(args, capture_output=True, timeout=180, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise InputError(f"--pdf: the PDF renderer {exe} failed ({exc.__class__.__name__})") from None
    if not out.exists() or out.read_bytes()[:5] != b"%PDF-":
        raise InputError(f"--pdf: the PDF renderer {exe} wrote no PDF to {out}")
