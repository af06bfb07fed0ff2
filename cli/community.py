"""`zhunru community …`: the community registry (社区名册)."""
from __future__ import annotations

import click

from .common import CONTEXT, db_option, dump_json, output_options


@click.group("community", context_settings=CONTEXT)
def community():
    """The community registry (社区名册): names, codes, population and households.

    \b
    Requests may then name their target communities without numbers:
      "communities": [{"name": "洪山社区"}, {"name": "QX-001"},
                      {"name": "all", "street": "市西街道"}, {"name": "all", "district": "七星关区"}]
    A community given with population or households in the request is used as given.
    """


def _registry(db_url):
    from zhunru.office.registry import CommunityRegistry

    return CommunityRegistry(db_url)


@community.command("import", context_settings=CONTEXT)
@click.argument("file", metavar="FILE.csv", type=click.Path(dir_okay=False))
@output_options
@db_option
def import_(file, fmt, lang, db_url):
    """Import or update communities from a CSV file.

    \b
    Columns (header row required, any order; UTF-8 or GB18030):
      name,code,district,street,population,households
      洪山社区,QX-001,七星关区,市西街道,8200,2900
    `code` identifies a community: importing again updates it, never duplicates it;
    communities missing from the file are kept. A bad row stops the import with one line
    naming the row and column, and nothing is written.

    \b
    Example:
      zhunru community import communities.csv --db postgresql://…/zhunru
    """
    registry = _registry(db_url)
    try:
        result = registry.import_csv(file)
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
@output_options
@db_option
def list_(district, street, fmt, lang, db_url):
    """List the registry, by district, street and code.

    \b
    Example:
      zhunru community list --district 七星关区 --format json
    """
    registry = _registry(db_url)
    try:
        rows = [r.as_dict() for r in registry.list(district, street)]
    finally:
        registry.close()
    if fmt == "json":
        click.echo(dump_json(rows))
        return
    head = ("代码 code", "名称 name", "区县 district", "街道 street", "人口 pop.", "户数 hh.")
    click.echo("\t".join(head))
    for r in rows:
        click.echo("\t".join(str(r[k]) if r[k] is not None else "-"
                             for k in ("code", "name", "district", "street", "population", "households")))
    click.echo(f"共 {len(rows)} 个社区" if lang != "en" else f"{len(rows)} communities")


COMMANDS = [community]
