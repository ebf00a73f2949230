"""Every earlier revision upgrades to head with its data: a row in each table, values kept.

For each revision, on each database: a fresh database at that revision gets one row in every
table it has (values chosen per column type and CHECK constraint, foreign keys pointing at the
parent rows), is upgraded to head, and must still hold each row under its primary key with the
same value in every column that is still there.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from flask_migrate import upgrade
from sqlalchemy.engine import make_url

from rallyhub.extensions import db
from tests.test_migrations import _fresh_urls

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
SCRIPTS = ScriptDirectory(str(MIGRATIONS))
HEADS = set(SCRIPTS.get_heads())
EARLIER = [script.revision for script in SCRIPTS.walk_revisions() if script.revision not in HEADS]
BOOKKEEPING = {"alembic_version"}
# A rally's radius-search columns are derived from its public position (a CHECK ties them
# together), which the generic values put at 0° N 0° E: band (0 + 90) × 4 = 360, and the
# unit vector (cos 0 · cos 0, cos 0 · sin 0, sin 0) = (1, 0, 0).
DERIVED = {
    ("rallies", "public_band"): 360,
    ("rallies", "public_x"): 1.0,
    ("rallies", "public_y"): 0.0,
    ("rallies", "public_z"): 0.0,
}
MOMENT = datetime(2026, 3, 14, 15, 9, 26)


@contextmanager
def fresh_database(tmp_path, dialect: str):
    """An empty database of ``dialect`` (the helper of test_migrations, one backend of it)."""
    urls = _fresh_urls(tmp_path)
    try:
        for url in urls:
            if make_url(url).get_backend_name() == dialect:
                yield url
                return
        pytest.fail(f"no fresh {dialect} database")
    finally:
        urls.close()


# --- what the CHECK constraints ask of a column -------------------------------------------

_CAST = re.compile(r"::[a-z_]+(?: precision| varying)?")
_QUOTED_NUMBER = re.compile(r"'(-?\d+(?:\.\d+)?)'")
_NUMBER = r"(-?\d+(?:\.\d+)?)"
_COLUMN = r'"?([a-z_][a-z0-9_]*)"?'
# A bare column as a whole operand: at the start, after AND/OR or an opening parenthesis.
_OPERAND = r"(?:^|\bAND |\bOR |\()\s*\(?"
_END = r"\)?(?=\s*$|\s+AND\b|\s+OR\b|\s*\))"
RULES = {
    "choices": re.compile(rf"{_COLUMN} IN \(([^)]*)\)"),
    "between": re.compile(rf"{_OPERAND}{_COLUMN} BETWEEN \(?{_NUMBER}\)? AND \(?{_NUMBER}{_END}"),
    "bound": re.compile(rf"{_OPERAND}{_COLUMN}\)?\s*(>=|>|<=|<)\s*\(?{_NUMBER}{_END}"),
    "after": re.compile(rf"{_OPERAND}{_COLUMN}\s*(>=|>)\s*{_COLUMN}{_END}"),
    "length": re.compile(rf"length\(\(?{_COLUMN}\)?\) = (\d+)"),
    "one_null": re.compile(rf"\({_COLUMN} IS NULL\) <> \({_COLUMN} IS NULL\)"),
}


def _normalized(sqltext: str) -> str:
    """PostgreSQL's rendering of a CHECK without its casts (``'-90'::integer`` is -90)."""
    return _QUOTED_NUMBER.sub(r"\1", _CAST.sub("", sqltext))


def check_rules(inspector, table_name: str) -> list[tuple[str, tuple]]:
    """(kind, captured groups) of every CHECK clause this test knows how to satisfy."""
    found = []
    for check in inspector.get_check_constraints(table_name):
        sqltext = _normalized(check["sqltext"])
        for kind, pattern in RULES.items():
            found += [(kind, match.groups()) for match in pattern.finditer(sqltext)]
    return found


# --- one row per table --------------------------------------------------------------------


def base_value(table: sa.Table, column: sa.Column, dialect: str):
    """A value of the column's type (strings name their column, so a mix-up shows)."""
    kind = column.type
    if isinstance(kind, sa.Enum) and kind.enums:
        return kind.enums[-1]
    if isinstance(kind, sa.Boolean):
        return True
    if isinstance(kind, sa.Integer):
        return 1
    if isinstance(kind, sa.Float):
        return 0.0
    if isinstance(kind, sa.Numeric):
        return Decimal(1)
    if isinstance(kind, sa.DateTime):
        # SQLite keeps naive UTC; PostgreSQL's timestamptz wants an aware time.
        aware = kind.timezone and dialect != "sqlite"
        return MOMENT.replace(tzinfo=UTC) if aware else MOMENT
    if isinstance(kind, sa.Date):
        return MOMENT.date()
    if isinstance(kind, sa.JSON):
        return {"column": column.name}
    if isinstance(kind, sa.LargeBinary):
        return column.name.encode()
    if isinstance(kind, sa.String):
        value = f"{table.name}.{column.name}"
        return value[: kind.length] if kind.length else value
    pytest.fail(f"teach this test a value for {table.name}.{column.name} ({kind!r})")


def _step(value):
    if isinstance(value, datetime):
        return value + timedelta(days=1)
    if isinstance(value, date):
        return value + timedelta(days=1)
    return value + 1


def row_for(table: sa.Table, rules, inserted: dict[str, dict], dialect: str) -> dict:
    """Values for every column: checks satisfied, foreign keys on the parent rows."""
    row = {column.name: base_value(table, column, dialect) for column in table.columns}
    for kind, groups in rules:
        name = groups[0]
        if name not in row:
            continue
        if kind == "choices":
            row[name] = re.findall(r"'((?:[^']|'')*)'", groups[1])[-1].replace("''", "'")
        elif kind == "between":
            low, high = (float(number) for number in groups[1:])
            if not low <= row[name] <= high:
                row[name] = type(row[name])(low)
        elif kind == "bound":
            operator, limit = groups[1], float(groups[2])
            value = row[name]
            holds = {">=": value >= limit, ">": value > limit, "<=": value <= limit}
            if not holds.get(operator, value < limit):
                row[name] = type(value)(limit + {">": 1, "<": -1}.get(operator, 0))
        elif kind == "length":
            size = int(groups[1])
            row[name] = (row[name] * size)[:size].upper()
        elif kind == "one_null":
            row[groups[1]] = None
    # Orderings after the values they follow are final.
    for kind, groups in rules:
        if kind == "after" and groups[0] in row and groups[2] in row:
            row[groups[0]] = _step(row[groups[2]])
    for column in table.columns:
        for key in column.foreign_keys:
            parent = key.column
            if parent.table is table:
                assert column.nullable, f"{table.name}.{column.name} refers to its own table"
                row[column.name] = None
            elif row[column.name] is not None:
                row[column.name] = inserted[parent.table.name][parent.name]
    for (table_name, name), value in DERIVED.items():
        if table_name == table.name and name in row:
            row[name] = value
    return row


def fill_every_table(engine) -> dict[str, dict]:
    """Insert one row into every table, parents first; return each table's row."""
    metadata = sa.MetaData()
    metadata.reflect(bind=engine)
    inserted: dict[str, dict] = {}
    with engine.begin() as connection:
        inspector = sa.inspect(connection)
        for table in metadata.sorted_tables:
            if table.name in BOOKKEEPING:
                continue
            rules = check_rules(inspector, table.name)
            row = row_for(table, rules, inserted, engine.dialect.name)
            connection.execute(table.insert().values(**row))
            inserted[table.name] = row
    return inserted


def rows_at_head(engine, inserted: dict[str, dict]) -> dict[str, dict | None]:
    """Each inserted row as it reads now, by its primary key (None when it is gone)."""
    metadata = sa.MetaData()
    metadata.reflect(bind=engine)
    found = {}
    with engine.connect() as connection:
        for name, row in inserted.items():
            table = metadata.tables.get(name)
            assert table is not None, f"the table {name} is gone"
            key = [column.name for column in table.primary_key.columns]
            match = connection.execute(
                sa.select(table).where(*(table.c[column] == row[column] for column in key))
            ).one_or_none()
            found[name] = match and {
                column: value for column, value in match._mapping.items() if column in row
            }
    return found


@pytest.mark.parametrize("revision", EARLIER)
def test_rows_of_every_table_survive_the_upgrade_to_head(
    make_app, database_url, tmp_path, request, revision
):
    # (On SQLite, a26a8815a44c's batch rebuild of rallies used to delete every row that
    # refers to a rally, by cascade: migrations/env.py turns foreign keys off around them.)
    dialect = make_url(database_url).get_backend_name()
    with fresh_database(tmp_path, dialect) as url:
        app = make_app(SQLALCHEMY_DATABASE_URI=url)
        with app.app_context():
            upgrade(revision=revision)
            inserted = fill_every_table(db.engine)
            upgrade(revision="heads")
            found = rows_at_head(db.engine, inserted)
            db.engine.dispose()

    assert inserted.keys() == found.keys()
    for name, row in inserted.items():
        assert found[name] is not None, f"the row of {name} is gone"
        assert found[name] == {column: row[column] for column in found[name]}, name


def test_every_earlier_revision_is_tested():
    """Every file in migrations/versions is walked, and only the heads are left out."""
    files = list((MIGRATIONS / "versions").glob("*.py"))
    assert len(EARLIER) + len(HEADS) == len(files) > 1
    assert "0e46a1a622f9" in EARLIER  # the initial schema
