"""The community registry (社区名册): every community a district office works with, imported from
CSV or XLSX, edited and retired one by one, kept in the same database as the decision log (table
`zhunru_community`), with every change recorded (table `zhunru_community_change`).

A community's `code` identifies it: re-importing a file updates rows by code and never
duplicates them; rows missing from a later file are kept (a registry is not silently shrunk).
A retired community (`retired_at`, a date) stays in the table, so old log rows still read it,
but from that date it is offered for no new request, and a request naming it is an error.
Requests name target communities by code or name, or `{"name": "all", "street": …}` /
`{"name": "all", "district": …}`; `resolve_communities` fills in their population and households.

Every change — each community an import adds, each field an import or an edit changes, each
retirement and its undoing — is a row of `zhunru_community_change` (who, when, the old and the
new value), written in the transaction that makes the change: both or neither. Each operation
(a whole import, an edit, a retirement, its undoing) is also one `registry_change` entry of the
decision log's hash chain, written in that same transaction under the chain's lock, and its
change rows carry that entry's row (`entry_seq`): `zhunru log verify` checks that the tables
agree with the chain, `zhunru log rebuild` writes them again from it (log/beside.py).

Only commands that need the database import this module (it pulls in SQLAlchemy).
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import unicodedata
import weakref
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from sqlalchemy import Column, String, func, insert, inspect, or_, text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import deferred, undefer
from sqlmodel import Field, Session, SQLModel, select
from zhunru.errors import InputError
from zhunru.log import beside
from zhunru.log.store import DecisionLog, LogError, _short
from zhunru.models import MAX_COUNT
from zhunru.office.accounts import Forbidden
from zhunru.rulebook.normalize import normalize

COLUMNS = ("name", "code", "district", "street", "population", "households")
REQUIRED = ("name", "code", "district", "street")
EDITABLE = ("name", "district", "street", "population", "households")  # the code is the identity
COUNTS = ("population", "households")
COLUMN_ZH = {"name": "名称", "code": "代码", "district": "区县", "street": "街道", "population": "人口",
             "households": "户数"}
# Chinese headers a spreadsheet may carry (compared after NFKC: full-width brackets are plain)
HEADER_ALIASES = {"名称": "name", "社区名称": "name", "社区": "name", "代码": "code", "社区代码": "code",
                  "编码": "code", "社区编码": "code", "区县": "district", "区(县)": "district", "区/县": "district",
                  "所属区县": "district", "街道": "street", "所属街道": "street", "街道(乡镇)": "street",
                  "人口": "population", "人口数": "population", "常住人口": "population", "户数": "households"}
TEMPLATE_HEADER = ("社区名称", "社区代码", "区县", "街道", "人口", "户数")
MAX_CSV_BYTES = 32 * 1024 * 1024  # any registry file, CSV or XLSX
MAX_ROWS = 100_000  # communities in one file
MAX_XLSX_UNPACKED = 160 * 1024 * 1024  # what the parts of one XLSX may unpack to, all together
MAX_XLSX_PARTS = 2_000
IMPORT_LOCK = 0x7A68756E7231  # PostgreSQL advisory lock: one registry write at a time
ALL = "all"
XLSX_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls, or an encrypted .xlsx
IN_CHUNK = 500  # codes per `IN (…)` when reading existing rows


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
    # Added after the table's first release (upgraded in place by `_ensure_schema`). Deferred, so
    # a plain `select(CommunityRow)` elsewhere (the queue's district lookup) reads a database not
    # yet upgraded; this module always loads it (`undefer`) and writes it with Core statements.
    retired_at: ClassVar = deferred(Column("retired_at", String(10), nullable=True))

    def as_dict(self) -> dict:
        return {**{k: getattr(self, k) for k in (*COLUMNS, "updated_at")}, "retired_at": self.retired_at}

    def retired_on(self, day: dt.date) -> bool:
        """Retired on or before `day` (a retirement dated later has not happened yet)."""
        return self.retired_at is not None and self.retired_at <= day.isoformat()


class CommunityChange(SQLModel, table=True):
    """One recorded change of the registry: never updated, never deleted."""
    __tablename__ = "zhunru_community_change"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(index=True, max_length=64)
    district: str | None = Field(default=None, index=True, max_length=200)  # the community's, after the change
    action: str = Field(max_length=16)  # import | edit | retire | restore
    field: str | None = Field(default=None, max_length=32)  # None: the whole community (added by an import)
    old_value: str | None = Field(default=None, max_length=2000)
    new_value: str | None = Field(default=None, max_length=2000)
    actor: str = Field(max_length=200)  # an account's name, or console:<os user>
    at: str = Field(index=True, max_length=40)
    # the log row (registry_change entry) that records this change; NULL: recorded before the
    # chain recorded the registry (its baseline entry holds a digest of those rows)
    entry_seq: int | None = Field(default=None, index=True)

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("id", "code", "district", "action", "field", "old_value", "new_value",
                                              "actor", "at")}



class RegistryError(InputError):
    """A registry input that cannot be used: `str()` is the English line (CLI), `zh` the same in
    Chinese (pages); `field` is the field it names, when it names one."""

    def __init__(self, message: str, zh: str | None = None, field: str | None = None):
        super().__init__(message)
        self.zh = zh or message
        self.field = field

    def prefixed(self, en: str, zh: str | None = None) -> RegistryError:
        return RegistryError(f"{en}: {self}", f"{zh or en}:{self.zh}", self.field)


class UnknownCommunity(RegistryError):
    """A code that names no community of the registry (HTTP 404)."""


class OutOfScope(Forbidden):
    """An approver acting on a community outside its district (HTTP 403; exit 2 on the console)."""

    def __init__(self, message: str, zh: str):
        super().__init__(message)
        self.zh = zh


@dataclass
class ImportResult:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"added": len(self.added), "updated": len(self.updated), "unchanged": len(self.unchanged),
                "codes": {"added": self.added, "updated": self.updated}}


def console_actor() -> str:
    """Who acts on the console: `console:<os user>`."""
    import getpass

    try:
        return f"console:{getpass.getuser()}"
    except (KeyError, OSError, ImportError):  # a container user with no passwd entry
        return "console:unknown"


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def today() -> dt.date:
    from zhunru.office.workdays import today_in_china

    return today_in_china()


# -- reading files ------------------------------------------------------------------------------
def _decode(raw: bytes, where: str) -> str:
    # Spreadsheets in Chinese offices save CSV as UTF-8 (often with a BOM) or as GBK/GB18030.
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise RegistryError(f"{where}: not UTF-8 or GB18030 text", f"{where}:文件不是 UTF-8 或 GB18030 编码的文本")


def _cell_zh(row: int, column: str, letter: str | None = None) -> str:
    return f"第 {row} 行{f' {letter} 列' if letter else ''}“{COLUMN_ZH.get(column, column)}”"


def _count(value: str, row: int, column: str, letter: str | None = None) -> int | None:
    value = value.strip().replace(",", "")
    if not value:
        return None
    if not value.isdigit() or not value.isascii():
        raise RegistryError(f"row {row}, column {column}: {value!r} is not a whole number ≥ 0",
                            f"{_cell_zh(row, column, letter)}:“{value[:40]}”不是大于等于 0 的整数", column)
    if len(value) > 10 or int(value) > MAX_COUNT:  # what every backend stores as an integer
        raise RegistryError(f"row {row}, column {column}: {value[:20]!r} is more than {MAX_COUNT}",
                            f"{_cell_zh(row, column, letter)}:“{value[:20]}”超过 {MAX_COUNT}", column)
    return int(value)


def _header_key(value: str) -> str:
    key = unicodedata.normalize("NFKC", value).strip().lower()
    return HEADER_ALIASES.get(key.replace(" ", ""), key)


def _check_header(header: list[str], where: str) -> None:
    expected = ",".join(COLUMNS)
    hint = "名称,代码,区县,街道,人口,户数(或 name,code,district,street,population,households)"
    missing = [c for c in COLUMNS if c not in header]
    unknown = [h for h in header if h not in COLUMNS]
    if missing:
        raise RegistryError(f"{where}: row 1: missing column(s) {', '.join(missing)} (expected {expected})",
                            f"{where}:第 1 行(表头)缺少列:{'、'.join(COLUMN_ZH[c] for c in missing)}(应为 {hint})")
    if unknown:
        raise RegistryError(f"{where}: row 1: unknown column {unknown[0]!r} (expected {expected})",
                            f"{where}:第 1 行(表头)有不认识的列“{unknown[0][:40]}”(应为 {hint})")
    if len(set(header)) != len(header):
        raise RegistryError(f"{where}: row 1: a column appears twice", f"{where}:第 1 行(表头)有重复的列")


def _check_row(cells: dict, number: int, seen: dict, letters: dict | None = None) -> dict:
    """The row's values checked: required text, lengths, the reserved name, a code seen once."""
    letters = letters or {}
    for column in REQUIRED:
        if not cells[column]:
            raise RegistryError(f"row {number}, column {column}: empty",
                                f"{_cell_zh(number, column, letters.get(column))}:不能为空", column)
        limit = 64 if column == "code" else 200
        if len(cells[column]) > limit:
            raise RegistryError(f"row {number}, column {column}: longer than {limit} characters",
                                f"{_cell_zh(number, column, letters.get(column))}:超过 {limit} 个字符", column)
    if cells["name"].lower() == ALL:
        raise RegistryError(f"row {number}, column name: 'all' is reserved (it means every community)",
                            f"{_cell_zh(number, 'name', letters.get('name'))}:“all”是保留字(表示全部社区)", "name")
    if cells["code"] in seen:
        raise RegistryError(f"row {number}, column code: {cells['code']!r} already on row {seen[cells['code']]}",
                            f"{_cell_zh(number, 'code', letters.get('code'))}:代码“{cells['code']}”"
                            f"与第 {seen[cells['code']]} 行重复", "code")
    seen[cells["code"]] = number
    return cells


def _too_many(where: str, number: int) -> RegistryError:
    return RegistryError(f"{where}: row {number}: more than {MAX_ROWS} communities in one file; split it",
                         f"{where}:第 {number} 行:一个文件最多 {MAX_ROWS} 个社区,请分成几个文件导入")


def _parse_csv(raw: bytes, where: str) -> tuple[list[dict], list[int]]:
    if len(raw) > MAX_CSV_BYTES:
        raise RegistryError(f"{where}: {len(raw)} bytes, over the limit of {MAX_CSV_BYTES}",
                            f"{where}:文件有 {len(raw)} 字节,超过上限 {MAX_CSV_BYTES} 字节")
    reader = csv.reader(io.StringIO(_decode(raw, where), newline=""))
    try:
        header = [_header_key(h) for h in next(reader)]
    except StopIteration:
        raise RegistryError(f"{where}: empty file", f"{where}:文件是空的") from None
    except csv.Error as exc:
        raise RegistryError(f"{where}: row 1: {exc}", f"{where}:第 1 行无法读取({exc})") from None
    _check_header(header, where)
    rows, numbers, seen = [], [], {}
    try:
        for number, values in enumerate(reader, start=2):
            if not any(v.strip() for v in values):
                continue
            if len(rows) >= MAX_ROWS:
                raise _too_many(where, number)
            if len(values) != len(header):
                raise RegistryError(f"row {number}: {len(values)} fields, expected {len(header)}",
                                    f"第 {number} 行有 {len(values)} 列,表头有 {len(header)} 列")
            cells = _check_row(dict(zip(header, (v.strip() for v in values))), number, seen)
            rows.append({**cells, "population": _count(cells["population"], number, "population"),
                         "households": _count(cells["households"], number, "households")})
            numbers.append(number)
    except csv.Error as exc:
        raise RegistryError(f"row {reader.line_num}: {exc}", f"第 {reader.line_num} 行无法读取({exc})") from None
    if not rows:
        raise RegistryError(f"{where}: no communities (only a header)", f"{where}:只有表头,没有社区")
    return rows, numbers


def parse_csv(raw: bytes, where: str = "FILE") -> list[dict]:
    """Validate a registry CSV; the first problem raises InputError naming its row and column.
    Row numbers are the file's line numbers as a spreadsheet shows them (the header is row 1)."""
    return _parse_csv(raw, where)[0]


def _not_xlsx(where: str, why: str, zh: str) -> RegistryError:
    return RegistryError(f"{where}: not a readable XLSX workbook ({why})", f"{where}:不是可以读取的 XLSX 工作簿({zh})")


def _xlsx_text(value) -> str:
    """A cell as the text a CSV would hold: whole floats without their `.0`, dates as ISO."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    text_value = str(value)
    return "".join(c for c in text_value if c in "\t\n" or ord(c) >= 32).strip()


def _xlsx_count(value, row: int, column: str, letter: str) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, (bool, dt.datetime, dt.date, dt.time)):
        shown = _xlsx_text(value)
        raise RegistryError(f"row {row}, column {column}: {shown!r} is not a whole number ≥ 0",
                            f"{_cell_zh(row, column, letter)}:“{shown[:40]}”不是大于等于 0 的整数", column)
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not value.is_integer() or value < 0 or value >= 10 ** 12:
            raise RegistryError(f"row {row}, column {column}: {value!r} is not a whole number ≥ 0",
                                f"{_cell_zh(row, column, letter)}:“{value}”不是大于等于 0 的整数", column)
        return int(value)
    return _count(_xlsx_text(value), row, column, letter)


def _letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index + 1)


def _parse_xlsx(raw: bytes, where: str) -> tuple[list[dict], list[int]]:
    """The first sheet of an XLSX workbook, read like a CSV: the first non-empty row is the
    header, row numbers are the sheet's. The zip is checked before openpyxl opens it (its parts
    may unpack to at most MAX_XLSX_UNPACKED bytes), and anything openpyxl cannot read is one line."""
    import warnings

    if len(raw) > MAX_CSV_BYTES:
        raise RegistryError(f"{where}: {len(raw)} bytes, over the limit of {MAX_CSV_BYTES}",
                            f"{where}:文件有 {len(raw)} 字节,超过上限 {MAX_CSV_BYTES} 字节")
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise _not_xlsx(where, "a damaged or incomplete zip file", "压缩包已损坏或不完整") from None
    if len(parts) > MAX_XLSX_PARTS:
        raise _not_xlsx(where, f"{len(parts)} parts, more than {MAX_XLSX_PARTS}", f"包含 {len(parts)} 个部件,过多")
    unpacked = sum(p.file_size for p in parts)
    if unpacked > MAX_XLSX_UNPACKED:
        raise _not_xlsx(where, f"it unpacks to {unpacked} bytes, over the limit of {MAX_XLSX_UNPACKED}",
                        f"解压后有 {unpacked} 字节,超过上限 {MAX_XLSX_UNPACKED} 字节")
    if not any(p.filename == "xl/workbook.xml" for p in parts):
        raise _not_xlsx(where, "a zip file without xl/workbook.xml", "压缩包中没有 xl/workbook.xml")
    rows, numbers, seen = [], [], {}
    book = None
    try:
        with warnings.catch_warnings():  # openpyxl warns about styles and extensions it skips
            warnings.simplefilter("ignore")
            from openpyxl import load_workbook

            book = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
            sheets = book.worksheets
            if not sheets:
                raise _not_xlsx(where, "no worksheet", "没有工作表")
            sheet = sheets[0]
            if not hasattr(sheet, "iter_rows"):
                raise _not_xlsx(where, "its first sheet is not a worksheet", "第一个工作表不是数据表")
            sheet.reset_dimensions()  # the stored dimension may be wrong: read to the last row
            header: list[str] | None = None
            header_row = 0
            letters: dict[str, str] = {}
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                if not any(_xlsx_text(v) for v in values):
                    continue
                if header is None:
                    cells = [_xlsx_text(v) for v in values]
                    while cells and not cells[-1]:
                        cells.pop()
                    if "" in cells:
                        raise RegistryError(
                            f"{where}: row {number}, column {_letter(cells.index(''))}: an empty header",
                            f"{where}:第 {number} 行(表头)第 {_letter(cells.index(''))} 列为空")
                    header, header_row = [_header_key(c) for c in cells], number
                    try:
                        _check_header(header, where)
                    except RegistryError as exc:
                        if number == 1:
                            raise
                        raise RegistryError(str(exc).replace("row 1:", f"row {number}:"),
                                            exc.zh.replace("第 1 行", f"第 {number} 行")) from None
                    letters = {c: _letter(i) for i, c in enumerate(header)}
                    continue
                if len(rows) >= MAX_ROWS:
                    raise _too_many(where, number)
                extra = [i for i, v in enumerate(values) if i >= len(header) and _xlsx_text(v)]
                if extra:
                    raise RegistryError(f"row {number}, column {_letter(extra[0])}: a value beyond the header's columns",
                                        f"第 {number} 行 {_letter(extra[0])} 列:表头没有这一列,却填了内容")
                padded = list(values[:len(header)]) + [None] * (len(header) - len(values))
                raw_cells = dict(zip(header, padded))
                cells = {c: _xlsx_text(raw_cells[c]) for c in REQUIRED}
                _check_row(cells, number, seen, letters)
                rows.append({**cells,
                             "population": _xlsx_count(raw_cells["population"], number, "population",
                                                       letters["population"]),
                             "households": _xlsx_count(raw_cells["households"], number, "households",
                                                       letters["households"])})
                numbers.append(number)
    except InputError:
        raise
    except MemoryError:
        raise _not_xlsx(where, "too large to read", "过大,无法读取") from None
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a broken file: one line, never a traceback
        reason = " ".join(str(exc).split())[:120] or type(exc).__name__
        raise _not_xlsx(where, reason, "文件已损坏,或不是 Excel 保存的 .xlsx") from None
    finally:
        if book is not None:
            book.close()
    if header is None:
        raise RegistryError(f"{where}: empty file (the first sheet has no rows)", f"{where}:第一个工作表是空的")
    if not rows:
        raise RegistryError(f"{where}: no communities (only a header)", f"{where}:只有表头(第 {header_row} 行),没有社区")
    return rows, numbers


def parse_xlsx(raw: bytes, where: str = "FILE") -> list[dict]:
    """Validate a registry XLSX workbook (its first sheet), as `parse_csv` does a CSV."""
    return _parse_xlsx(raw, where)[0]


def parse_file(raw: bytes, where: str = "FILE", name: str | None = None) -> tuple[list[dict], list[int]]:
    """The rows of a registry file and their row numbers, CSV or XLSX chosen by content (an XLSX
    is a zip); a file named .xlsx that is not one is an error, not read as CSV."""
    suffix = Path(name or where).suffix.lower()
    if raw.startswith(OLE_MAGIC):
        raise RegistryError(f"{where}: an old Excel .xls workbook or an encrypted one; save it as .xlsx "
                            "(without a password) or as CSV",
                            f"{where}:这是旧版 .xls 或加密的工作簿,请另存为不加密码的 .xlsx 或 CSV")
    if raw.startswith((XLSX_MAGIC, b"PK\x05\x06")):
        return _parse_xlsx(raw, where)
    if suffix in (".xlsx", ".xlsm"):
        raise _not_xlsx(where, "not a zip file; a CSV or another file renamed .xlsx?",
                        "不是 zip 压缩格式,可能是改了扩展名的 CSV 或其他文件")
    return _parse_csv(raw, where)


def template_xlsx(district: str | None = None) -> bytes:
    """An XLSX template: the header row (Chinese names, which import reads) and one example row."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = "社区名册"
    sheet.append(list(TEMPLATE_HEADER))
    sheet.append(["洪山社区", "QX-001", district or "七星关区", "市西街道", 8200, 2900])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for letter, width in zip("ABCDEF", (18, 14, 16, 16, 10, 10)):
        sheet.column_dimensions[letter].width = width
    for cell in (sheet["A2"], sheet["B2"], sheet["C2"], sheet["D2"]):
        cell.data_type = "s"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# -- checking one edited value -----------------------------------------------------------------
def _value(column: str, value) -> str | int | None:
    """An edited field's value, checked as an import checks it; the error names the field."""
    if column in COUNTS:
        if value is None or isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        value_text = unicodedata.normalize("NFKC", str(value)).strip().replace(",", "")
        if not value_text:
            return None
        if not (value_text.isdigit() and value_text.isascii()) or len(value_text) > 12:
            raise RegistryError(f"{column}: {str(value)[:40]!r} is not a whole number ≥ 0",
                                f"{COLUMN_ZH[column]}:“{str(value)[:40]}”不是大于等于 0 的整数", column)
        return int(value_text)
    value_text = "".join(c for c in str(value or "") if ord(c) >= 32).strip()
    if not value_text:
        raise RegistryError(f"{column}: empty", f"{COLUMN_ZH[column]}:不能为空", column)
    if len(value_text) > 200:
        raise RegistryError(f"{column}: longer than 200 characters", f"{COLUMN_ZH[column]}:超过 200 个字符", column)
    if column == "name" and value_text.lower() == ALL:
        raise RegistryError("name: 'all' is reserved (it means every community)",
                            "名称:“all”是保留字(表示全部社区)", column)
    return value_text


_READY: weakref.WeakSet = weakref.WeakSet()  # logs whose registry tables are known to be there


class CommunityRegistry:
    """The registry in the database at `url` (the decision log's database)."""

    def __init__(self, url: str | DecisionLog | None = None, read_only: bool = False):
        """`read_only`: for commands that only read (list, history): a missing SQLite file is an
        error, not a new log, and a registry already in the current format is not written to."""
        self.log = url if isinstance(url, DecisionLog) else DecisionLog(url, read_only=read_only)
        self.engine = self.log.engine
        if self.log in _READY:
            return
        try:
            if not (read_only and _current(self.log.reader)):
                with self.engine.begin() as conn:
                    _ensure_schema(conn, self.log.is_sqlite)
        except SQLAlchemyError as exc:
            raise LogError(f"--db: cannot open the registry at {self.log.display_url} ({_short(exc)})") from None
        if not read_only:
            self._record_baseline()
        _READY.add(self.log)

    def close(self) -> None:
        self.log.close()

    # -- writing ---------------------------------------------------------------------------
    def _write(self, action: str, actor, work):
        """Run `work(session, at)` → (result, changes) in one transaction under the decision
        log's lock; the changes ({code, district, field, old, new}) become rows of
        zhunru_community_change and one `registry_change` entry of the chain, in the same
        transaction. A database failure is a LogError saying nothing was written."""

        def in_chain(conn, seq):
            entries = []
            baseline = _baseline(conn)
            if baseline is not None:
                entries.append(baseline)
                seq += 1
            at = now_iso()
            with Session(bind=conn) as session:
                result, changes = work(session, at)
                session.flush()
            if changes:
                payload = beside.registry_payload(action, changes, actor, at)
                entries.append(beside.registry_entry(payload))
                conn.execute(insert(CommunityChange.__table__),
                             [dict(zip(beside.CHANGE, row), entry_seq=seq) for row in beside.change_rows(payload)])
            return result, entries

        try:
            return self.log.append_beside(in_chain)[0]
        except IntegrityError:
            raise LogError("--db: another import wrote the same codes at the same time; nothing was written, "
                           "run the import again") from None
        except SQLAlchemyError as exc:
            raise LogError(f"--db: could not write the registry at {self.log.display_url} ({_short(exc)}); "
                           "nothing was written") from None

    def _record_baseline(self) -> None:
        """A registry written before the chain recorded it: its baseline entry, now (log/beside.py)."""
        try:
            with self.log.reader.connect() as conn:
                if beside.has_entries(conn, beside.REGISTRY) or not _has_rows(conn):
                    return
            self.log.append_beside(lambda conn, seq: (None, [b] if (b := _baseline(conn)) is not None else []))
        except SQLAlchemyError as exc:
            raise LogError(f"--db: could not record the registry in the log at {self.log.display_url} "
                           f"({_short(exc)}); nothing was written") from None

    def import_rows(self, rows: list[dict], actor: str | dict | None = None, scope: str | None = None,
                    numbers: list[int] | None = None) -> ImportResult:
        """Insert or update by code, all in one transaction, with a change row for each community
        added and each field updated. With `scope` (an approver's district) every row, and every
        community it would update, must lie in that district (OutOfScope otherwise, nothing written)."""
        actor = actor or console_actor()
        if scope is not None:
            for i, row in enumerate(rows):
                if row["district"] != scope:
                    where = f"row {numbers[i]}, column district" if numbers else f"code {row['code']}"
                    where_zh = _cell_zh(numbers[i], "district") if numbers else f"社区 {row['code']}"
                    raise OutOfScope(f"{where}: {row['district']} is outside your district {scope}",
                                     f"{where_zh}:“{row['district']}”不在本账号管理的{scope}")

        def work(session, now: str) -> tuple[ImportResult, list[dict]]:
            result = ImportResult()
            existing = {}
            codes = [x["code"] for x in rows]
            for start in range(0, len(codes), IN_CHUNK):
                existing.update((r.code, r) for r in session.exec(
                    select(CommunityRow).options(undefer(CommunityRow.retired_at))
                    .where(CommunityRow.code.in_(codes[start:start + IN_CHUNK]))))
            changes = []
            for i, row in enumerate(rows):
                old = existing.get(row["code"])
                if old is not None and scope is not None and old.district != scope:
                    where = f"row {numbers[i]}, column code" if numbers else f"code {row['code']}"
                    where_zh = _cell_zh(numbers[i], "code") if numbers else f"社区 {row['code']}"
                    raise OutOfScope(f"{where}: community {row['code']} is in {old.district}, outside your "
                                     f"district {scope}",
                                     f"{where_zh}:社区 {row['code']} 属于{old.district},不在本账号管理的{scope}")
                if old is None:
                    session.add(CommunityRow(**{k: row[k] for k in COLUMNS}, updated_at=now))
                    result.added.append(row["code"])
                    changes.append({"code": row["code"], "district": row["district"], "field": None, "old": None,
                                    "new": {k: row[k] for k in beside.ADDED}})
                elif any(getattr(old, k) != row[k] for k in COLUMNS):
                    for k in COLUMNS:
                        if getattr(old, k) != row[k]:
                            changes.append({"code": row["code"], "district": row["district"], "field": k,
                                            "old": getattr(old, k), "new": row[k]})
                            setattr(old, k, row[k])
                    old.updated_at = now
                    session.add(old)
                    result.updated.append(row["code"])
                else:
                    result.unchanged.append(row["code"])
            return result, changes

        return self._write("import", actor, work)

    def import_bytes(self, raw: bytes, where: str, name: str | None = None, actor: str | dict | None = None,
                     scope: str | None = None) -> ImportResult:
        """Import a CSV or XLSX file's bytes; problems name `where` (the file) and the row."""
        try:
            rows, numbers = parse_file(raw, where, name)
        except RegistryError as exc:
            message = str(exc)
            if message.startswith(where):
                raise
            raise exc.prefixed(where) from None
        return self.import_rows(rows, actor, scope, numbers)

    def import_file(self, path: str | Path, actor: str | dict | None = None, scope: str | None = None) -> ImportResult:
        path = Path(path)
        try:
            size = path.stat().st_size
            if size > MAX_CSV_BYTES and path.is_file():
                raise RegistryError(f"{path}: {size} bytes, over the limit of {MAX_CSV_BYTES}",
                                    f"{path}:文件有 {size} 字节,超过上限 {MAX_CSV_BYTES} 字节")
            raw = path.read_bytes()
        except IsADirectoryError:
            raise InputError(f"FILE: {path} is a directory") from None
        except OSError as exc:
            raise InputError(f"FILE: cannot read {path} ({exc.strerror})") from None
        return self.import_bytes(raw, str(path), path.name, actor, scope)

    import_csv = import_file  # the older name: a CSV, or (by content) an XLSX

    def _row(self, session, code: str, scope: str | None) -> CommunityRow:
        row = session.exec(select(CommunityRow).options(undefer(CommunityRow.retired_at))
                           .where(CommunityRow.code == code)).first()
        if row is None:
            raise UnknownCommunity(f"CODE: no community {code[:64]!r} in the registry (zhunru community list)",
                                   f"社区代码:名册中没有代码为“{code[:64]}”的社区", "code")
        if scope is not None and row.district != scope:
            raise OutOfScope(f"CODE: community {code} is in {row.district}, outside your district {scope}",
                             f"社区 {code} 属于{row.district},不在本账号管理的{scope}")
        return row

    def edit(self, code: str, changes: dict, actor: str | dict | None = None, scope: str | None = None) -> list[dict]:
        """Change some of a community's name, district, street, population and households; the
        changes made ({field, old, new}; none when every value was already so), each recorded."""
        actor = actor or console_actor()
        unknown = [k for k in changes if k not in EDITABLE]
        if unknown:
            raise RegistryError(f"{unknown[0]}: not a field that can be edited (one of {', '.join(EDITABLE)})",
                                f"{unknown[0]}:不能修改的字段", unknown[0])
        wanted = {k: _value(k, v) for k, v in changes.items()}
        if scope is not None and "district" in wanted and wanted["district"] != scope:
            raise OutOfScope(f"district: {wanted['district']} is outside your district {scope}",
                             f"区县:“{wanted['district']}”不在本账号管理的{scope}")

        def work(session, now: str) -> tuple[list[dict], list[dict]]:
            row = self._row(session, code, scope)
            done = [{"field": k, "old": getattr(row, k), "new": v} for k, v in wanted.items() if getattr(row, k) != v]
            if not done:
                return [], []
            for change in done:
                setattr(row, change["field"], change["new"])
            row.updated_at = now
            session.add(row)
            return done, [{"code": code, "district": row.district, **c} for c in done]

        return self._write("edit", actor, work)

    def retire(self, code: str, on: dt.date | None = None, actor: str | dict | None = None,
               scope: str | None = None) -> dict:
        """Retire a community from `on` (default: today in China): from that day no new request
        may name it. The row stays, so the log's old rows still read it."""
        actor = actor or console_actor()
        on = on or today()

        def work(session, now: str) -> tuple[dict, list[dict]]:
            row = self._row(session, code, scope)
            if row.retired_at is not None:
                raise RegistryError(f"CODE: community {code} is already retired (on {row.retired_at}); "
                                    f"undo it first (zhunru community retire {code} --undo)",
                                    f"社区 {code} 已于 {row.retired_at} 撤销,不能再次撤销", "code")
            session.execute(CommunityRow.__table__.update().where(CommunityRow.__table__.c.code == code)
                            .values(retired_at=on.isoformat(), updated_at=now))
            return ({"code": code, "name": row.name, "district": row.district, "street": row.street,
                     "retired_at": on.isoformat()},
                    [{"code": code, "district": row.district, "field": "retired_at", "old": None,
                      "new": on.isoformat()}])

        return self._write("retire", actor, work)

    def restore(self, code: str, actor: str | dict | None = None, scope: str | None = None) -> dict:
        """Undo a retirement: the community takes new requests again."""
        actor = actor or console_actor()

        def work(session, now: str) -> tuple[dict, list[dict]]:
            row = self._row(session, code, scope)
            if row.retired_at is None:
                raise RegistryError(f"CODE: community {code} is not retired", f"社区 {code} 没有撤销,无需恢复", "code")
            session.execute(CommunityRow.__table__.update().where(CommunityRow.__table__.c.code == code)
                            .values(retired_at=None, updated_at=now))
            return ({"code": code, "name": row.name, "district": row.district, "street": row.street,
                     "retired_at": None, "was_retired_at": row.retired_at},
                    [{"code": code, "district": row.district, "field": "retired_at", "old": row.retired_at,
                      "new": None}])

        return self._write("restore", actor, work)

    # -- reading ---------------------------------------------------------------------------
    def list(self, district: str | None = None, street: str | None = None, *, retired: bool = False,
             on: dt.date | None = None) -> list[CommunityRow]:
        """The communities in service on `on` (default: today in China), or, with `retired`, every
        community, retired ones too."""
        with Session(self.engine) as session:
            query = select(CommunityRow).options(undefer(CommunityRow.retired_at))
            if district:
                query = query.where(CommunityRow.district == district)
            if street:
                query = query.where(CommunityRow.street == street)
            if not retired:
                column = CommunityRow.__table__.c.retired_at
                query = query.where(or_(column.is_(None), column > (on or today()).isoformat()))
            rows = session.exec(query).all()
        # sorted here, not in SQL: the same order on SQLite and on any PostgreSQL collation
        return sorted(rows, key=lambda r: (r.district, r.street, r.code))

    def get(self, code: str) -> CommunityRow | None:
        """The community with this code, retired or not."""
        with Session(self.engine) as session:
            return session.exec(select(CommunityRow).options(undefer(CommunityRow.retired_at))
                                .where(CommunityRow.code == code)).first()

    def count(self) -> int:
        with Session(self.engine) as session:
            return session.exec(select(func.count()).select_from(CommunityRow)).one()

    def lookup(self, name: str, district: str | None = None, street: str | None = None, *,
               retired: bool = False) -> list[CommunityRow]:
        """Communities whose code is `name`, else whose name equals it after normalisation
        (NFKC, traditional→simplified, spaces), narrowed by district and street when given; with
        `retired`, retired communities too."""
        by_code = self.get(name)
        if by_code is not None and (retired or not by_code.retired_on(today())):
            return [by_code]
        wanted = normalize(name)
        return [r for r in self.list(district, street, retired=retired) if normalize(r.name) == wanted]

    def history(self, code: str | None = None, district: str | None = None, limit: int = 200,
                before: int | None = None) -> list[dict]:
        """Recorded changes, newest first: of one community, or of a district's communities."""
        with Session(self.engine) as session:
            query = select(CommunityChange)
            if code:
                query = query.where(CommunityChange.code == code)
            if district:
                query = query.where(CommunityChange.district == district)
            if before:
                query = query.where(CommunityChange.id < before)
            return [c.as_dict() for c in session.exec(query.order_by(CommunityChange.id.desc()).limit(limit))]


def _current(reader) -> bool:
    """The registry's tables are there, in the current format (a reader needs no writes)."""
    with reader.connect() as conn:
        inspector = inspect(conn)
        return (inspector.has_table(CommunityChange.__tablename__) and inspector.has_table(CommunityRow.__tablename__)
                and "retired_at" in {c["name"] for c in inspector.get_columns(CommunityRow.__tablename__)}
                and "entry_seq" in {c["name"] for c in inspector.get_columns(CommunityChange.__tablename__)})


def _ensure_schema(conn, is_sqlite: bool) -> None:
    """Create the registry's tables, and add what later versions added to a table an earlier one
    made (`retired_at`), under the registry's lock (SQLite: the writer's BEGIN IMMEDIATE)."""
    if not is_sqlite:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": IMPORT_LOCK})
    SQLModel.metadata.create_all(conn, tables=[CommunityRow.__table__, CommunityChange.__table__])
    columns = {c["name"] for c in inspect(conn).get_columns(CommunityRow.__tablename__)}
    if "retired_at" not in columns:
        conn.exec_driver_sql("ALTER TABLE zhunru_community ADD COLUMN retired_at VARCHAR(10)")
    if "entry_seq" not in {c["name"] for c in inspect(conn).get_columns(CommunityChange.__tablename__)}:
        conn.exec_driver_sql("ALTER TABLE zhunru_community_change ADD COLUMN entry_seq INTEGER")
        for index in CommunityChange.__table__.indexes:
            index.create(conn, checkfirst=True)


def _has_rows(conn) -> bool:
    return any(conn.execute(text(f"SELECT 1 FROM {t} LIMIT 1")).first() is not None
               for t in (CommunityRow.__tablename__, CommunityChange.__tablename__))


def _baseline(conn) -> dict | None:
    """The baseline entry of a registry that has rows the chain has not recorded (it records no
    registry change yet): every community as it is, and a digest of the history before. None
    when the chain records the registry already, or the registry is empty. Under the lock.

    Why a baseline rather than "rows older than the first registry entry are from before the
    chain": a row's age is only what the row itself says, and an edit of such a row would never
    be caught; with the baseline every row is covered from the upgrade on."""
    if beside.has_entries(conn, beside.REGISTRY) or not _has_rows(conn):
        return None
    columns = ("code", *beside.COMMUNITY)
    communities = [dict(r) for r in conn.execute(text(f"SELECT {', '.join(columns)} FROM zhunru_community "
                                                      "ORDER BY code")).mappings()]
    history = [tuple(r) for r in conn.execute(text(f"SELECT {', '.join(beside.CHANGE)} FROM zhunru_community_change "
                                                   "WHERE entry_seq IS NULL ORDER BY id"))]
    return beside.registry_baseline(communities, history)


# -- requests ---------------------------------------------------------------------------------
def needs_registry(request) -> bool:
    """Whether a request names a community without its numbers, or `all` communities."""
    return any(c.name.lower() == ALL or (c.population is None and c.households is None)
               for c in request.communities)


def _model(row: CommunityRow):
    from zhunru.models import Community

    return Community(name=row.name, code=row.code, district=row.district, street=row.street,
                     population=row.population, households=row.households)


def _retired(where: str, row: CommunityRow) -> InputError:
    return InputError(f"{where}: community {row.code} ({row.name}) was retired on {row.retired_at}; it takes no "
                      f"new requests (zhunru community history {row.code})")


def resolve_communities(registry: CommunityRegistry | None, request):
    """The request with every community the registry can identify filled in from it.

    Communities given with numbers are used as given. Without a registry (or with an empty
    one) a community named without numbers is kept as given, and `all` is an error. A
    community retired on or before the request's date, or today, is an error; `all` leaves
    retired communities out."""
    empty = registry is None or registry.count() == 0
    resolved, seen = [], set()
    on = max(request.date, today())  # retired by the request's date, or already retired now

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
            rows = registry.list(c.district, c.street, on=on)
            if not rows:
                scope = " ".join(x for x in (c.district, c.street) if x)
                raise InputError(f"{where}: no community of {scope} in the registry (none, or all retired)")
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
            if row.retired_on(on):
                raise _retired(where, row)
            add(_model(row))
            continue
        found = registry.lookup(c.name, c.district, c.street, retired=True)
        rows = [r for r in found if not r.retired_on(on)]
        if found and not rows:
            raise _retired(where, found[0])
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
