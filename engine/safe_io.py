"""Reading files that may be hostile: only regular files, never more than a limit.

`stat` is not trusted (a symlink to /dev/zero reports size 0, a FIFO blocks on open): the file
is opened without blocking, checked to be a regular file on the open descriptor (no race with a
swap of the path), and read up to limit + 1 bytes, so a file that grows, lies or never ends
costs at most the limit."""
from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from zhunru.errors import InputError

BLOCK = 1 << 20


def _open_regular(path: str | Path, what: str, error: type[Exception]) -> int:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
                     | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise error(f"{what}: cannot read {path} ({exc.strerror})") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise error(f"{what}: {'' if what == str(path) else f'{path} '}is not a regular file "
                        "(a device, a pipe or a folder)")
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_regular(path: str | Path, limit: int, what: str, error: type[Exception] = InputError) -> bytes:
    """The bytes of regular file `path`; `error` naming `what` if it is not one or holds more than `limit`."""
    fd = _open_regular(path, what, error)
    with os.fdopen(fd, "rb") as handle:
        raw = handle.read(limit + 1)
    if len(raw) > limit:
        raise error(f"{what}: {'' if what == str(path) else f'{path} '}is over the limit of {limit} bytes")
    return raw


def digest_regular(path: str | Path, limit: int, what: str) -> tuple[int, str]:
    """(size, sha256) of regular file `path`, read in blocks, at most `limit` bytes."""
    fd = _open_regular(path, what, InputError)
    digest, size = hashlib.sha256(), 0
    with os.fdopen(fd, "rb") as handle:
        while block := handle.read(BLOCK):
            size += len(block)
            if size > limit:
                raise InputError(f"{what}: {path} is over the limit of {limit} bytes")
            digest.update(block)
    return size, digest.hexdigest()
