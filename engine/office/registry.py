"""The community registry (社区名册): every community a district office works with, imported from
CSV, kept in the same database as the decision log (table `zhunru_community`).

A community's `code` identifies it: re-importing a file updates rows by code and never
duplicates them; rows missing from a later file are kept (a registry is not silently shrunk).
Requests name target communities by code or name, or `{"name": "all", "street": …}` /
`{"name": "all", "district": …}`; `resolve_request` fills in their population and households.

Only commands that need the database import this module (it pulls in SQLAlchemy).
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Field, Session, SQLModel, select

from zhunru.errors import InputError
from zhunru.log.store import DecisionLog, LogError, _short
from zhunru.rulebook.normalize import normalize

COLUMNS = ("name", "code", "district", "street", "population", "households")
REQUIRED = ("name", "code", "district", "street")
MAX_CSV_BYTES = 32 * 1024 * 1024
IMPORT_LOCK = 0x7A68756E7231  # PostgreSQL advisory lock: one import at a time
ALL = "all"


class CommunityRow(SQLModel, table=True):
    __tablename__ = "zhunru_community"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(index=True, unique=True, max_length=64)
    name: str = Field(index=True, max_length=200)
    district: str = Field(index=True, max_length=200)
    street: str = Field(index=True, max_length=200)
    population: int | None = None
    households: int | None = None
    updated_at: str = Field(max_length=40)

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in (*COLUMNS, "updated_at")}


@dataclass
class ImportResult:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"added": len(self.added), "updated": len(self.updated), "unchanged": len(self.unchanged),
                "codes": {"added": self.added, "updated": self.updated}}


def _decode(raw: bytes, where: str) -> str:
    # Spreadsheets in Chinese offices save CSV as UTF-8 (often with a BOM) or as GBK/GB18030.
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InputError(f"{where}: not UTF-8 or GB18030 text")


def _count(value: str, row: int, column: str) -> int | None:
    value = value.strip().replace(",", "")
    if not value:
        return None
    if not value.isdigit() or not value.isascii():
        raise InputError(f"row {row}, column {column}: {value!r} is not a whole number ≥ 0")
    return int(value)


def parse_csv(raw: bytes, where: str = "FILE") -> list[dict]:
    """Validate a registry CSV; the first problem raises InputError naming its row and column.
    Row numbers are the file's line numbers as a spreadsheet shows them (the header is row 1)."""
    if len(raw) > MAX_CSV_BYTES:
        raise InputError(f"{where}: {len(raw)} bytes, over the limit of {MAX_CSV_BYTES}")
    reader = csv.reader(io.StringIO(_decode(raw, where), newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise InputError(f"{where}: empty file") from None
    except csv.Error as exc:
        raise InputError(f"{where}: row 1: {exc}") from None
    missing = [c for c in COLUMNS if c not in header]
    unknown = [h for h in header if h not in COLUMNS]
    if missing:
        raise InputError(f"{where}: row 1: missing column(s) {', '.join(missing)} "
                         f"(expected {','.join(COLUMNS)})")
    if unknown:
        raise InputError(f"{where}: row 1: unknown column {unknown[0]!r} (expected {','.join(COLUMNS)})")
    if len(set(header)) != len(header):
        raise InputError(f"{where}: row 1: a column appears twice")
    rows, seen = [], {}
    try:
        for number, values in enumerate(reader, start=2):
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(header):
                raise InputError(f"row {number}: {len(values)} fields, expected {len(header)}")
            cells = dict(zip(header, (v.strip() for v in values)))
            for column in REQUIRED:
                if not cells[column]:
                    raise InputError(f"row {number}, column {column}: empty")
                limit = 64 if column == "code" else 200
                if len(cells[column]) > limit:
                    raise InputError(f"row {number}, column {column}: longer than {limit} characters")
            if cells["name"].lower() == ALL:
                raise InputError(f"row {number}, column name: 'all' is reserved (it means every community)")
            if cells["code"] in seen:
                raise InputError(f"row {number}, column code: {cells['code']!r} already on row {seen[cells['code']]}")
            seen[cells["code"]] = number
            rows.append({**cells, "population": _count(cells["population"], number, "population"),
                         "households": _count(cells["households"], number, "households")})
    except csv.Error as exc:
        raise InputError(f"row {reader.line_num}: {exc}") from None
    if not rows:
        raise InputError(f"{where}: no communities (only a header)")
    return rows


class CommunityRegistry:
    """The registry in the database at `url` (the decision log's database)."""

    def __init__(self, url: str | DecisionLog | None = None):
        self.log = url if isinstance(url, DecisionLog) else DecisionLog(url)
        self.engine = self.log.engine
        try:
            SQLModel.metadata.create_all(self.engine, tables=[CommunityRow.__table__])
        except SQLAlchemyError as exc:
            raise LogError(f"--db: cannot open the registry at {self.log.display_url} ({_short(exc)})") from None

    def close(self) -> None:
        self.log.close()

    # -- writing ---------------------------------------------------------------------------
    def import_rows(self, rows: list[dict]) -> ImportResult:
        """Insert or update by code, all in one transaction."""
        result = ImportResult()
        now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        try:
            with Session(self.engine) as session, session.begin():
                if not self.log.is_sqlite:
                    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": IMPORT_LOCK})
                existing = {r.code: r for r in session.exec(select(CommunityRow)
                                                            .where(CommunityRow.code.in_([x["code"] for x in rows])))}
                for row in rows:
                    old = existing.get(row["code"])
                    if old is None:
                        session.add(CommunityRow(**row, updated_at=now))
                        result.added.append(row["code"])
                    elif any(getattr(old, k) != row[k] for k in COLUMNS):
                        for k in COLUMNS:
                            setattr(old, k, row[k])
                        old.updated_at = now
                        session.add(old)
                        result.updated.append(row["code"])
                    else:
                        result.unchanged.append(row["code"])
        except IntegrityError:
            raise LogError("--db: another import wrote the same codes at the same time; nothing was written, "
                           "run the import again") from None
        except SQLAlchemyError as exc:
            raise LogError(f"--db: could not write the registry at {self.log.display_url} ({_short(exc)}); "
                           "nothing was written") from None
        return result

    def import_csv(self, path: str | Path) -> ImportResult:
        path = Path(path)
        try:
            raw = path.read_bytes()
        except IsADirectoryError:
            raise InputError(f"FILE: {path} is a directory") from None
        except OSError as exc:
            raise InputError(f"FILE: cannot read {path} ({exc.strerror})") from None
        try:
            rows = parse_csv(raw, str(path))
        except InputError as exc:
            message = str(exc)
            raise InputError(message if message.startswith(str(path)) else f"{path}: {message}") from None
        return self.import_rows(rows)

    # -- reading ---------------------------------------------------------------------------
    def list(self, district: str | None = None, street: str | None = None) -> list[CommunityRow]:
        with Session(self.engine) as session:
            query = select(CommunityRow)
            if district:
                query = query.where(CommunityRow.district == district)
            if street:
                query = query.where(CommunityRow.street == street)
            rows = session.exec(query).all()
        # sorted here, not in SQL: the same order on SQLite and on any PostgreSQL collation
        return sorted(rows, key=lambda r: (r.district, r.street, r.code))

    def get(self, code: str) -> CommunityRow | None:
        with Session(self.engine) as session:
            return session.exec(select(CommunityRow).where(CommunityRow.code == code)).first()

    def count(self) -> int:
        with Session(self.engine) as session:
            return session.exec(select(func.count()).select_from(CommunityRow)).one()

    def lookup(self, name: str, district: str | None = None, street: str | None = None) -> list[CommunityRow]:
        """Communities whose code is `name`, else whose name equals it after normalisation
        (NFKC, traditional→simplified, spaces), narrowed by district and street when given."""
        by_code = self.get(name)
        if by_code is not None:
            return [by_code]
        wanted = normalize(name)
        return [r for r in self.list(district, street) if normalize(r.name) == wanted]


# -- requests ---------------------------------------------------------------------------------
def needs_registry(request) -> bool:
    """Whether a request names a community without its numbers, or `all` communities."""
    return any(c.name.lower() == ALL or (c.population is None and c.households is None)
               for c in request.communities)


def _model(row: CommunityRow):
    from zhunru.models import Community

    return Community(name=row.name, code=row.code, district=row.district, street=row.street,
                     population=row.population, households=row.households)


def resolve_communities(registry: CommunityRegistry | None, request):
    """The request with every community the registry can identify filled in from it.

    Communities given with numbers are used as given. Without a registry (or with an empty
    one) a community named without numbers is kept as given, and `all` is an error."""
    empty = registry is None or registry.count() == 0
    resolved, seen = [], set()

    def add(community):
        key = community.code or community.name
        if key not in seen:
            seen.add(key)
            resolved.append(community)

    for i, c in enumerate(request.communities):
        where = f"communities[{i}]"
        if c.name.lower() == ALL:
            if not (c.street or c.district):
                raise InputError(f"{where}: 'all' needs a street or a district, "
                                 'e.g. {"name": "all", "street": "洪山街道"}')
            if empty:
                raise InputError(f"{where}: 'all' needs the community registry; import it first "
                                 "(zhunru community import FILE.csv)")
            rows = registry.list(c.district, c.street)
            if not rows:
                scope = " ".join(x for x in (c.district, c.street) if x)
                raise InputError(f"{where}: no community of {scope} in the registry")
            for row in rows:
                add(_model(row))
            continue
        if c.population is not None or c.households is not None or empty:
            add(c)
            continue
        if c.code:
            row = registry.get(c.code)
            if row is None:
                raise InputError(f"{where}.code: unknown community code {c.code!r} (zhunru community list)")
            add(_model(row))
            continue
        rows = registry.lookup(c.name, c.district, c.street)
        if not rows:
            raise InputError(f"{where}: unknown community {c.name!r} — not in the registry by code or name "
                             "(zhunru community list)")
        if len(rows) > 1:
            codes = ", ".join(f"{r.code} ({r.district} {r.street})" for r in rows[:5])
            raise InputError(f"{where}: {c.name!r} names {len(rows)} communities: {codes}; give its code "
                             "or its district and street")
        add(_model(rows[0]))
    return request.model_copy(update={"communities": resolved})


def configured(db_url: str | None) -> bool:
    """A database is configured (--db / ZHUNRU_DB) or the default log file exists."""
    import os

    if db_url or os.environ.get("ZHUNRU_DB"):
        return True
    from zhunru.log.store import default_url

    path = default_url().split(":///", 1)[1]
    return Path(path).is_file()


def resolve_requests(requests: list, db_url: str | None, labels: list[str] | None = None) -> list:
    """Resolve every request's communities against the registry in `db_url`, if one is
    configured; a problem names the request (`line N: …` in a batch) and the community."""
    if not any(needs_registry(r) for r in requests):
        return requests
    registry = CommunityRegistry(db_url) if configured(db_url) else None
    try:
        out = []
        for i, request in enumerate(requests):
            try:
                out.append(resolve_communities(registry, request) if needs_registry(request) else request)
            except InputError as exc:
                if labels:
                    raise InputError(f"{labels[i]}: {exc}") from None
                raise
        return out
    finally:
        if registry is not None:
            registry.close()
