"""`zhunru plugins`: what is loaded."""
from __future__ import annotations

import click

from .common import CONTEXT, dump_json


@click.command("plugins", context_settings=CONTEXT)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def plugins(fmt):
    """List loaded plugins (entry-point group `zhunru`) and the hooks each implements.

    ZHUNRU_PLUGINS=a,b loads only the named entry points; ZHUNRU_TRACE=1 traces hook calls.
    """
    from zhunru.rulebook.loader import default_registry
    from zhunru.plugins import loaded_plugins

    rows = loaded_plugins()
    if fmt == "json":
        click.echo(dump_json({"plugins": rows, "cities": default_registry().cities()}))
        return
    for row in rows:
        dist = f" ({row['distribution']})" if row["distribution"] else ""
        click.echo(f"{row['name']}{dist}: {', '.join(row['hooks'])}")
    click.echo("cities: " + ", ".join(default_registry().cities()))


COMMANDS = [plugins]
