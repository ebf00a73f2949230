"""Spreadsheet-safe CSV and XLSX output, streamed row by row."""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from itertools import chain, islice
from typing import Any

from flask import Response, stream_with_context

# A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

# Excel reads a CSV without a byte-order mark in the machine's legacy code page (Москва becomes
# "РњРѕСЃРєРІР°"); with it, as UTF-8. Python reads it back with the "utf-8-sig" codec.
BOM = "\ufeff"

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
XLSX_DATE_FORMAT = "yyyy-mm-dd"
XLSX_DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
# Column widths come from the header and this many first rows: the rest are never held.
XLSX_WIDTH_SAMPLE = 200
XLSX_MIN_WIDTH, XLSX_MAX_WIDTH = 8, 50


def safe_cell(value: Any) -> Any:
    """Neutralize text a spreadsheet would run as a formula (numbers are left alone)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_lines(
    header: Sequence[str], rows: Iterable[Sequence[Any]], *, bom: bool = True
) -> Iterator[str]:
    """The CSV text of ``header`` and ``rows``, a chunk of lines at a time, after a UTF-8
    byte-order mark unless ``bom`` is false. Dates and datetimes are written in ISO 8601."""
    buffer = io.StringIO()
    if bom:
        buffer.write(BOM)
    writer = csv.writer(buffer)
    writer.writerow(header)
    # The header leaves at once, before the database has produced the first row.
    yield buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    prefixes = frozenset(FORMULA_PREFIXES)
    for count, row in enumerate(rows, start=1):
        # safe_cell, inlined: this loop runs once per row of exports with a million rows. A date
        # prints as ISO 8601 by itself; a datetime would print with a space instead of the "T".
        writer.writerow(
            [
                ("'" + value if value[:1] in prefixes else value)
                if type(value) is str
                else value.isoformat()
                if type(value) is datetime
                else value
                for value in row
            ]
        )
        if count % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def csv_response(
    filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]], *, bom: bool = True
) -> Response:
    """A streamed CSV download that Excel opens as UTF-8: the first bytes (the byte-order
    mark and the header) leave before the last row is read."""
    return Response(
        stream_with_context(csv_lines(header, rows, bom=bom)),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "private, no-store",
        },
    )


def _display_width(value: Any) -> int:
    """How many characters a value takes in a spreadsheet cell, roughly."""
    if value is None:
        return 0
    if isinstance(value, datetime):
        return len(XLSX_DATETIME_FORMAT)
    if isinstance(value, date):
        return len(XLSX_DATE_FORMAT)
    return len(str(value))


def _column_widths(header: Sequence[str], sample: Sequence[Sequence[Any]]) -> list[int]:
    """Widths (in characters) that fit the header and the sampled rows, within bounds."""
    widths = [len(name) for name in header]
    for row in sample:
        for index, value in enumerate(row[: len(widths)]):
            widths[index] = max(widths[index], _display_width(value))
    return [min(max(width + 2, XLSX_MIN_WIDTH), XLSX_MAX_WIDTH) for width in widths]


def xlsx_response(filename: str, sheets: Sequence[tuple[str, Sequence[str], Iterable]]) -> Response:
    """An XLSX download built in write-only mode (rows never all in memory) and streamed.

    Each sheet's header is bold and frozen and its columns are as wide as the header and the
    first rows need. Numbers stay numbers; dates and datetimes become Excel dates. Excel has
    no time zones, so an aware datetime is written as the wall-clock time of the zone it
    carries: the rows decide the zone (HQ's ``starts_at_local`` is in the rally's own zone,
    as in the CSV, with the zone's name in the next column).
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    workbook = Workbook(write_only=True)
    bold = Font(bold=True)

    def cell(sheet, value: Any) -> Any:
        """The value as a cell: text made safe, a date formatted as one, a number as is."""
        if isinstance(value, str):
            return safe_cell(value)
        if isinstance(value, date):
            is_datetime = isinstance(value, datetime)
            dated = WriteOnlyCell(sheet, value.replace(tzinfo=None) if is_datetime else value)
            dated.number_format = XLSX_DATETIME_FORMAT if is_datetime else XLSX_DATE_FORMAT
            return dated
        return value

    def header_cell(sheet, name: str) -> WriteOnlyCell:
        """A column name in bold."""
        heading = WriteOnlyCell(sheet, safe_cell(name))
        heading.font = bold
        return heading

    for title, header, rows in sheets:
        sheet = workbook.create_sheet(title=title)
        rows = iter(rows)
        sample = list(islice(rows, XLSX_WIDTH_SAMPLE))
        # A write-only sheet takes column widths and panes only before its first row.
        for index, width in enumerate(_column_widths(header, sample), start=1):
            sheet.column_dimensions[get_column_letter(index)].width = width
        sheet.freeze_panes = "A2"
        sheet.append([header_cell(sheet, name) for name in header])
        for row in chain(sample, rows):
            sheet.append([cell(sheet, value) for value in row])
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 - streamed
    workbook.save(spool)
    spool.seek(0)

    def chunks() -> Iterator[bytes]:
        with spool:
            while chunk := spool.read(64 * 1024):
                yield chunk

    return Response(
        chunks(),
        mimetype=XLSX_MIMETYPE,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "private, no-store",
        },
    )
