"""`zhunru community …`: the community registry (社区名册)."""
from __future__ import annotations

import click
from zhunru.errors import InputError

from .common import CONTEXT, db_option, dump_json, output_options, parse_date


@click.group("community", context_settings=CONTEXT)
def community():
    """The community registry (社区名册): names, codes, population and households.

    \b
    Requests may then name their target communities without numbers:
      "communities": [{"name": "洪山社区"}, {"name": "QX-001"},
                      {"name": "all", "street": "市西街道"}, {"name": "all", "district": "七星关区"}]
    A community given with population or households in the request is used as given.
    Every change (import, edit, retire) is recorded: zhunru community history.
    """


def _registry(db_url, read_only: bool = False):
    from zhunru.office.registry import CommunityRegistry

    return CommunityRegistry(db_url, read_only=read_only)


def _printable(value) -> str:
    return "-" if value is None else "".join(c if c.isprintable() else "?" for c in str(value))


@community.command("import", context_settings=CONTEXT)
@click.argument("file", metavar="FILE.csv|FILE.xlsx", type=click.Path(dir_okay=False))
@output_options
@db_option
def import_(file, fmt, lang, db_url):
    """Import or update communities from a CSV file or an XLSX workbook.

    \b
    Columns (header row required, any order; CSV in UTF-8 or GB18030; XLSX: the first sheet):
      name,code,district,street,population,households
      洪山社区,QX-001,七星关区,市西街道,8200,2900
    Chinese headers are read too: 名称 (社区名称), 代码 (社区代码), 区县, 街道, 人口, 户数.
    CSV or XLSX is told by the file's content, not its name. `code` identifies a community:
    importing again updates it, never duplicates it; communities missing from the file are
    kept, and a retired community stays retired. A bad row stops the import with one line
    naming the row and column, and nothing is written. Each community added and each field
    updated is recorded as a change by console:<os user>.

    \b
    Example:
      zhunru community import communities.xlsx --db postgresql://…/zhunru
    """
    registry = _registry(db_url)
    try:
        result = registry.import_file(file)
    finally:
        registry.close()
    if fmt == "json":
        click.echo(dump_json(result.as_dict()))
    elif lang == "en":
        click.echo(f"Imported {file}: {len(result.added)} added, {len(result.updated)} updated, "
                   f"{len(result.unchanged)} unchanged.")
    else:
        click.echo(f"已导入 {file}:新增 {len(result.added)} 个,更新 {len(result.updated)} 个,"
                   f"未变 {len(result.unchanged)} 个社区。")


@community.command("list", context_settings=CONTEXT)
@click.option("--district", help="Only this district (区/县).")
@click.option("--street", help="Only this street (街道).")
@click.option("--retired", is_flag=True, help="Also list retired communities (with the date they were retired).")
@output_options
@db_option
def list_(district, street, retired, fmt, lang, db_url):
    """List the registry, by district, street and code (communities in service; --retired: all).

    \b
    Example:
      zhunru community list --district 七星关区 --format json
    """
    registry = _registry(db_url, read_only=True)
    try:
        rows = [r.as_dict() for r in registry.list(district, street, retired=retired)]
    finally:
        registry.close()
    if fmt == "json":
        click.echo(dump_json(rows))
        return
    head = ["代码 code", "名称 name", "区县 district", "街道 street", "人口 pop.", "户数 hh."]
    keys = ["code", "name", "district", "street", "population", "households"]
    if retired:
        head.append("撤销 retired")
        keys.append("retired_at")
    click.echo("\t".join(head))
    for r in rows:
        click.echo("\t".join(_printable(r[k]) for k in keys))
    click.echo(f"共 {len(rows)} 个社区" if lang != "en" else f"{len(rows)} communities")


FIELD_NAMES = {"name": ("名称", "name"), "district": ("区县", "district"), "street": ("街道", "street"),
               "population": ("人口", "population"), "households": ("户数", "households"),
               "retired_at": ("撤销日期", "retired on"), None: ("社区", "community")}


@community.command("edit", context_settings=CONTEXT)
@click.argument("code", metavar="CODE")
@click.option("--name", help="The community's name (社区名称).")
@click.option("--district", help="Its district (区/县).")
@click.option("--street", help="Its street (街道).")
@click.option("--population", metavar="N", help="Residents, a whole number ≥ 0 ('' clears it).")
@click.option("--households", metavar="N", help="Households, a whole number ≥ 0 ('' clears it).")
@output_options
@db_option
def edit(code, name, district, street, population, households, fmt, lang, db_url):
    """Change one community's name, district, street, population or households (by code).

    The change is recorded (zhunru community history CODE) with the OS user who made it; a
    request decided earlier keeps the numbers it was decided with.

    \b
    Example:
      zhunru community edit QX-001 --population 8400 --households 2950
    """
    from zhunru.office.registry import RegistryError

    changes = {k: v for k, v in (("name", name), ("district", district), ("street", street),
                                 ("population", population), ("households", households)) if v is not None}
    if not changes:
        raise InputError("CODE: nothing to change; give --name, --district, --street, --population or --households")
    registry = _registry(db_url)
    try:
        done = registry.edit(code, changes)
    except RegistryError as exc:
        if exc.field in changes:  # the option that was given: --population: '…' is not …
            raise InputError(f"--{exc}") from None
        raise
    finally:
        registry.close()
    if fmt == "json":
        click.echo(dump_json({"code": code, "changes": done}))
        return
    en = lang == "en"
    if not done:
        click.echo(f"{code}: nothing changed (the values were already so)." if en else f"{code}:没有变化(原值相同)。")
        return
    for change in done:
        label = FIELD_NAMES[change["field"]][1 if en else 0]
        click.echo(f"{code} {label}: {_printable(change['old'])} → {_printable(change['new'])}")
    click.echo(f"Changed {code}: {len(done)} field(s), recorded." if en else f"已修改 {code}:{len(done)} 项,已记录。")


@community.command("retire", context_settings=CONTEXT)
@click.argument("code", metavar="CODE")
@click.option("--on", "on", metavar="DATE", help="The day it is retired from (default: today, China time).")
@click.option("--undo", is_flag=True, help="Undo a retirement: the community takes new requests again.")
@output_options
@db_option
def retire(code, on, undo, fmt, lang, db_url):
    """Retire a community (撤销/撤并): from DATE no new request may name it.

    Its row stays in the registry, so decisions logged earlier still show it; a request naming
    it (by code or name) is then an error naming communities[i], and `all` of its street or
    district leaves it out. The retirement is recorded (zhunru community history CODE).

    \b
    Example:
      zhunru community retire QX-003 --on 2026-07-01
      zhunru community retire QX-003 --undo
    """
    day = parse_date(on, "--on")
    if undo and on:
        raise InputError("--undo: give either --undo or --on, not both")
    registry = _registry(db_url)
    try:
        done = registry.restore(code) if undo else registry.retire(code, day)
    finally:
        registry.close()
    if fmt == "json":
        click.echo(dump_json(done))
    elif undo:
        click.echo(f"Restored {code} ({done['name']}): it takes new requests again." if lang == "en"
                   else f"已恢复 {code}({_printable(done['name'])}),重新接受准入申请。")
    else:
        click.echo(f"Retired {code} ({done['name']}) from {done['retired_at']}: no new request may name it."
                   if lang == "en" else
                   f"已撤销 {code}({_printable(done['name'])}),自 {done['retired_at']} 起不再接受新的准入申请。")


ACTIONS = {"import": ("导入", "import"), "edit": ("修改", "edit"), "retire": ("撤销", "retire"),
           "restore": ("恢复", "restore")}


@community.command("history", context_settings=CONTEXT)
@click.argument("code", metavar="[CODE]", required=False)
@click.option("--district", help="Only communities of this district (区/县).")
@click.option("--limit", type=click.IntRange(1, 100_000), default=200, show_default=True,
              help="At most this many changes, newest first.")
@output_options
@db_option
def history(code, district, limit, fmt, lang, db_url):
    """The registry's recorded changes, newest first: of one community, or all.

    Each change names what changed (a community added by an import, or one field), the old and
    the new value, who made it (an account, or console:<os user>) and when (UTC).

    \b
    Example:
      zhunru community history QX-003 --format json
    """
    registry = _registry(db_url, read_only=True)
    try:
        if code and registry.get(code) is None and not registry.history(code, limit=1):
            raise InputError(f"CODE: no community {code!r} in the registry (zhunru community list)")
        changes = registry.history(code, district, limit)
    finally:
        registry.close()
    if fmt == "json":
        click.echo(dump_json(changes))
        return
    en = lang == "en"
    click.echo("时间 at\t代码 code\t操作 action\t字段 field\t原值 old\t新值 new\t操作人 by")
    for c in changes:
        click.echo("\t".join((c["at"], _printable(c["code"]), ACTIONS.get(c["action"], (c["action"],) * 2)[en],
                              FIELD_NAMES.get(c["field"], (c["field"],) * 2)[en], _printable(c["old_value"]),
                              _printable(c["new_value"]), _printable(c["actor"]))))
    click.echo(f"{len(changes)} changes" if en else f"共 {len(changes)} 条变更记录")


COMMANDS = [community]
