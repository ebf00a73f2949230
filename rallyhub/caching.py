"""Public answers a cache can serve: the data version, validators, bodies kept per version.

Every change to what the public sees (a rally, a campaign, their translations, a country's
level) bumps one counter row in the same transaction, whatever instance or worker makes it.
A public answer's validator is that counter plus what the request asked for, so a
revalidation is one primary-key read, and a body built once (a campaign's calendar, a map
tile) is kept per version in each process and rebuilt only after a change.

Models mark themselves with ``public_content = True``; this shared module imports no area.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from functools import wraps
from typing import TypeVar

from cachetools import LRUCache
from flask import Response, g, has_request_context, make_response, request, session
from flask_login import current_user
from sqlalchemy import Connection, String, event, inspect, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from rallyhub.extensions import db
from rallyhub.i18n import reader_language, supported_language
from rallyhub.security import has_session_cookie

PUBLIC = "public"
# What a public answer may vary on: its language (``lang=``, the language cookie, the
# browser's preference). The session cookie is never sent with a cacheable answer, and a
# request that carries one is answered privately (see ``public``).
LANGUAGE_VARY = ("Accept-Language", "Cookie")
T = TypeVar("T")


class ContentVersion(db.Model):
    """A counter bumped by every change the public can see.

    ``epoch`` is drawn when the row is made, and again by ``new_public_epoch`` (after a
    restore): a counter that starts over never repeats an earlier answer's validator.
    """

    __tablename__ = "content_versions"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    epoch: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(default=0)


def public_data_version() -> str:
    """The current version of the public data (one primary-key read, once per request)."""
    if has_request_context() and "public_version" in g:
        return g.public_version
    row = db.session.execute(
        select(ContentVersion.epoch, ContentVersion.version).where(ContentVersion.name == PUBLIC)
    ).first()
    version = f"{row.epoch}.{row.version}" if row else "0"
    if has_request_context():
        g.public_version = version
    return version


def new_public_epoch(connection: Connection) -> None:
    """Start the public version afresh: the data went back in time (a restore), and no
    process may answer from what it built for the same counter before."""
    if not inspect(connection).has_table(ContentVersion.__tablename__):
        return  # a backup older than the counter: `flask db upgrade` makes it
    _upsert(connection, set_={"epoch": _epoch()})
    forget_built()


def _epoch() -> str:
    return secrets.token_hex(8)


def time_bucket(seconds: int) -> int:
    """The current window of ``seconds``: lists of "upcoming" rallies change as time passes."""
    return int(time.time() // seconds)


def validator(*parts: object) -> str:
    """A strong ETag value for an answer determined by ``parts``."""
    text = "\x1f".join(str(part) for part in parts)
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


# --- The counter ------------------------------------------------------------------------


def _is_public(instance: object) -> bool:
    return bool(getattr(type(instance), "public_content", False))


def _changes_public_data(session: Session) -> bool:
    if any(_is_public(o) for o in session.new) or any(_is_public(o) for o in session.deleted):
        return True
    return any(
        _is_public(o) and session.is_modified(o, include_collections=False) for o in session.dirty
    )


def bump_public_version(session: Session) -> None:
    """Count one change of the public data, in ``session``'s transaction."""
    if has_request_context():
        g.pop("public_version", None)
    _upsert(session, set_={"version": ContentVersion.__table__.c.version + 1})


def _upsert(executor: Session | Connection, set_: dict) -> None:
    """Make the counter's row, or change it by ``set_``."""
    bind = executor.get_bind() if isinstance(executor, Session) else executor
    insert = pg_insert if bind.dialect.name == "postgresql" else sqlite_insert
    table = ContentVersion.__table__
    statement = insert(table).values(name=PUBLIC, epoch=_epoch(), version=1)
    executor.execute(statement.on_conflict_do_update(index_elements=[table.c.name], set_=set_))


def _before_flush(session: Session, _context, _instances) -> None:
    if _changes_public_data(session):
        bump_public_version(session)


def _on_orm_execute(state) -> None:
    # Bulk INSERT/UPDATE/DELETE statements on a public model skip the flush.
    public_model = getattr(getattr(state.bind_mapper, "class_", None), "public_content", False)
    if (state.is_insert or state.is_update or state.is_delete) and public_model:
        bump_public_version(state.session)


_listening = False


def init_caching(app) -> None:
    """Count public changes in every session of the app's ``db``."""
    global _listening
    if not _listening:
        event.listen(Session, "before_flush", _before_flush)
        event.listen(Session, "do_orm_execute", _on_orm_execute)
        _listening = True


# --- Built bodies, per version ----------------------------------------------------------

# Calendars, home-page lists and map tiles (a few KB each).
_built: LRUCache = LRUCache(maxsize=2048)
_built_lock = threading.Lock()


def built_once(key: Hashable, build: Callable[[], T]) -> T:
    """``build()``'s result for ``key`` (which names the data version), kept in this process.

    Two requests that miss at once may both build; each result is the same.
    """
    with _built_lock:
        found = _built.get(key, _MISSING)
    if found is not _MISSING:
        return found
    value = build()
    with _built_lock:
        _built[key] = value
    return value


_MISSING = object()


def forget_built() -> None:
    """Drop every kept body (tests, and after a restore)."""
    with _built_lock:
        _built.clear()


# --- Headers ------------------------------------------------------------------------------


# How long browsers and shared caches may show a public answer: what the public sees of a
# change (an edit, a cancellation, an emergency take-down) reaches everyone within a minute,
# whatever proxy stands in front. Fresh for PUBLIC_MAX_AGE seconds; then, for PUBLIC_STALE_S
# more, a cache may still answer with it while it asks the app again in the background
# (stale-while-revalidate, RFC 5861): on a day of action no visitor waits for a page to be
# rebuilt, and the app rebuilds each one once, not once per visitor who arrives meanwhile.
PUBLIC_MAX_AGE = 50
PUBLIC_STALE_S = 10
# The longest a change takes to reach every visitor of a public page.
PUBLIC_LIFETIME_S = PUBLIC_MAX_AGE + PUBLIC_STALE_S


def public_cache_control(max_age: int = PUBLIC_MAX_AGE) -> str:
    """The Cache-Control of an answer every visitor may share for ``max_age`` seconds."""
    return f"public, max-age={max_age}, stale-while-revalidate={PUBLIC_STALE_S}"


def _shared_cache_may_keep() -> bool:
    """Whether this answer is the same for every visitor: no signed-in user, no session."""
    if current_user.is_authenticated:
        return False
    return not has_session_cookie() and not session.modified


def public(
    max_age: int = PUBLIC_MAX_AGE,
    *,
    vary: Iterable[str] = LANGUAGE_VARY,
    validate: Callable[..., tuple] | None = None,
):
    """Let browsers and shared caches keep a view's answer for ``max_age`` seconds.

    The ETag comes from ``validate(**view_args)`` (what the answer depends on, besides the
    address and the language) when given, and is checked before the view runs; else from
    the body, unless the view set one (``if_unchanged``). Pages with a CSP nonce need
    ``validate``: their bodies differ on every render. Anyone with a session (signed in, or
    in the middle of a form) gets a private answer: a shared cache must never hold a page
    built for one person.
    """

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            etag = None
            if validate is not None and _shared_cache_may_keep():
                etag = validator(
                    request.endpoint,
                    request.host,
                    request.query_string,
                    reader_language(),
                    *validate(**kwargs),
                )
            unchanged = if_unchanged(etag) if etag else None
            response = unchanged or make_response(view(*args, **kwargs))
            if response.status_code not in (200, 304) or current_user.is_authenticated:
                # Signed-in people's pages are "private, no-store" (rallyhub.security).
                return response
            if not _shared_cache_may_keep():
                response.headers["Cache-Control"] = "private, no-cache"
                return response
            response.headers["Cache-Control"] = public_cache_control(max_age)
            if response.mimetype == "text/html" or not supported_language(request.args.get("lang")):
                # Data whose address names its language (map tiles) is the same for every
                # request of that address; a page also differs for a signed-in visitor.
                response.vary.update(vary)
            if response.status_code == 304:
                return response
            if etag:
                response.set_etag(etag)
            elif response.get_etag() == (None, None):
                response.add_etag()
            return response.make_conditional(request)

        return wrapper

    return decorator


def if_unchanged(etag: str) -> Response | None:
    """A 304 when the client holds ``etag`` already (checked before anything is built)."""
    if request.if_none_match.contains(etag) and _shared_cache_may_keep():
        response = Response(status=304)
        response.set_etag(etag)
        return response
    return None
