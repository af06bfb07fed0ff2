"""`zhunru ruleset …`: list, show, validate, test, diff, new, schema."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from zhunru.errors import InputError

from .common import CONTEXT, dump_json, output_options


@click.group("ruleset", context_settings=CONTEXT)
def ruleset():
    """Rulesets (规则集): list, inspect, validate, test, compare and create them.

    \b
    A ruleset is YAML under rulesets/<city>/<version>.yaml; it extends `national` and every
    clause quotes its source. A city's CI runs:
      zhunru ruleset validate rulesets/      # exit 1 with one line per problem
      zhunru ruleset test rulesets/          # runs <city>/cases/*.yaml (or: pytest rulesets/)
    \b
    Authoring:
      zhunru ruleset new mycity --dir rulesets        # a skeleton that validates
      zhunru ruleset diff guangzhou@2016.1 guangzhou@2021.1
      zhunru ruleset schema > rulesets/ruleset.schema.json
    """


@ruleset.command("list", context_settings=CONTEXT)
@output_options
def list_(fmt, lang):
    """List every city and version the loaded plugins provide."""
    from zhunru.rulebook.loader import default_registry

    registry = default_registry()
    rows = []
    for city in registry.cities():
        for item in registry.versions(city):
            r = item.ruleset
            rows.append({"id": r.id, "version": r.version, "status": r.status, "coverage": r.coverage,
                         "effective_from": r.effective_from.isoformat(),
                         "effective_to": r.effective_to.isoformat() if r.effective_to else None,
                         "title": r.title, "sha256": item.sha256})
    if fmt == "json":
        click.echo(dump_json(rows))
        return
    for row in rows:
        span = f"{row['effective_from']}–{row['effective_to'] or ''}"
        click.echo(f"{row['id']}@{row['version']}  {span}  {row['status']}  {row['coverage']}  {row['title']}")


@ruleset.command("show", context_settings=CONTEXT)
@click.argument("ref", metavar="CITY[@VERSION]")
@click.option("--concordance", is_flag=True,
              help="The city's sources sentence by sentence, each beside the clauses that implement it "
                   "(or why none does): rulesets/<city>/concordance.yaml.")
@output_options
def show(ref, concordance, fmt, lang):
    """Show a ruleset: metadata and the size and coverage of each list.

    \b
    Examples:
      zhunru ruleset show bijie
      zhunru ruleset show 毕节@2017.1 --format json
      zhunru ruleset show bijie --concordance     # law and rules side by side
    """
    from zhunru.kinds import LISTS
    from zhunru.rulebook.loader import default_registry

    registry = default_registry()
    item = registry.by_ref(ref)
    r = item.ruleset
    if concordance:
        _show_concordance(item, registry.versions(r.id), fmt)
        return
    if fmt == "json":
        click.echo(dump_json({"ref": item.ref, "sha256": item.sha256, "path": str(item.path),
                              "ruleset": r.model_dump(mode="json", exclude_none=True)}))
        return
    click.echo(f"{item.ref}  {r.title}")
    click.echo(f"  {r.issuer}; {r.effective_from}–{r.effective_to or ''}; {r.status}; coverage {r.coverage}")
    if r.extends:
        click.echo(f"  extends {r.extends}")
    for kind, lists in LISTS.items():
        section = getattr(r, kind)
        if section is None:
            continue
        parts = []
        for name in lists:
            lst = getattr(section, name)
            if lst is not None:
                parts.append(f"{name} {len(lst.items)} ({lst.coverage})")
        other = getattr(section, "otherwise", None)
        if other is not None:
            parts.append(f"otherwise {other.outcome}")
        click.echo(f"  {kind}: " + ", ".join(parts))
    for fund in r.base_funds:
        click.echo(f"  base fund {fund.name}: {fund.standard.amount} {fund.standard.basis}/{fund.standard.per}")
    for doc in r.sources:
        click.echo(f"  source 《{doc.title}》 ({doc.document or doc.law}): "
                   + ("status per part" if doc.parts else doc.status))
        for part in doc.parts:
            click.echo(f"    part 《{part.title}》: {part.status}")
    if r.note:
        click.echo(f"  note: {r.note}")
    click.echo(f"  sha256 {item.sha256}")


def _show_concordance(item, versions, fmt) -> None:
    from zhunru.rulebook.concordance import FILE, side_by_side

    rows = side_by_side(item.path.parent, versions)
    if not rows:
        raise InputError(f"CITY: {item.ruleset.id} has no {FILE} beside its rulesets")
    if fmt == "json":
        click.echo(dump_json(rows))
        return
    heading = None
    for row in rows:
        if (row["document"], row["part"], row["status"]) != heading:
            heading = (row["document"], row["part"], row["status"])
            click.echo(f"《{row['document']}》" + (f" {row['part']}" if row["part"] else "")
                       + (f"  [{row['status']}]" if row["status"] else ""))
        click.echo(f"  “{row['sentence']}”" + (f"  ({row['where']})" if row["where"] else ""))
        for clause in row["clauses"]:
            click.echo(f"      → {clause['id']}: {clause['text'] or '(no such clause)'}")
        if row["not_modelled"]:
            click.echo(f"      → 未建模 not modelled: {row['not_modelled']}")


@ruleset.command("validate", context_settings=CONTEXT)
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--as-of", "as_of", metavar="DATE|today",
              help="Also fail a version in force on DATE that still quotes a source a revision replaced by then "
                   "(`superseded_on` in its sources:).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def validate(path, as_of, fmt):
    """Validate ruleset files: a file, a city folder, or a folder of cities.

    \b
    Checks the YAML (no duplicate keys, aliases or python tags; real dates) and the schema,
    each error with its field and YAML line; unique clause ids, that every {document, quote}
    occurs verbatim in a file under the ruleset's sources/ and every `sources:` document is
    there, contradicting lists (duty and negative, must and must_not), caps, overlapping
    versions of a city, extends cycles or missing parents, references to unknown clauses,
    names or aliases that collide after normalisation, and that a case file under
    <city>/cases/ names each version (`ruleset: city@version`) with at least one case.
    Exit 0 when valid; 1 with one line per problem: FILE: CLAUSE-or-field: what is wrong.
    """
    from zhunru.office.workdays import today_in_china
    from zhunru.rulebook.validate import validate_path

    from .common import parse_date

    problems, count = validate_path(path, today_in_china() if as_of == "today" else parse_date(as_of, "--as-of"))
    if fmt == "json":
        click.echo(dump_json({"files": count, "problems": [p.__dict__ for p in problems]}))
    else:
        for problem in problems:
            click.echo(str(problem))
        click.echo(f"{count} file(s), {len(problems)} problem(s)", err=bool(problems))
    sys.exit(1 if problems else 0)


@ruleset.command("test", context_settings=CONTEXT)
@click.argument("path", type=click.Path(path_type=Path))
@output_options
def test(path, fmt, lang):
    """Run a ruleset's own cases (<city>/cases/*.yaml): request → expected outcome,
    category, clause. Exit 0 when all pass, 1 otherwise (expected against actual shown)."""
    from zhunru.authoring.casetest import run_path

    results = run_path(path, lang)
    failed = [r for r in results if not r.ok]
    if fmt == "json":
        click.echo(dump_json({"passed": len(results) - len(failed), "failed": len(failed),
                              "failures": [{"case": r.case.label, "problems": r.failures} for r in failed]}))
    else:
        for r in failed:
            click.echo(f"FAIL {r.case.label}")
            for line in r.failures:
                click.echo(f"     {line}")
        click.echo(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if not results:
        click.echo(f"no cases found under {path}", err=True)
    sys.exit(1 if failed or not results else 0)


@ruleset.command("diff", context_settings=CONTEXT)
@click.argument("a", metavar="A")
@click.argument("b", metavar="B")
@output_options
def diff(a, b, fmt, lang):
    """What ruleset B adds, removes and moves between lists relative to A, the burden delta,
    and changed caps, maximum counts (max_count) and list coverage.

    \b
    A and B are CITY@VERSION (from the installed plugins) or paths to ruleset files.
    Lists are compared with their parents, as the engine sees them, item by item by
    normalised name within a kind. Burden counts come from the caps where a ruleset
    sets them (e.g. assist items 175 → 76), otherwise from the lists.
    \b
    Examples:
      zhunru ruleset diff guangzhou@2016.1 guangzhou@2021.1
      zhunru ruleset diff rulesets/mycity/2024.1.yaml rulesets/mycity/2025.1.yaml --format json
    """
    from zhunru.authoring.diff import diff as compare
    from zhunru.authoring.diff import text

    result = compare(a, b)
    if fmt == "json":
        click.echo(dump_json(result))
    else:
        click.echo("\n".join(text(result, lang)))


@ruleset.command("new", context_settings=CONTEXT)
@click.argument("city")
@click.option("--dir", "base", type=click.Path(path_type=Path), default=Path("rulesets"), show_default=True,
              help="Folder of city folders; CITY/ is created inside it.")
@click.option("--version", "version", metavar="VERSION", help="Version (default: YEAR.1 of --effective-from).")
@click.option("--effective-from", "effective_from", metavar="DATE", help="ISO date (default: today).")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
def new(city, base, version, effective_from, lang):
    """Create a skeleton ruleset for CITY: DIR/CITY/<version>.yaml (extends national, status
    draft), a placeholder sources/policy.txt its clause quotes, and one passing case.

    \b
    Refuses to overwrite an existing folder. The skeleton validates as it is:
      zhunru ruleset new mycity --dir rulesets
      zhunru ruleset validate rulesets/mycity && zhunru ruleset test rulesets/mycity
    """
    from zhunru.authoring.scaffold import new_city

    from .common import parse_date

    made = new_city(city, base, version, parse_date(effective_from, "--effective-from"))
    zh = lang == "zh"
    click.echo(f"{'已创建' if zh else 'Created'} {made.folder}/")
    rows = [(made.ruleset, "规则集骨架（extends national, status draft）", "skeleton ruleset (extends national, draft)"),
            (made.source, "占位政策文本：换成真实文件", "placeholder policy text: replace it with the real document"),
            (made.case, "一个可通过的测试用例", "one passing case"),
            (made.concordance, "对照表：原文每句对应的条款（或不建模的理由）",
             "concordance: each sentence of the source beside its clauses (or why none)")]
    if made.schema:
        rows.append((made.schema, "JSON Schema，供编辑器补全", "JSON Schema for editor completion"))
    for path, zh_text, en_text in rows:
        click.echo(f"  {path}  {zh_text if zh else en_text}")
    click.echo("下一步:" if zh else "Next steps:")
    steps = [
        ("把政策原文放进 sources/，让每条 clause 的 quote 逐字出现在原文中；在 concordance.yaml 中列出原文每个规范性句子",
         "put the policy text in sources/ and make each clause's quote occur in it word for word; list every "
         "normative sentence of it in concordance.yaml"),
        (f"zhunru ruleset validate {made.folder}", f"zhunru ruleset validate {made.folder}"),
        (f"zhunru ruleset test {made.folder}    （或 pytest {base}/）", f"zhunru ruleset test {made.folder}    (or pytest {base}/)"),
        ("生效时把 status 改为 in_force；发布为插件见 examples/zhunru-city-example",
         "set status to in_force when it takes effect; to publish it as a plugin see examples/zhunru-city-example"),
    ]
    for i, (zh_text, en_text) in enumerate(steps, 1):
        click.echo(f"  {i}. {zh_text if zh else en_text}")


@ruleset.command("schema", context_settings=CONTEXT)
def schema():
    """Print the JSON Schema of the ruleset format (for editor completion).

    \b
    Save it next to your rulesets and point the editor at it, e.g. with the YAML
    language server (VS Code "YAML" extension) as the first line of a ruleset:
      zhunru ruleset schema > rulesets/ruleset.schema.json
      # yaml-language-server: $schema=../ruleset.schema.json
    """
    from zhunru.authoring.scaffold import json_schema

    click.echo(json.dumps(json_schema(), ensure_ascii=False, indent=2))


COMMANDS = [ruleset]
