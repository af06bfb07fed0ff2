"""The ruleset and catalogue cache (engine/rulebook/cache.py) cannot run code and cannot lie:
entries are JSON authenticated with a per-user key kept outside the cache directory, and keyed by
the code as well as the data. Real files in tmp_path; the real CLI where it matters."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import pickle
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from pydantic import BaseModel

import zhunru
from helpers import REPO, run_cli
from zhunru.decide import catalogue
from zhunru.rulebook import cache
from zhunru.rulebook.loader import Registry
from zhunru.rulebook.roots import ruleset_roots

CERT = ("cert", "check", "亲属关系证明", "--city", "bijie", "--as-of", "2021-06-01", "--format", "json")
REQUEST = str(REPO / "examples" / "requests" / "task-assist.json")  # bijie, 社区矫正: admitted as BJ-AS-02
EVALUATE = ("evaluate", REQUEST, "--format", "json", "--no-log")


@pytest.fixture
def where(tmp_path, monkeypatch) -> SimpleNamespace:
    """A cache directory and a user config directory (the key's) of this test, for this process
    and the CLI subprocesses (run_cli passes os.environ on)."""
    monkeypatch.setenv("ZHUNRU_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("ZHUNRU_CACHE", raising=False)
    key = cache.key_path()
    if not key.is_relative_to(tmp_path):
        pytest.skip("platformdirs ignores XDG_CONFIG_HOME on this platform")
    return SimpleNamespace(cache=tmp_path / "cache", key=key)


def cli_json(*args) -> dict:
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def decision(*args) -> dict:
    found = cli_json(*args)
    found.pop("decision_id")
    return found


def entries(folder: Path, kind: str) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(folder.glob(f"{kind}-*.json"))}


def entry_of(folder: Path, kind: str, ruleset_id: str) -> Path:
    """The entry of `kind` whose data names the ruleset `ruleset_id`."""
    found = [p for p in folder.glob(f"{kind}-*.json") if f'"id":"{ruleset_id}"' in p.read_text(encoding="utf-8")]
    assert len(found) == 1, found
    return found[0]


def write_entry(path: Path, data, secret: bytes | None) -> None:
    """An entry in the cache's format, with a MAC under `secret` (a forger's or the real one)."""
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    kind, _, key = path.stem.partition("-")
    message = b"zhunru cache 1\0" + kind.encode() + b"\0" + key.encode() + b"\0" + body
    mac = hmac.new(secret, message, hashlib.sha256).hexdigest().encode()
    path.write_bytes(b'{"mac":"' + mac + b'","data":' + body + b"}")


def rewrite(data, match, change):
    """A copy of plain data with `change` applied to every dict for which `match` holds."""
    if isinstance(data, dict):
        data = {k: rewrite(v, match, change) for k, v in data.items()}
        return change(data) if match(data) else data
    if isinstance(data, list):
        return [rewrite(v, match, change) for v in data]
    return data


def lie_about_bj_as_02(data):
    return rewrite(data, lambda d: d.get("id") == "BJ-AS-02", lambda d: {**d, "text": "伪造的条款。"})


def lie_about_kinship(data):
    return rewrite(data, lambda d: d.get("name") == "亲属关系证明" and "list" in d, lambda d: {**d, "list": "must_issue"})


# -- the format --------------------------------------------------------------------------------

def test_entries_are_authenticated_json_and_the_key_is_private_and_elsewhere(where):
    run_cli(*CERT)
    run_cli(*EVALUATE)
    stored = [*entries(where.cache, "rulesets"), *entries(where.cache, "catalogue")]
    assert len(stored) == 3  # bijie, national, the bijie catalogue on that date
    secret = where.key.read_bytes()
    assert len(secret) == 32 and not where.key.is_relative_to(where.cache)
    assert stat.S_IMODE(where.key.stat().st_mode) == 0o600
    for path in stored:
        raw = path.read_bytes()
        entry = json.loads(raw)
        assert set(entry) == {"mac", "data"}
        kind, _, key = path.stem.partition("-")
        body = raw[raw.index(b'"data":') + len(b'"data":'):-1]
        assert json.loads(body) == entry["data"]
        expected = hmac.new(secret, b"zhunru cache 1\0" + f"{kind}\0{key}\0".encode() + body, hashlib.sha256)
        assert entry["mac"] == expected.hexdigest()
    assert not list(where.cache.glob("*.pickle"))


# -- entries cannot lie ------------------------------------------------------------------------

def test_a_forged_ruleset_entry_is_ignored_and_rewritten(where):
    real = decision(*EVALUATE)
    assert real["outcome"] == "admitted" and "伪造" not in json.dumps(real, ensure_ascii=False)
    path = entry_of(where.cache, "rulesets", "bijie")
    good = path.read_bytes()
    lie = lie_about_bj_as_02(json.loads(good)["data"])
    assert lie != json.loads(good)["data"]

    # the control: signed with the user's key, the lie is what the engine believes
    write_entry(path, lie, where.key.read_bytes())
    assert "伪造的条款" in decision(*EVALUATE)["reasons"][0]["message"]

    forgeries = {
        "another key": lambda: write_entry(path, lie, os.urandom(32)),
        "no MAC": lambda: path.write_text(json.dumps({"data": lie}, ensure_ascii=False), encoding="utf-8"),
        "the MAC of the true entry": lambda: path.write_bytes(
            good[:good.index(b'"data":')] + b'"data":' + json.dumps(lie, ensure_ascii=False,
                                                                     separators=(",", ":")).encode() + b"}"),
        "not JSON": lambda: path.write_bytes(good[:len(good) // 2]),
        "a pickle": lambda: path.write_bytes(pickle.dumps(lie)),
    }
    for name, plant in forgeries.items():
        plant()
        assert decision(*EVALUATE) == real, name
        assert path.read_bytes() == good, f"{name}: the entry is rebuilt and overwritten"


def test_a_forged_catalogue_snapshot_is_ignored_and_rewritten(where):
    real = cli_json(*CERT)
    assert real["verdict"] == "must_not_issue"
    (path,) = entries(where.cache, "catalogue")
    good = path.read_bytes()
    lie = lie_about_kinship(json.loads(good)["data"])

    write_entry(path, lie, where.key.read_bytes())  # the control: a snapshot the fast path answers from
    assert cli_json(*CERT)["verdict"] == "must_issue"

    for secret in (os.urandom(32), b""):
        write_entry(path, lie, secret)
        assert cli_json(*CERT) == real
        assert path.read_bytes() == good
    path.write_text(json.dumps(lie, ensure_ascii=False), encoding="utf-8")  # plain JSON, no MAC
    assert cli_json(*CERT) == real
    assert path.read_bytes() == good


def test_an_entry_moved_to_another_key_is_a_miss(where):
    """The MAC covers the entry's kind and key: a true entry for another date, or another city,
    is not an answer for this one."""
    other = ("cert", "check", "亲属关系证明", "--city", "bijie", "--as-of", "2021-06-02", "--format", "json")
    cli_json(*CERT)
    first = set(entries(where.cache, "catalogue"))
    cli_json(*other)
    (second,) = set(entries(where.cache, "catalogue")) - first
    (first,) = first
    lie = lie_about_kinship(json.loads(first.read_bytes())["data"])
    write_entry(first, lie, where.key.read_bytes())
    shutil.copyfile(first, second)
    assert cli_json(*other)["verdict"] == "must_not_issue"
    assert cache.load_data("catalogue", second.stem.partition("-")[2])["entries"] != lie["entries"]
    # and a rulesets entry is not catalogue data
    key = first.stem.partition("-")[2]
    write_entry(where.cache / f"rulesets-{key}.json", lie, where.key.read_bytes())
    assert cache.load_rulesets(key) is None


def test_a_key_others_can_read_turns_the_cache_off(where):
    where.key.parent.mkdir(parents=True)
    where.key.write_bytes(os.urandom(32))
    where.key.chmod(0o644)
    assert cli_json(*CERT)["verdict"] == "must_not_issue"
    assert decision(*EVALUATE)["outcome"] == "admitted"
    assert not list(where.cache.glob("rulesets-*")) and not list(where.cache.glob("catalogue-*"))


def test_no_key_no_cache(where):
    where.key.parent.parent.mkdir(parents=True)
    where.key.parent.write_text("a file where the config folder should be")  # the key cannot be made
    assert cli_json(*CERT)["verdict"] == "must_not_issue"
    assert decision(*EVALUATE)["outcome"] == "admitted"
    assert not list(where.cache.glob("rulesets-*")) and not list(where.cache.glob("catalogue-*"))


# -- entries cannot run code -------------------------------------------------------------------

class Payload:
    """Unpickling this creates a file: proof that a pickle was loaded."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def old_city_key(files: list[Path]) -> str:
    """The key under which zhunru ≤ 0.1.0 read `<key>.pickle` for a city's rulesets."""
    import pydantic

    digest = hashlib.sha256(f"{zhunru.__version__}|{pydantic.VERSION}".encode())
    sources = sorted({p for f in files for p in (f.parent / "sources").glob("*") if p.is_file()})
    for path in [*files, *sources]:
        digest.update(str(path.resolve()).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def old_snapshot_key(city: str, on: dt.date) -> str:
    digest = hashlib.sha256(f"catalogue|{zhunru.__version__}|{city}|{on.isoformat()}".encode())
    for root in ruleset_roots():
        if root.is_dir():
            for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix != ".pyc"):
                digest.update(str(path).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def test_a_planted_pickle_is_never_loaded(where, tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(Payload(marker))
    registry = Registry(ruleset_roots())
    keys = [old_city_key(registry._files[c]) for c in ("bijie", "national")]
    keys += [cache.city_key(registry._files[c]) for c in ("bijie", "national")]
    keys += [old_snapshot_key("bijie", dt.date(2019, 6, 1)), catalogue.snapshot_key("bijie", dt.date(2019, 6, 1))]
    where.cache.mkdir()
    for key in keys:
        (where.cache / f"{key}.pickle").write_bytes(payload)
        (where.cache / f"rulesets-{key}.pickle").write_bytes(payload)

    assert cli_json(*CERT)["verdict"] == "must_not_issue"
    assert cli_json(*CERT)["verdict"] == "must_not_issue"  # the fast path
    assert decision(*EVALUATE)["outcome"] == "admitted"
    assert not marker.exists()
    assert not [p for p in where.cache.glob("*.pickle") if len(p.stem) == 64], "old entries are removed"
    pickle.loads(payload)  # the control: this payload does run when unpickled
    assert marker.exists()


# -- keyed by the code -------------------------------------------------------------------------

def test_an_entry_is_keyed_by_the_code(where, monkeypatch):
    built = []
    parse = Registry._load_city
    monkeypatch.setattr(Registry, "_load_city", lambda self, city: built.append(city) or parse(self, city))
    loaded = Registry(ruleset_roots()).versions("national")
    assert Registry(ruleset_roots()).versions("national") == loaded
    assert built == ["national"] and len(entries(where.cache, "rulesets")) == 1, "the second load is a hit"

    files = Registry(ruleset_roots())._files["national"]
    key = cache.city_key(files)
    snapshot = catalogue.snapshot_key("national", dt.date(2021, 1, 1))
    monkeypatch.setattr(cache, "code_hash", lambda: "1" * 64)  # as after an edit of the validation code
    assert cache.city_key(files) != key
    assert catalogue.snapshot_key("national", dt.date(2021, 1, 1)) != snapshot
    assert Registry(ruleset_roots()).versions("national") == loaded
    assert built == ["national", "national"], "other code, another key: a miss"
    assert len(entries(where.cache, "rulesets")) == 2


def test_the_code_hash_covers_every_module_and_is_cheap(tmp_path, monkeypatch):
    package = Path(zhunru.__file__).parent
    copy = tmp_path / "zhunru"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(zhunru, "__file__", str(copy / "__init__.py"))
    compute = cache.code_hash.__wrapped__
    before = compute()
    assert compute() == before
    module = copy / "rulebook" / "checks.py"
    module.write_text(module.read_text(encoding="utf-8") + "\n# a change\n", encoding="utf-8")
    assert compute() != before
    (copy / "rulebook" / "checks.py").write_bytes((package / "rulebook" / "checks.py").read_bytes())
    assert compute() == before
    (copy / "rulebook" / "notes.txt").write_text("not code")
    assert compute() == before
    monkeypatch.undo()

    start = time.perf_counter()
    for _ in range(10):
        compute()
    per_call = (time.perf_counter() - start) / 10
    assert per_call < 0.05, f"code_hash takes {per_call * 1000:.1f} ms"  # ~2 ms; memoised per process


def test_the_fast_path_needs_no_pydantic(where):
    """With the key and the code hash, a warm `cert check` still imports neither pydantic nor yaml."""
    probe = ("import sys; from zhunru.cli import main; sys.argv = ['zhunru', *sys.argv[1:]]\n"
             "try:\n    main()\nexcept SystemExit:\n    pass\n"
             "print(sorted(m for m in ('pydantic', 'yaml', 'sqlalchemy') if m in sys.modules), file=sys.stderr)")
    for expected in ("['pydantic', 'yaml']", "[]"):
        result = subprocess.run([sys.executable, "-c", probe, *CERT], capture_output=True, text=True,
                                env=dict(os.environ), timeout=120)
        assert result.returncode == 0 and result.stderr.strip().endswith(expected), result.stderr


# -- cached and fresh agree --------------------------------------------------------------------

def fields_set(model, at: str = "$") -> dict:
    """Every nested model's type and fields set: a lossless copy has the same."""
    found = {}
    if isinstance(model, BaseModel):
        found[at] = (type(model).__name__, frozenset(model.model_fields_set))
        for name, value in model.__dict__.items():
            found.update(fields_set(value, f"{at}.{name}"))
    elif isinstance(model, (list, tuple)):
        for i, value in enumerate(model):
            found.update(fields_set(value, f"{at}[{i}]"))
    elif isinstance(model, dict):
        for name, value in model.items():
            found.update(fields_set(value, f"{at}[{name}]"))
    return found


@pytest.mark.parametrize("city", Registry(ruleset_roots()).cities())
def test_cached_and_fresh_loads_agree(city, where, monkeypatch):
    monkeypatch.setenv("ZHUNRU_CACHE", "0")
    fresh = Registry(ruleset_roots()).versions(city)
    monkeypatch.delenv("ZHUNRU_CACHE")
    assert not where.cache.exists()
    Registry(ruleset_roots()).versions(city)  # stores
    (path,) = entries(where.cache, "rulesets")
    monkeypatch.setattr(Registry, "_load_city", lambda self, c: pytest.fail("not from the cache"))
    cached = Registry(ruleset_roots()).versions(city)
    assert cached == fresh
    for a, b in zip(fresh, cached, strict=True):
        assert (a.path, a.sha256) == (b.path, b.sha256)
        assert repr(a.ruleset) == repr(b.ruleset)  # the same types too: dates, Decimals
        assert a.ruleset.model_dump() == b.ruleset.model_dump()
        assert fields_set(a.ruleset) == fields_set(b.ruleset)


# -- off ---------------------------------------------------------------------------------------

def test_zhunru_cache_0_writes_nothing(where, monkeypatch):
    monkeypatch.setenv("ZHUNRU_CACHE", "0")
    assert cli_json(*CERT)["verdict"] == "must_not_issue"
    assert cli_json(*CERT)["verdict"] == "must_not_issue"
    assert decision(*EVALUATE)["outcome"] == "admitted"
    assert not where.cache.exists()
    assert not where.key.exists(), "no cache, no key either"
