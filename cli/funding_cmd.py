"""`zhunru funding record|check`: base funds per community (费随事转) against allocations."""
from __future__ import annotations

import datetime as dt

import click

from zhunru.errors import InputError

from .common import CONTEXT, db_option, dump_json, output_options

LEVEL_NAMES = {"city": ("市级", "city"), "district": ("区县级", "district"), "street": ("街道", "street"),
               "any": ("不分级", "any level")}


@click.group("funding", context_settings=CONTEXT)
def funding():
    """Base funds per community (社区工作经费, 费随事转): record allocations, check shortfalls."""


def _registry(db_url):
    from zhunru.office.registry import CommunityRegistry

    return CommunityRegistry(db_url)


@funding.command("record", context_settings=CONTEXT)
@click.option("--community", "code", required=True, metavar="CODE", help="Community code in the registry.")
@click.option("--year", type=int, default=lambda: dt.date.today().year, show_default="this year", help="Budget year.")
@click.option("--level", required=True, type=click.Choice(["city", "district", "street"]),
              help="Level of government that pays.")
@click.option("--fund", required=True, metavar="NAME",
              help="The fund as the ruleset names it (e.g. 社区工作经费) or its clause id.")
@click.option("--amount", required=True, metavar="YUAN",
              help="Amount in yuan, at most two decimals (a negative amount corrects an earlier one).")
@click.option("--document", metavar="DOC", help="The allocating document, e.g. 七财发〔2021〕12号.")
@output_options
@db_option
def record(code, year, level, fund, amount, document, fmt, lang, db_url):
    """Record funds allocated to a community.

    \b
    Example:
      zhunru funding record --community QX-001 --year 2021 --level city \\
          --fund 社区工作经费 --amount 32800 --document 毕财发〔2021〕5号
    """
    from zhunru.office.allocations import Allocations, parse_amount

    value = parse_amount(amount)
    registry = _registry(db_url)
    try:
        row = Allocations(registry).record(code, year, level, fund, value, document)
    finally:
        registry.close()
    if fmt == "json":
        click.echo(dump_json(row.as_dict()))
    elif lang == "en":
        click.echo(f"Recorded: {row.amount} yuan of {row.fund} for {code}, {year}, {level} level.")
    else:
        click.echo(f"已记录:{code} {year} 年 {LEVEL_NAMES[level][0]}「{row.fund}」{row.amount} 元。")


@funding.command("check", context_settings=CONTEXT)
@click.option("--city", envvar="ZHUNRU_CITY", metavar="CITY",
              help="Whose ruleset sets the base funds (env ZHUNRU_CITY).")
@click.option("--year", type=int, default=lambda: dt.date.today().year, show_default="this year", help="Budget year.")
@click.option("--district", help="Only this district's communities.")
@click.option("--street", help="Only this street's communities.")
@click.option("--fail-on-shortfall", is_flag=True, help="Exit 3 if any community is short.")
@output_options
@db_option
def check(city, year, district, street, fail_on_shortfall, fmt, lang, db_url):
    """Base funds each community should receive under the ruleset, against what was recorded.

    \b
    For every community in the registry (or in --district / --street) and every base fund of
    the city's ruleset in force that year: the amount required, its split between levels
    (e.g. Bijie city:district 4:6), the allocations recorded with `zhunru funding record`, and
    the shortfall per community and per level. A surplus in one fund or level never hides a
    shortfall in another. Amounts are exact decimals, rounded to the fen half-up (stated in
    the output).

    \b
    Example:
      zhunru funding check --city bijie --year 2021 --district 七星关区
    """
    import sys

    from zhunru.office.allocations import check as run

    if not city:
        raise InputError("--city: whose ruleset sets the base funds? e.g. --city bijie (or set ZHUNRU_CITY)")
    registry = _registry(db_url)
    try:
        result = run(registry, city, year, district, street)
    finally:
        registry.close()
    if fmt == "json":
        click.echo(dump_json(result))
    else:
        click.echo(_text(result, lang))
    if fail_on_shortfall and any(c["shortfall"] != "0.00" for c in result["per_community"]):
        sys.exit(3)


def _text(result: dict, lang: str) -> str:
    en = lang == "en"
    pick = 1 if en else 0
    rs = result["ruleset"]
    lines = [(f"Base funds {result['year']}, ruleset {rs['id']}@{rs['version']}" if en
              else f"{result['year']} 年社区基本经费,规则集 {rs['id']}@{rs['version']}")]
    if not result["funds"]:
        lines.append("The ruleset sets no base funds." if en else "该规则集未规定社区基本经费。")
    for f in result["funds"]:
        split = ":".join(str(v) for v in (f["split"] or {}).values())
        lines.append(f"  {f['id']} {f['name']}: {f['basis']} {f['amount']}"
                     + (f" ({'/'.join(f['split'])} {split})" if f["split"] else ""))
    head = ("community", "required", "allocated", "shortfall") if en else ("社区", "应拨", "已拨", "缺口")
    lines.append("\t".join(head))
    for c in result["per_community"]:
        lines.append(f"{c['code']} {c['name']}\t{c['required']}\t{c['allocated']}\t{c['shortfall']}")
    lines.append(("Per level:" if en else "分级:"))
    for level, g in result["per_level"].items():
        name = LEVEL_NAMES.get(level, (level, level))[pick]
        lines.append(f"  {name}\t{g['required']}\t{g['allocated']}\t{g['shortfall']}")
    t = result["total"]
    lines.append(f"{'Total' if en else '合计'}\t{t['required']}\t{t['allocated']}\t{t['shortfall']}")
    for a in result["unmatched"]:
        lines.append((f"Note: allocation #{a['id']} ({a['community']}, {a['fund']}) names no base fund of the ruleset"
                      if en else f"注意:拨款 #{a['id']}({a['community']},「{a['fund']}」)不对应规则集中的任何基本经费"))
    lines.append(result["rounding"]["en" if en else "zh"])
    return "\n".join(lines)


COMMANDS = [funding]
