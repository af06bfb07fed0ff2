"""`zhunru ruleset …`: list, show, validate, test, schema."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .common import CONTEXT, dump_json, output_options


@click.group("ruleset", context_settings=CONTEXT)
def ruleset():
    """Rulesets (规则集): list, inspect, validate and test them.

    \b
    A ruleset is YAML under rulesets/<city>/<version>.yaml; it extends `national` and every
    clause quotes its source. A city's CI runs:
      zhunru ruleset validate rulesets/      # exit 1 with one line per problem
      zhunru ruleset test rulesets/          # runs <city>/cases/*.yaml
    """


@ruleset.command("list", context_settings=CONTEXT)
@output_options
def list_(fmt, lang):
    """List every city and version the loaded plugins provide."""
    from zhunru.loader import default_registry

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
@output_options
def show(ref, fmt, lang):
    """Show a ruleset: metadata and the size and coverage of each list."""
    from zhunru.book import LISTS
    from zhunru.loader import default_registry

    item = default_registry().by_ref(ref)
    r = item.ruleset
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
    if r.note:
        click.echo(f"  note: {r.note}")
    click.echo(f"  sha256 {item.sha256}")


@ruleset.command("validate", context_settings=CONTEXT)
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def validate(path, fmt):
    """Validate ruleset files: a file, a city folder, or a folder of cities.

    \b
    Checks the schema, unique clause ids, that every {document, quote} occurs verbatim in a
    file under the ruleset's sources/, contradicting lists (duty and negative, must and
    must_not), caps, overlapping versions of a city, extends cycles or missing parents,
    references to unknown clauses, and names or aliases that collide after normalisation.
    Exit 0 when valid; 1 with one line per problem: FILE: CLAUSE: what is wrong.
    """
    from zhunru.validate import validate_path

    problems, count = validate_path(path)
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
    from zhunru.casetest import run_path

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


@ruleset.command("schema", context_settings=CONTEXT)
def schema():
    """Print the JSON Schema of the ruleset format (for editor completion)."""
    from zhunru.ruleset import Ruleset

    click.echo(json.dumps(Ruleset.model_json_schema(), ensure_ascii=False, indent=2))


COMMANDS = [ruleset]
