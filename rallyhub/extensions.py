"""Flask extensions, created unbound and bound to an app in the factory."""

from __future__ import annotations

from flask import current_app, has_request_context, request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base whose constraint names are stable across databases."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
limiter = Limiter(key_func=get_remote_address)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


WRITES_ON_GET = "rallyhub_writes_on_get"
_LOCK_TAKEN = "rallyhub.write_lock_taken"


def writes_on_get(view):
    """Mark a view that writes on GET (a counter, an export's audit row) as needing the lock."""
    # An attribute of the view rather than a flag set when it runs: the signed-in account is
    # loaded before the view, and that first query is what begins the transaction.
    setattr(view, WRITES_ON_GET, True)
    return view


def _wants_write_lock() -> bool:
    """Whether a new transaction should take SQLite's write lock up front."""
    # Requests with a safe method never write, so they read without blocking writers;
    # everything else (forms, API writes, CLI work) takes the lock at BEGIN.
    if not (has_request_context() and request.method in SAFE_METHODS):
        return True
    view = current_app.view_functions.get(request.endpoint or "")
    if not getattr(view, WRITES_ON_GET, False) or request.environ.get(_LOCK_TAKEN):
        return False
    # Only the request's first transaction: what streams after its commit (an export's rows)
    # reads without holding writers up. Kept per request: ``g`` may outlive one.
    request.environ[_LOCK_TAKEN] = True
    return True


def _unicode_lower(value):
    return value.lower() if isinstance(value, str) else value


def configure_sqlite(engine: Engine, busy_timeout_s: float) -> None:
    """Give every SQLite connection WAL, a busy timeout, foreign keys and BEGIN IMMEDIATE."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Take transaction control away from pysqlite so that BEGIN is ours to emit.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()
        # SQLite's own lower() folds ASCII only; names here are in every script.
        dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        # A deferred transaction that later writes fails at once on lock upgrade,
        # whatever the busy timeout; BEGIN IMMEDIATE waits for the lock instead.
        connection.exec_driver_sql("BEGIN IMMEDIATE" if _wants_write_lock() else "BEGIN")
