"""`zhunru queue`, `zhunru approve`, `zhunru refuse`: the district body's work."""
from __future__ import annotations

import json

import click

from zhunru.errors import InputError

from .common import CONTEXT, db_option, dump_json, output_options, parse_date
from .render import printable


def _log(db_url, read_only: bool = False):
    from zhunru.log.store import DecisionLog

    return DecisionLog(db_url, read_only=read_only)


@click.command("queue", context_settings=CONTEXT)
@click.option("--city", help="Only this city's requests.")
@click.option("--as-of", "as_of", metavar="DATE",
              help="Count days left as of DATE (YYYY-MM-DD; default: today in China).")
@output_options
@db_option
def queue(city, as_of, fmt, lang, db_url):
    """What awaits the district body (待审批): requests that need approval, and admissions
    resting on a draft or proposal (advisory: binding nobody until confirmed), with no act yet.

    \b
    Each line gives the request id and the decision id (either may be used with approve and
    refuse), the matter, the department, the target communities and, where the ruleset sets
    `deadlines`, the days left to decide, counted in Chinese working days (holidays and 调休
    make-up days included) from the day the decision was logged, and the earliest day the
    work may start when the ruleset requires applying ahead.

    \b
    Example:
      zhunru queue
      zhunru approve r-3f2a… --as qxg-office --note "经费已落实"
      zhunru refuse  r-3f2a… --as qxg-office --note "未附经费"
    """
    from zhunru.office.queue import queue as build

    today = parse_date(as_of, "--as-of")
    log = _log(db_url, read_only=True)
    try:
        _print(build(log, today=today, city=city), fmt, lang)
    finally:
        log.close()


def _print(items, fmt: str, lang: str) -> None:
    """Print the queue as it is read (a JSON array, or text), item by item."""
    if fmt == "json":
        count = 0
        for count, item in enumerate(items, 1):  # one item a line: the C encoder, not indent's Python one
            click.echo(("[\n  " if count == 1 else ",\n  ") + json.dumps(item, ensure_ascii=False), nl=False)
        click.echo("\n]" if count else "[]")
        return
    en = lang == "en"
    count = 0
    for count, item in enumerate(map(printable, items), 1):
        click.echo(f"{item['request_id']}  ({'decision' if en else '决定'} {item['decision_id']})")
        click.echo(f"  {'matter' if en else '事项'}: {item['matter']}   {'department' if en else '部门'}: "
                   f"{item['department']}")
        click.echo(f"  {'communities' if en else '社区'}: {'、'.join(item['community_names']) or '-'}")
        if item.get("outcome") == "admitted":
            click.echo("  admitted under a draft or proposal: binds only once approved" if en
                       else "  依据征求意见稿或建议予以准入:经批准后方生效")
        if item["days_left"] is not None:
            state = (("overdue by" if en else "已超期") + f" {-item['days_left']}" if item["overdue"]
                     else ("days left" if en else "剩余") + f" {item['days_left']}")
            click.echo(f"  {'decide by' if en else '审批期限'}: {item['deadline']} ({state} "
                       f"{'working days' if en else '个工作日'})")
        if item["earliest_start"]:
            click.echo(f"  {'work may start from' if en else '最早可下派'}: {item['earliest_start']}")
        if item["calendar_problem"]:
            click.echo(f"  {'deadline unknown' if en else '期限无法计算'}: {item['calendar_problem']}")
    if not count:
        click.echo("Nothing awaits approval." if en else "没有待审批的事项。")
        return
    click.echo(f"{count} awaiting approval" if en else f"共 {count} 项待审批")


def _act(verb, ident, name, note, fmt, lang, db_url):
    import getpass

    from zhunru.office.accounts import Accounts
    from zhunru.office.queue import act

    if not name:
        raise InputError("--as: name the account that acts (zhunru user list; zhunru user add)")
    log = _log(db_url)
    try:
        account = Accounts(log).require(name)
        try:
            os_user = getpass.getuser()
        except (KeyError, OSError):  # a container user with no passwd entry
            os_user = None
        entry = act(log, ident, verb, account, note, via="console", os_user=os_user)
    finally:
        log.close()
    payload = json.loads(entry["payload_json"])
    if fmt == "json":
        click.echo(dump_json({"act": entry["entry_type"], "entry_id": entry["entry_id"], "seq": entry["seq"],
                              "request_id": entry["request_id"], "decision_id": payload["decision_id"],
                              "by": payload["by"], "actor": payload.get("actor"), "note": payload["note"],
                              "at": payload["at"]}))
    elif lang == "en":
        click.echo(f"{DONE[verb][1]}: request {printable(entry['request_id'])} "
                   f"by {printable(payload['by'])} (log row {entry['seq']})")
    else:
        click.echo(f"{DONE[verb][0]}:申请 {printable(entry['request_id'])},"
                   f"{printable(payload['by'])}(日志第 {entry['seq']} 行)")


DONE = {"approve": ("已批准", "Approved"), "refuse": ("已拒绝", "Refused"), "withdraw": ("已撤销", "Withdrawn")}


def account_options(func):
    """--as ACCOUNT (and --by, its older spelling): the account that acts."""
    func = click.option("--by", "by_", hidden=True, metavar="ACCOUNT", help="Same as --as.")(func)
    return click.option("--as", "as_", metavar="ACCOUNT",
                        help="The account that acts: an approver of the request's district, or an admin "
                             "(zhunru user list). The log records it, and that it came from this console "
                             "and which OS user ran it.")(func)


@click.command("approve", context_settings=CONTEXT)
@click.argument("ident", metavar="ID")
@account_options
@click.option("--note", help="Remarks recorded with the approval.")
@output_options
@db_option
def approve(ident, as_, by_, note, fmt, lang, db_url):
    """Approve a request that awaits the district body (准入审批).

    \b
    ID is the request id or the decision id shown by `zhunru queue`. The approval is a new
    log entry; the decision is never changed. Approving twice, or approving a decision that
    does not await the body (neither needs_approval nor an advisory admission), is an error
    (exit 2) naming who acted first and when.

    \b
    Example:
      zhunru approve r-3f2a… --as qxg-office --note "2021年第3次主任会议"
    """
    _act("approve", ident, as_ or by_, note, fmt, lang, db_url)


@click.command("refuse", context_settings=CONTEXT)
@click.argument("ident", metavar="ID")
@account_options
@click.option("--note", required=True, help="The reason (it goes into the refusal notice).")
@output_options
@db_option
def refuse(ident, as_, by_, note, fmt, lang, db_url):
    """Refuse a request that awaits the district body (不予准入).

    \b
    ID is the request id or the decision id shown by `zhunru queue`; --note gives the reason.
    Like an approval it is a new log entry, at most one act per decision.

    \b
    Example:
      zhunru refuse r-3f2a… --as qxg-office --note "未落实经费"
    """
    if note is not None and not note.strip():
        raise InputError("--note: a refusal needs its reason")
    _act("refuse", ident, as_ or by_, note, fmt, lang, db_url)


@click.command("withdraw", context_settings=CONTEXT)
@click.argument("ident", metavar="ID")
@account_options
@click.option("--note", required=True, help="The reason (published with the withdrawal).")
@output_options
@db_option
def withdraw(ident, as_, by_, note, fmt, lang, db_url):
    """Withdraw an admission that is in effect (撤销准入).

    \b
    The district body withdraws a matter that was admitted by the ruleset or approved, e.g.
    when its funding never arrived or residents reject it. The withdrawal is a new log entry
    with its reason; from then on the matter no longer counts for its communities (caps,
    report) and leaves the published admitted list. At most one withdrawal per decision.

    \b
    Example:
      zhunru withdraw r-3f2a… --as qxg-office --note "经费未到位,经主任会议决定撤销"
    """
    if note is not None and not note.strip():
        raise InputError("--note: a withdrawal needs its reason")
    _act("withdraw", ident, as_ or by_, note, fmt, lang, db_url)


COMMANDS = [queue, approve, refuse, withdraw]
