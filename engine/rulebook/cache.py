"""A cache of validated rulesets and certificate-catalogue snapshots, so a command like
`cert check` starts without parsing YAML, validating the schema or re-checking quotes against
the source documents.

Entries cannot run code: they are JSON, read with `json.loads` and, for rulesets, rebuilt through
the `Ruleset` model (never pickle). Entries cannot lie: each one carries an HMAC-SHA256 of its
kind, its key and its data under a per-user secret key kept outside the cache directory
(`cache.key` in the user config directory, e.g. ~/.config/zhunru/cache.key: 32 random bytes,
created with mode 0600 on first use). An entry whose MAC does not verify, or that does not
parse, is a miss: the caller rebuilds it and it is overwritten. Without a usable key (it cannot
be created or read, or others may read it) there is no cache. Writing to the cache directory is
therefore not enough to make zhunru decide with a forged ruleset.

An entry's key covers the code as well as the data: the source of every module of the installed
zhunru package (`code_hash`), pydantic's version, and the content and paths of a city's ruleset
files and of its `sources/`; a change to any of them is a miss. Entries live in the user's cache
directory (ZHUNRU_CACHE_DIR to move it, ZHUNRU_CACHE=0 to turn it off) as `<kind>-<key>.json`,
written atomically; a cache that cannot be read or written is ignored.

This module is on the fast certificate path: it must not import pydantic or yaml at the top.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import json
import os
import stat
import tempfile
from pathlib import Path

KEEP = 64  # entries kept; the oldest go first
KINDS = ("rulesets", "catalogue")
SECRET_BYTES = 32

# An entry is the JSON object {"mac":"<64 hex>","data":<data>}, written and read as bytes so the MAC
# covers exactly the bytes of <data> that are parsed.
_HEAD = b'{"mac":"'
_MID = b'","data":'
_TAIL = b"}"
_MAC_END = len(_HEAD) + 64
_DATA_START = _MAC_END + len(_MID)
_HEX = frozenset("0123456789abcdef")


def _folder() -> Path | None:
    if os.environ.get("ZHUNRU_CACHE", "1") == "0":
        return None
    configured = os.environ.get("ZHUNRU_CACHE_DIR")
    if configured:
        return Path(configured)
    import platformdirs

    return Path(platformdirs.user_cache_dir("zhunru", appauthor=False)) / "rulesets"


# -- the key of an entry -----------------------------------------------------------------------

@functools.cache
def code_hash() -> str:
    """SHA-256 of the code a cached entry depends on: every `.py` file of the installed zhunru
    package (sorted by path relative to the package; zhunru.cli and zhunru.plugins too when an
    editable install maps them to folders of their own) and pydantic's version (its version.py,
    read without importing pydantic). Computed once per process: 1–2 ms for ~60 files."""
    from importlib.util import find_spec

    import zhunru

    package = Path(zhunru.__file__).resolve().parent
    folders = {"": package}
    for name in ("zhunru.cli", "zhunru.plugins"):
        try:
            spec = find_spec(name)
        except (ImportError, ValueError):
            spec = None
        for location in (spec.submodule_search_locations or []) if spec else []:
            folder = Path(location).resolve()
            if not folder.is_relative_to(package):
                folders[name.split(".", 1)[1] + "/"] = folder
    files: list[tuple[str, str]] = []
    for prefix, folder in folders.items():
        _python_files(str(folder), prefix, files)
    digest = hashlib.sha256(b"zhunru code\0")
    for relative, path in sorted(files):
        with open(path, "rb", buffering=0) as handle:
            digest.update(relative.encode() + b"\0" + handle.readall() + b"\0")
    try:
        spec = find_spec("pydantic")
        version = Path(spec.origin).with_name("version.py").read_bytes() if spec and spec.origin else b"-"
    except (ImportError, ValueError, OSError):
        version = b"-"
    digest.update(b"pydantic\0" + version)
    return digest.hexdigest()


def _python_files(folder: str, prefix: str, found: list[tuple[str, str]]) -> None:
    """(path relative to the package, path) of every .py file under folder (os.scandir: cheap)."""
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.endswith(".py") and entry.is_file():
                found.append((prefix + entry.name, entry.path))
            elif entry.name != "__pycache__" and entry.is_dir():
                _python_files(entry.path, prefix + entry.name + "/", found)


MAX_SOURCE_BYTES = 16 * 1024 * 1024  # a ruleset file or one of its source documents


def city_key(files: list[Path]) -> str:
    """Key of a city's validated rulesets: the code, its ruleset files and their sources."""
    digest = hashlib.sha256(f"rulesets|{code_hash()}".encode())
    from zhunru.errors import RulesetError
    from zhunru.safe_io import read_regular

    sources = sorted({p for f in files for p in (f.parent / "sources").glob("*") if p.is_file()})
    for path in [*files, *sources]:
        raw = read_regular(path, MAX_SOURCE_BYTES, str(path), RulesetError)
        digest.update(str(path.resolve()).encode() + b"\0" + raw + b"\0")
    return digest.hexdigest()


# -- the secret key ----------------------------------------------------------------------------

def key_path() -> Path:
    """Where the per-user secret key is: outside the cache directory, in the user config directory."""
    import platformdirs

    return Path(platformdirs.user_config_dir("zhunru", appauthor=False)) / "cache.key"


_secrets: dict[str, bytes | None] = {}


def secret() -> bytes | None:
    """The per-user key that authenticates entries, created on first use; None: no cache."""
    try:
        path = key_path()
    except Exception:
        return None
    if str(path) not in _secrets:
        _secrets[str(path)] = _read_or_create_secret(path)
    return _secrets[str(path)]


def _read_or_create_secret(path: Path) -> bytes | None:
    try:
        return _read_secret(path)
    except FileNotFoundError:
        pass
    except OSError:
        return None
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    except FileExistsError:  # another process made it first (if it is still writing it: no cache this time)
        try:
            return _read_secret(path)
        except OSError:
            return None
    except OSError:
        return None
    value = os.urandom(SECRET_BYTES)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(value)
    except OSError:
        try:
            path.unlink()
        except OSError:
            pass
        return None
    return value


def _read_secret(path: Path) -> bytes | None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None
        if hasattr(os, "getuid") and (info.st_uid != os.getuid() or info.st_mode & 0o077):
            return None  # a key others may read (or write) authenticates nothing
        value = os.read(fd, SECRET_BYTES + 1)
    finally:
        os.close(fd)
    return value if len(value) == SECRET_BYTES else None


def _mac(key_bytes: bytes, kind: str, key: str, data: bytes) -> bytes:
    message = b"zhunru cache 1\0" + kind.encode() + b"\0" + key.encode() + b"\0" + data
    return hmac.new(key_bytes, message, hashlib.sha256).hexdigest().encode()


# -- entries -----------------------------------------------------------------------------------

def _entry(kind: str, key: str) -> tuple[Path, bytes] | None:
    """The entry's file and the secret key, or None if there is no cache (or a bad kind or key)."""
    if kind not in KINDS or len(key) != 64 or not set(key) <= _HEX:
        return None
    folder = _folder()
    if folder is None:
        return None
    key_bytes = secret()
    if key_bytes is None:
        return None
    return folder / f"{kind}-{key}.json", key_bytes


def load_data(kind: str, key: str):
    """The plain data stored under (kind, key), or None: missing, forged or unparsable is a miss."""
    found = _entry(kind, key)
    if found is None:
        return None
    path, key_bytes = found
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    if not (raw.startswith(_HEAD) and raw[_MAC_END:_DATA_START] == _MID and raw.endswith(_TAIL)):
        return None
    data = raw[_DATA_START:-len(_TAIL)]
    if not hmac.compare_digest(raw[len(_HEAD):_MAC_END], _mac(key_bytes, kind, key, data)):
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


def store_data(kind: str, key: str, value) -> None:
    """Store plain data (dicts, lists, strings, numbers) under (kind, key), atomically."""
    found = _entry(kind, key)
    if found is None:
        return
    path, key_bytes = found
    handle = None
    try:
        data = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".tmp") as handle:
            handle.write(_HEAD + _mac(key_bytes, kind, key, data) + _MID + data + _TAIL)
        os.replace(handle.name, path)  # atomic: readers never see half a file
        _prune(path.parent)
    except Exception:  # an unwritable cache (or unstorable value) is only slower
        if handle is not None:
            try:
                os.unlink(handle.name)
            except OSError:
                pass


def _prune(folder: Path) -> None:
    """Keep the newest KEEP entries: edits to rulesets leave old entries behind. Pickle entries of
    older versions of zhunru are never read; they are removed."""
    def mtime(path: Path) -> float:
        try:
            return path.stat().st_mtime
        except OSError:
            return 0.0

    entries = sorted((p for kind in KINDS for p in folder.glob(f"{kind}-*.json")), key=mtime)
    legacy = [p for p in folder.glob("*.pickle") if len(p.stem) == 64 and set(p.stem) <= _HEX]
    for stale in [*entries[:-KEEP], *legacy]:
        try:
            stale.unlink()
        except OSError:
            pass


# -- validated rulesets ------------------------------------------------------------------------

def load_rulesets(key: str):
    """A city's validated rulesets (list of LoadedRuleset) stored under key, or None (a miss)."""
    data = load_data("rulesets", key)
    if data is None:
        return None
    try:
        from zhunru.rulebook.format import Ruleset
        from zhunru.rulebook.loaded import LoadedRuleset

        return [LoadedRuleset(Ruleset.model_validate(item["ruleset"]), Path(item["path"]), item["sha256"],
                              {str(k): str(v) for k, v in item["parts"].items()})
                for item in data["versions"]]
    except Exception:  # data this code cannot rebuild is a miss
        return None


def store_rulesets(key: str, loaded) -> None:
    """Store a city's validated rulesets: per version its path, its hash, the part of its source
    each clause's quote lies in (LoadedRuleset.parts) and the model as JSON.
    Only the fields set in the file are dumped, so the rebuilt models equal the fresh ones (the
    same values and the same fields set); dates and decimals come back from their JSON strings."""
    try:
        value = {"versions": [{"path": str(item.path), "sha256": item.sha256, "parts": item.parts,
                               "ruleset": item.ruleset.model_dump(mode="json", exclude_unset=True)}
                              for item in loaded]}
    except Exception:
        return
    store_data("rulesets", key, value)
