"""Reading the XLSX files offices upload, safely: the file is a zip, so its size, its expanded
size and its row count are bounded before openpyxl parses it, and every problem is one line
naming the row and column (as a spreadsheet shows them: the header is row 1)."""
from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections.abc import Iterator

from zhunru.errors import InputError

MAX_XLSX_BYTES = 32 * 1024 * 1024
MAX_EXPANDED = 256 * 1024 * 1024  # a zip bomb expands far past this
MAX_ROWS = 100_000
ZIP_MAGIC = b"PK\x03\x04"


def is_xlsx(raw: bytes) -> bool:
    return raw[:4] == ZIP_MAGIC


def column_name(index: int) -> str:
    """A, B, … Z, AA: the column letters a spreadsheet shows (index from 0)."""
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


def xlsx_rows(raw: bytes, where: str = "FILE", max_rows: int = MAX_ROWS) -> Iterator[tuple[int, list]]:
    """(row number, cell values) of the first sheet, empty rows skipped; values are str, int,
    float, date or None. InputError for anything that is not a readable, reasonable XLSX."""
    if len(raw) > MAX_XLSX_BYTES:
        raise InputError(f"{where}: {len(raw)} bytes, over the limit of {MAX_XLSX_BYTES}")
    if not is_xlsx(raw):
        raise InputError(f"{where}: not an XLSX file (save it from the spreadsheet as .xlsx, or use CSV)")
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            expanded = sum(info.file_size for info in archive.infolist())
            if expanded > MAX_EXPANDED:
                raise InputError(f"{where}: expands to {expanded} bytes, over the limit of {MAX_EXPANDED}")
            if "xl/workbook.xml" not in archive.namelist():
                raise InputError(f"{where}: a zip file, but not an XLSX workbook")
    except zipfile.BadZipFile:
        raise InputError(f"{where}: a damaged XLSX file (it cannot be unzipped)") from None
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a damaged file
        raise InputError(f"{where}: not a readable XLSX workbook ({exc.__class__.__name__})") from None
    try:
        sheet = book.worksheets[0]
        count = 0
        for number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
            values = [_clean(v) for v in row]
            if not any(v not in (None, "") for v in values):
                continue
            count += 1
            if count > max_rows:
                raise InputError(f"{where}: more than {max_rows} rows")
            yield number, values
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged sheet part
        raise InputError(f"{where}: not a readable XLSX workbook ({exc.__class__.__name__})") from None
    finally:
        book.close()


def _clean(value):
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, dt.datetime):
        return value.date() if value.time() == dt.time() else value
    return value
