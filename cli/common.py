"""Options every command shares, and reading input files safely."""
from __future__ import annotations

import datetime as dt
import functools
import json
import os
import sys
from collections.abc import Iterator
from typing import BinaryIO

import click

from zhunru.errors import InputError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
EPILOG = ("退出码 Exit codes: 0 完成 done; 1 检查未通过 check failed; 2 输入或用法错误 bad input; "
          "3 --fail-on 命中 outcome hit; 4 决策日志不可用 log unavailable.")
MAX_INPUT_BYTES = 64 * 1024 * 1024  # one request (FILE or -), read whole
MAX_LINE_BYTES = 4 * 1024 * 1024  # one line of a JSON Lines batch, read line by line
BOM = b"\xef\xbb\xbf"


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


def open_input(path: str, what: str = "input") -> BinaryIO:
    """A binary handle on FILE, or standard input for `-` (the caller must not close stdin)."""
    if path == "-":
        return sys.stdin.buffer
    try:
        return open(path, "rb")
    except IsADirectoryError:
        raise InputError(f"{what}: {path} is a directory") from None
    except OSError as exc:
        raise InputError(f"{what}: cannot read {path} ({exc.strerror})") from None


def input_lines(handle: BinaryIO, what: str = "input", limit: int = MAX_LINE_BYTES) -> Iterator[tuple[int, bytes | None]]:
    """(line number, its bytes) for each line of `handle`, in bounded memory.

    Lines end at b"\\n" only (a \\r before it is dropped): never at U+2028, U+2029 or the other
    separators str.splitlines() knows. A UTF-8 BOM at the very start is skipped. A line longer
    than `limit` bytes comes as None, and is never held whole: at most `limit` + a few bytes of
    it are read at once, the rest is read in 1 MiB pieces and dropped."""
    number = 0
    while True:
        cap = limit + 2 + (len(BOM) if number == 0 else 0)  # the line, \r\n, and a BOM on line 1
        try:
            line = handle.readline(cap)
        except OSError as exc:
            raise InputError(f"{what}: cannot read line {number + 1} ({exc.strerror})") from None
        if not line:
            return
        number += 1
        truncated = len(line) == cap and not line.endswith(b"\n")
        if number == 1 and line.startswith(BOM):
            line = line[len(BOM):]
        if line.endswith(b"\n"):
            line = line[:-1]
        if line.endswith(b"\r"):
            line = line[:-1]
        if truncated or len(line) > limit:
            del line
            try:
                while truncated and (piece := handle.readline(1 << 20)) and not piece.endswith(b"\n"):
                    pass
            except OSError as exc:
                raise InputError(f"{what}: cannot read line {number} ({exc.strerror})") from None
            yield number, None
        else:
            yield number, line


def dump_json(value) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)


@functools.cache
def console():
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)
