"""`zhunru user add|list|disable|enable|passwd|token`: the accounts of the service and the console."""
from __future__ import annotations

import sys

import click

from zhunru.errors import InputError

from .common import CONTEXT, db_option, dump_json, output_options
from .render import printable

ROLE_HELP = ("admin (everything), approver (the district body of --scope DISTRICT), department "
             "(files for --scope DEPARTMENT), community (sees --scope COMMUNITY-CODE), auditor (reads only)")


def _accounts(db_url):
    from zhunru.office.accounts import Accounts

    return Accounts(db_url)


def _password(from_stdin: bool) -> str:
    """The new password: one line on stdin (for scripts), else asked twice without echo."""
    if from_stdin:
        line = sys.stdin.readline(2048)
        if not line:
            raise InputError("--password-stdin: nothing on standard input")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise InputError("password: not a terminal; pipe it with --password-stdin")
    return click.prompt("密码 password", hide_input=True, confirmation_prompt=True)


@click.group("user", context_settings=CONTEXT)
def user():
    """Accounts (账号) of the service and of the console's acts.

    \b
    Every approval, refusal and withdrawal names the account that made it; a web page or an
    API token acts as its account, `zhunru approve --as NAME` on the console. There is no
    default password: each account gets its own (at least 10 characters).

    \b
    Examples:
      zhunru user add admin --role admin
      zhunru user add qxg-office --role approver --scope 七星关区 --display "七星关区社区办 张三"
      zhunru user add sfj --role department --scope 七星关区司法局
      echo "$PASSWORD" | zhunru user add hs-worker --role community --scope QX-001 --password-stdin
      zhunru user token sfj --label "司法局OA"      # an API token, shown once
    """


@user.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(["admin", "approver", "department", "community", "auditor"]),
              help=ROLE_HELP)
@click.option("--scope", help="The district, department or community code the account is limited to.")
@click.option("--display", help="The name acts and pages show (default: NAME), e.g. 七星关区社区办 张三.")
@click.option("--password-stdin", is_flag=True, help="Read the password from one line of standard input.")
@output_options
@db_option
def add(name, role, scope, display, password_stdin, fmt, lang, db_url):
    """Add an account (NAME is its login)."""
    accounts = _accounts(db_url)
    try:
        account = accounts.add(name, role, _password(password_stdin), scope=scope, display=display)
    finally:
        accounts.close()
    if fmt == "json":
        click.echo(dump_json(account.as_dict()))
    else:
        click.echo(f"{'Added' if lang == 'en' else '已添加账号'} {printable(account.name)} "
                   f"({account.role}{', ' + printable(account.scope) if account.scope else ''})")


@user.command("list")
@output_options
@db_option
def list_(fmt, lang, db_url):
    """List the accounts, their roles and scopes."""
    accounts = _accounts(db_url)
    try:
        rows = accounts.list()
    finally:
        accounts.close()
    if fmt == "json":
        click.echo(dump_json(rows))
        return
    for r in map(printable, rows):
        state = (" (disabled)" if lang == "en" else "(已停用)") if r["disabled"] else ""
        click.echo(f"{r['name']}  {r['role']}  {r['scope'] or '-'}  {r['display']}{state}")
    if not rows:
        click.echo("No accounts yet (zhunru user add)." if lang == "en" else "还没有账号(zhunru user add)。")


def _simple(verb_zh: str, verb_en: str, method: str):
    @click.argument("name")
    @output_options
    @db_option
    def command(name, fmt, lang, db_url):
        accounts = _accounts(db_url)
        try:
            getattr(accounts, method)(name)
        finally:
            accounts.close()
        if fmt == "json":
            click.echo(dump_json({"name": name, "done": method}))
        else:
            click.echo(f"{verb_en} {printable(name)}" if lang == "en" else f"{verb_zh} {printable(name)}")
    return command


user.command("disable", help="Disable an account: its sessions end and its API tokens stop working.")(
    _simple("已停用", "Disabled", "disable"))
user.command("enable", help="Enable a disabled or locked-out account again.")(_simple("已启用", "Enabled", "enable"))


@user.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the new password from one line of standard input.")
@db_option
def passwd(name, password_stdin, db_url):
    """Set an account's password (its web sessions end)."""
    accounts = _accounts(db_url)
    try:
        accounts.set_password(name, _password(password_stdin))
    finally:
        accounts.close()
    click.echo(f"密码已更新 password set: {printable(name)}")


@user.command("token")
@click.argument("name")
@click.option("--label", default="api", show_default=True, help="What the token is for (e.g. the office system).")
@db_option
def token(name, label, db_url):
    """Make an API token for account NAME. It is printed once; only its hash is kept.

    \b
    Use it as:  curl -H "Authorization: Bearer zr_…" http://HOST/api/v1/queue
    """
    accounts = _accounts(db_url)
    try:
        click.echo(accounts.add_token(name, label))
    finally:
        accounts.close()


COMMANDS = [user]
