"""Options every command shares, and reading input files safely."""
from __future__ import annotations

import datetime as dt
import functools
import json
import os
import sys

import click

from zhunru.errors import InputError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
EPILOG = ("退出码 Exit codes: 0 完成 done; 1 检查未通过 check failed; 2 输入或用法错误 bad input; "
          "3 --fail-on 命中 outcome hit; 4 决策日志不可用 log unavailable.")
MAX_INPUT_BYTES = 64 * 1024 * 1024


def output_options(func):
    """--format and --lang."""
    func = click.option("--lang", type=click.Choice(["zh", "en"]), default=lambda: os.environ.get("ZHUNRU_LANG", "zh"),
                        show_default="zh", help="Language of text output (ZHUNRU_LANG).")(func)
    func = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
                        help="text for people, json for programs.")(func)
    return func


def db_option(func):
    return click.option("--db", "db_url", metavar="URL", envvar="ZHUNRU_DB",
                        help="Decision log: an SQLite path or sqlite:///… or postgresql://… "
                             "(default: log.sqlite in the user data directory; env ZHUNRU_DB).")(func)


def parse_date(value: str | None, name: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{name}: {value!r} is not an ISO date (e.g. 2021-05-01)") from None


def read_input(path: str, what: str = "input", limit: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of FILE or stdin (`-`), refusing anything over `limit` up front."""
    if path == "-":
        data = sys.stdin.buffer.read(limit + 1)
    else:
        try:
            size = os.stat(path).st_size
            if size > limit:
                raise InputError(f"{what}: {path} is {size} bytes, over the limit of {limit}")
            with open(path, "rb") as handle:
                data = handle.read(limit + 1)
        except IsADirectoryError:
            raise InputError(f"{what}: {path} is a directory") from None
        except OSError as exc:
            raise InputError(f"{what}: cannot read {path} ({exc.strerror})") from None
    if len(data) > limit:
        raise InputError(f"{what}: over the limit of {limit} bytes")
    if not data.strip():
        raise InputError(f"{what}: empty input")
    return data


def dump_json(value) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)


@functools.cache
def console():
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)
