"""zhunru command line. Exit codes: 0 done; 1 a check failed (validate, test, verify);
2 bad input or usage; 3 an outcome named by --fail-on; 4 the log cannot be written or read."""
from __future__ import annotations

import os
import sys

import click

from zhunru.errors import InputError

from .common import CONTEXT, EPILOG


class UserError(click.ClickException):
    """An InputError inside click's own error handling, so every way of running the CLI
    (console script, CliRunner, `python -m`) prints the same one line and exit code."""

    def __init__(self, exc: InputError):
        super().__init__(str(exc))
        self.exit_code = exc.exit_code

    def show(self, file=None) -> None:
        click.echo(f"zhunru: error: {self.message}", err=True)


class ZhunruGroup(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except InputError as exc:
            raise UserError(exc) from None


@click.group(cls=ZhunruGroup, context_settings=CONTEXT, epilog=EPILOG)
@click.version_option(package_name="zhunru", prog_name="zhunru")
def cli():
    """准入 zhunru: 社区工作事项准入规则引擎 — community work admission rules engine.

    \b
    A department's request to push work down to communities is evaluated against the city's
    versioned ruleset; every decision cites its clause and the source sentence, and is logged
    in a tamper-evident log.

    \b
    Quick start:
      zhunru evaluate request.json            # decide one request (JSON file or - for stdin)
      zhunru evaluate --batch requests.jsonl  # one decision per line
      zhunru cert check 亲属关系证明 --city bijie
      zhunru ruleset list
      zhunru log verify
      zhunru queue; zhunru approve ID --as ACCOUNT   # the district office's workflow
    Add --format json for programs and --lang en for English.
    """


def _register() -> None:
    """Each module exposes COMMANDS; importing them costs only click (engine imports are lazy)."""
    from . import (certificate, community, evaluate, funding_cmd, logs, plugins_cmd, publish, queue,
                   rulesets, serve, users)

    for module in (evaluate, certificate, rulesets, logs, plugins_cmd,  # the engine and its log
                   community, funding_cmd, queue, publish,  # the district office's workflow
                   serve, users):  # the same over HTTP, and its accounts
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


def main(argv: list[str] | None = None) -> None:
    """Console entry point: one clear line and a fixed exit code for every failure."""
    try:
        code = cli.main(args=argv, prog_name="zhunru", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("zhunru: 已中止 aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except InputError as exc:
        click.echo(f"zhunru: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except (BrokenPipeError, KeyboardInterrupt):
        sys.exit(130)
    except Exception as exc:  # never a traceback for a user; ZHUNRU_DEBUG=1 shows it
        if os.environ.get("ZHUNRU_DEBUG"):
            raise
        click.echo(f"zhunru: internal error: {exc.__class__.__name__}: {str(exc)[:200]} "
                   "(set ZHUNRU_DEBUG=1 for details)", err=True)
        sys.exit(70)
    sys.exit(code or 0)
