"""Signed checkpoints: anchors for the log outside the database (DESIGN.md "Decision log").

A checkpoint is a statement "this log had `count` rows and its last row's hash was `head` at
time `at`", signed with the installation's Ed25519 key (`cryptography`). Kept anywhere outside
the database — printed on a notice or the publication, mailed to the auditor, committed to a
repository — it lets anyone prove later that the log still *extends* it:

- the row at `count` still has hash `head` (a rewrite of any row up to it changes that hash:
  every hash covers the one before it; a truncation or a wipe leaves no such row);
- every row after `count` was written after `at`, and none up to it after `at` (a row slipped
  in later with a back-dated time shows up);
- the signature holds under the key it names, and that key is one the verifier trusts.

Whoever runs the database can rewrite the chain and its head; they cannot rewrite a checkpoint
someone else keeps, nor sign a new one without the key (kept outside the database, 0600).
Checkpoints are also stored in the log's database (table zhunru_checkpoint) so `log verify
--since-checkpoint` can start from the latest one this installation signed instead of row 1.

Version 2 (zhunru-checkpoint/2) also signs `root`, the RFC 6962 Merkle tree hash of the first
`count` rows (merkle.py): with it one entry is proven included by a short audit path (`zhunru
log prove`) instead of the whole log. Its signed text is version 1's with the root as a sixth
line; version 1 checkpoints (no root) still parse and verify as they did, and a version 1 that
names a root is refused (its signature would not cover it). Logs made before version 2 get the
column on their first opening for writing (`add_root_column`); until then readers do without it.
"""
from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlmodel import Field, SQLModel

from zhunru.errors import InputError

VERSION_1 = "zhunru-checkpoint/1"  # count, head, time, key
VERSION = "zhunru-checkpoint/2"  # … and the Merkle root of the first `count` rows
SKEW = dt.timedelta(minutes=10)  # a row's time is taken just before its commit; clocks drift a little
MAX_FILE = 1024 * 1024


class CheckpointRow(SQLModel, table=True):
    __tablename__ = "zhunru_checkpoint"
    id: int | None = Field(default=None, primary_key=True)
    count: int = Field(index=True)
    head: str = Field(max_length=64)
    at: str = Field(max_length=40)
    key: str = Field(max_length=64)
    signature: str = Field(max_length=128)
    root: str | None = Field(default=None, max_length=64)  # version 2; NULL: a version 1 checkpoint


@dataclass(frozen=True)
class Checkpoint:
    count: int
    head: str
    at: str  # ISO time, UTC
    key: str  # the Ed25519 public key, 64 hex digits
    signature: str  # 128 hex digits
    version: str = VERSION_1
    root: str | None = None  # version 2: the Merkle tree hash of rows 1..count, 64 hex digits

    def statement(self) -> bytes:
        """The exact bytes signed: nothing else is trusted."""
        text = f"{self.version}\n{self.count}\n{self.head}\n{self.at}\n{self.key}"
        return (text if self.version == VERSION_1 else f"{text}\n{self.root}").encode()

    def as_dict(self) -> dict:
        out = asdict(self)
        if self.root is None:
            del out["root"]
        return out

    def check_signature(self) -> None:
        """InputError unless the signature holds under the key the checkpoint names."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        try:
            Ed25519PublicKey.from_public_bytes(bytes.fromhex(self.key)).verify(bytes.fromhex(self.signature),
                                                                              self.statement())
        except (InvalidSignature, ValueError):
            raise InputError(f"checkpoint: the signature of the checkpoint at row {self.count} does not hold "
                             "(it was changed, or signed by another key)") from None

    @property
    def time(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.at)


# -- the installation's key ----------------------------------------------------------------------
def key_path() -> Path:
    """ZHUNRU_SIGNING_KEY, else signing.key in the user config directory (beside cache.key)."""
    configured = os.environ.get("ZHUNRU_SIGNING_KEY")
    if configured:
        return Path(configured)
    from platformdirs import user_config_dir

    return Path(user_config_dir("zhunru")) / "signing.key"


def signing_key(create: bool = True):
    """The Ed25519 private key, made (0600) on first use when `create`."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = key_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if not create:
            raise InputError(f"--key: no signing key at {path} (zhunru log checkpoint makes one)") from None
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(pem)
        except FileExistsError:  # another process made it first: use theirs
            return signing_key(create=False)
        except OSError as exc:
            raise InputError(f"--key: cannot write the signing key {path} ({exc.strerror})") from None
        return key
    except OSError as exc:
        raise InputError(f"--key: cannot read the signing key {path} ({exc.strerror})") from None
    try:
        key = serialization.load_pem_private_key(raw, password=None)
    except (ValueError, TypeError):
        raise InputError(f"--key: {path} is not an Ed25519 private key (PEM)") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError(f"--key: {path} is not an Ed25519 private key (PEM)")
    return key


def public_hex(key) -> str:
    from cryptography.hazmat.primitives import serialization

    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def sign(key, count: int, head: str, root: str | None, at: dt.datetime | None = None) -> Checkpoint:
    """A version 2 checkpoint; version 1 (no Merkle root) when `root` is None."""
    at_text = (at or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc).isoformat(timespec="seconds")
    version = VERSION_1 if root is None else VERSION
    unsigned = Checkpoint(count, head, at_text, public_hex(key), "", version, root)
    return Checkpoint(count, head, at_text, unsigned.key, key.sign(unsigned.statement()).hex(), version, root)


def from_row(row) -> Checkpoint:
    """The checkpoint a zhunru_checkpoint row (or a mapping of its columns) holds."""
    get = row.get if isinstance(row, dict) else lambda k: getattr(row, k, None)
    root = get("root")
    return Checkpoint(get("count"), get("head"), get("at"), get("key"), get("signature"),
                      VERSION_1 if root is None else VERSION, root)


def has_root_column(conn) -> bool:
    from sqlalchemy import inspect

    return "root" in {c["name"] for c in inspect(conn).get_columns(CheckpointRow.__tablename__)}


def add_root_column(conn) -> None:
    """Give a log made before version 2 its root column (under the writers' lock). A role that
    may not alter the table (`log protect --app-role`) leaves it to the owner's next opening."""
    from sqlalchemy.exc import SQLAlchemyError

    if has_root_column(conn):
        return
    try:
        with conn.begin_nested():
            conn.exec_driver_sql(f"ALTER TABLE {CheckpointRow.__tablename__} ADD COLUMN root VARCHAR(64)")
    except SQLAlchemyError:
        pass


# -- reading checkpoints kept elsewhere ----------------------------------------------------------
def parse(text: str, where: str = "--against") -> list[Checkpoint]:
    """One checkpoint (JSON), a JSON array of them, or JSON Lines."""
    text = text.strip()
    if not text:
        raise InputError(f"{where}: empty (expected the JSON printed by zhunru log checkpoint)")
    try:
        data = json.loads(text)
        items = data if isinstance(data, list) else [data]
    except json.JSONDecodeError:
        try:
            items = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise InputError(f"{where}: not JSON ({exc.msg}, line {exc.lineno})") from None
    out = []
    for i, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise InputError(f"{where}: checkpoint {i}: not a JSON object")
        try:
            found = Checkpoint(count=item["count"], head=item["head"], at=item["at"], key=item["key"],
                               signature=item["signature"], version=item.get("version", VERSION_1),
                               root=item.get("root"))
        except KeyError as exc:
            raise InputError(f"{where}: checkpoint {i}: missing {exc.args[0]!r}") from None
        if (not isinstance(found.count, int) or isinstance(found.count, bool) or found.count < 0
                or not all(isinstance(v, str) for v in (found.head, found.at, found.key, found.signature))):
            raise InputError(f"{where}: checkpoint {i}: count must be a whole number, the rest text")
        if found.version not in (VERSION_1, VERSION):
            raise InputError(f"{where}: checkpoint {i}: version {found.version!r} is not {VERSION_1!r} or {VERSION!r}")
        if found.version == VERSION_1 and found.root is not None:
            raise InputError(f"{where}: checkpoint {i}: root: a {VERSION_1} checkpoint does not sign a root")
        if found.version == VERSION and not _is_hex(found.root, 64):
            raise InputError(f"{where}: checkpoint {i}: root: 64 hex digits expected (the Merkle root it signs)")
        try:
            found.time
        except ValueError:
            raise InputError(f"{where}: checkpoint {i}: at: {found.at!r} is not an ISO time") from None
        out.append(found)
    return out


def _is_hex(value, digits: int) -> bool:
    return isinstance(value, str) and len(value) == digits and all(c in "0123456789abcdef" for c in value)


def load(source: str, where: str = "--against") -> list[Checkpoint]:
    """Checkpoints from a file, `-` (stdin) or an http(s) URL (at most 1 MiB)."""
    import sys
    import urllib.error
    import urllib.request

    if source.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(source, timeout=30) as response:  # noqa: S310 - http(s) only
                raw = response.read(MAX_FILE + 1)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise InputError(f"{where}: cannot fetch {source} ({getattr(exc, 'reason', exc)})") from None
    elif source == "-":
        raw = sys.stdin.buffer.read(MAX_FILE + 1)
    else:
        path = Path(source)
        try:
            if not path.is_file():
                raise InputError(f"{where}: {source} is not a file")
            with path.open("rb") as handle:  # read at most the limit: a FIFO or /dev/zero cannot hang us
                raw = handle.read(MAX_FILE + 1)
        except OSError as exc:
            raise InputError(f"{where}: cannot read {source} ({exc.strerror})") from None
    if len(raw) > MAX_FILE:
        raise InputError(f"{where}: over {MAX_FILE} bytes: not a checkpoint file")
    try:
        return parse(raw.decode("utf-8-sig"), where)
    except UnicodeDecodeError:
        raise InputError(f"{where}: not UTF-8 text") from None
