"""The export helpers: CSV that Excel opens as UTF-8, XLSX with typed and formatted cells."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from openpyxl import load_workbook

from rallyhub.exports import csv_lines, csv_response, xlsx_response

HEADER = ["city", "title", "starts_at_local", "people"]
YEREVAN = ZoneInfo("Asia/Yerevan")
ROWS = [
    ("Москва", '=HYPERLINK("http://x")', datetime(2027, 5, 17, 18, 0, tzinfo=YEREVAN), 120),
    ("Երևան", "Ծիծեռնակաբերդ", datetime(2027, 5, 18, 9, 30, tzinfo=YEREVAN), None),
]


@pytest.fixture(scope="module")
def app():
    """A bare Flask app for a request context: these helpers touch no database."""
    return Flask(__name__)


def _download(app, response) -> bytes:
    with app.test_request_context():
        return response.get_data()


def test_csv_starts_with_the_byte_order_mark_and_round_trips_through_utf_8_sig(app):
    with app.test_request_context():
        response = csv_response("x.csv", HEADER, ROWS)
        body = response.get_data()
    assert response.content_type == "text/csv; charset=utf-8"
    assert body.startswith(b"\xef\xbb\xbf" + b"city,title,")
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert list(rows[0]) == HEADER, "the first column is named as documented, without the mark"
    assert [r["city"] for r in rows] == ["Москва", "Երևան"]
    assert rows[1]["title"] == "Ծիծեռնակաբերդ"
    assert rows[0]["title"] == '\'=HYPERLINK("http://x")', "formulas are neutralized"
    # Yerevan is UTC+4 all year (no daylight saving since 2012).
    assert rows[0]["starts_at_local"] == "2027-05-17T18:00:00+04:00"
    assert (rows[0]["people"], rows[1]["people"]) == ("120", "")


def test_csv_bom_can_be_left_out_for_programs():
    assert "".join(csv_lines(HEADER, [], bom=False)) == "city,title,starts_at_local,people\r\n"


@pytest.mark.parametrize("prefix", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_neutralizes_every_formula_prefix_but_leaves_numbers(prefix):
    text = "".join(csv_lines(["a", "b"], [(f"{prefix}1+1", -5)]))
    (row,) = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))[1:]
    assert row == [f"'{prefix}1+1", "-5"]


def test_csv_header_leaves_before_the_first_row_is_read():
    def rows():
        raise AssertionError("a row was read before the header left")
        yield ()

    chunks = csv_lines(HEADER, rows())
    assert next(chunks) == "\ufeffcity,title,starts_at_local,people\r\n"


def test_csv_chunks_hold_the_mark_only_once():
    chunks = list(csv_lines(["n"], ((n,) for n in range(1200))))
    assert len(chunks) > 2, "still streamed in chunks"
    assert "".join(chunks).count("\ufeff") == 1


def test_xlsx_header_is_bold_and_frozen_and_columns_are_sized(app):
    body = _download(app, xlsx_response("x.xlsx", [("Rallies", HEADER, iter(ROWS))]))
    sheet = load_workbook(io.BytesIO(body))["Rallies"]
    assert [c.value for c in sheet[1]] == HEADER
    assert all(c.font.b for c in sheet[1]) and not any(c.font.b for c in sheet[2])
    assert sheet.freeze_panes == "A2"
    widths = {letter: sheet.column_dimensions[letter].width for letter in "ABCD"}
    assert widths["A"] >= len("Москва") and widths["B"] >= len('=HYPERLINK("http://x")')
    assert widths["C"] >= len("2027-05-17 18:00") and widths["D"] >= len("people")


def test_xlsx_writes_dates_as_dates_and_counts_as_numbers(app):
    rows = [*ROWS, ("Roma", "A day", date(2027, 6, 2), 0)]
    body = _download(app, xlsx_response("x.xlsx", [("Rallies", HEADER, rows)]))
    sheet = load_workbook(io.BytesIO(body))["Rallies"]
    start = sheet["C2"]
    assert start.is_date and start.number_format == "yyyy-mm-dd hh:mm"
    # Excel has no zones: the wall-clock time of the datetime's own zone, not UTC (14:00).
    assert start.value == datetime(2027, 5, 17, 18, 0)
    day = sheet["C4"]
    assert day.is_date and day.number_format == "yyyy-mm-dd"
    assert day.value == datetime(2027, 6, 2)  # Excel stores a day as midnight
    assert type(sheet["D2"].value) is int and sheet["D2"].value == 120
    assert sheet["D3"].value is None, "nothing reported is an empty cell, not text"
    assert sheet["B2"].value == '\'=HYPERLINK("http://x")' and sheet["B2"].data_type == "s"


def test_xlsx_sizes_columns_from_a_sample_and_still_writes_every_row(app):
    many = ((f"City {n}", "t", datetime(2027, 1, 1, tzinfo=UTC), n) for n in range(5000))
    body = _download(app, xlsx_response("x.xlsx", [("Rallies", HEADER, many)]))
    sheet = load_workbook(io.BytesIO(body), read_only=True)["Rallies"]
    values = list(sheet.iter_rows(values_only=True))
    assert len(values) == 5001 and values[-1][3] == 4999


def test_csv_writes_dates_and_datetimes_in_iso_8601():
    row = (date(2027, 6, 2), datetime(2027, 6, 2, 9, 30, tzinfo=UTC), datetime(2027, 6, 2, 9, 30))
    text = "".join(csv_lines(["day", "aware", "naive"], [row]))
    assert text.splitlines()[1] == "2027-06-02,2027-06-02T09:30:00+00:00,2027-06-02T09:30:00"
