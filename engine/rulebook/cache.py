"""A cache of validated rulesets, so a command like `cert check` starts without parsing YAML,
validating the schema or re-checking quotes against the source documents.

The key is the content of a city's ruleset files and of its `sources/`, their paths, and the
zhunru and pydantic versions: any change to any of them is a miss. Entries live in the user's
cache directory (ZHUNRU_CACHE_DIR to move it, ZHUNRU_CACHE=0 to turn it off); a cache that
cannot be read or written is ignored. Pickle is safe here because only this user's zhunru
writes that directory.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from pathlib import Path

KEEP = 64  # entries kept; the oldest go first


def _folder() -> Path | None:
    if os.environ.get("ZHUNRU_CACHE", "1") == "0":
        return None
    configured = os.environ.get("ZHUNRU_CACHE_DIR")
    if configured:
        return Path(configured)
    import platformdirs

    return Path(platformdirs.user_cache_dir("zhunru", appauthor=False)) / "rulesets"


def city_key(files: list[Path]) -> str:
    import pydantic

    from zhunru import __version__

    digest = hashlib.sha256(f"{__version__}|{pydantic.VERSION}".encode())
    sources = sorted({p for f in files for p in (f.parent / "sources").glob("*") if p.is_file()})
    for path in [*files, *sources]:
        digest.update(str(path.resolve()).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def load(key: str):
    folder = _folder()
    if folder is None:
        return None
    try:
        with open(folder / f"{key}.pickle", "rb") as handle:
            return pickle.load(handle)  # noqa: S301 - our own cache, see the module docstring
    except Exception:  # a missing, stale or corrupt entry is a miss
        return None


def store(key: str, value) -> None:
    folder = _folder()
    if folder is None:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, delete=False, suffix=".tmp") as handle:
            pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(handle.name, folder / f"{key}.pickle")  # atomic: readers never see half a file
        entries = sorted(folder.glob("*.pickle"), key=lambda p: p.stat().st_mtime)
        for stale in entries[:-KEEP]:  # edits to rulesets leave old entries behind
            stale.unlink(missing_ok=True)
    except Exception:
        try:
            os.unlink(handle.name)
        except Exception:
            pass
