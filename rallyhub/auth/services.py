"""Account rules: registration, confirmation, login, passwords, roles."""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import delete, func, select, update

from rallyhub.auth.audit import record_audit
from rallyhub.auth.models import Role, User, UserSession, new_session_nonce
from rallyhub.auth.passwords import hash_password, needs_rehash, verify_password
from rallyhub.auth.tokens import fingerprint, make_token, read_token
from rallyhub.errors import NotAllowed, NotFound, RallyhubError, UserError
from rallyhub.extensions import db
from rallyhub.mail import send_mail
from rallyhub.models import utcnow
from rallyhub.urls import external_url

log = logging.getLogger(__name__)


class ConfirmationResent(RallyhubError):
    """The password was right, the address is not confirmed yet: a new link is on its way.

    Its status is 200 because the request did what it could, and the message it wrote must
    be committed (an answer of 400 or more rolls the request back, outbox included).
    """

    status = 200


CONFIRM = "confirm-email"
RESET = "reset-password"


def normalize_email(email: str) -> str:
    """The form in which e-mails are stored and compared."""
    return email.strip().lower()


def find_user_by_email(email: str) -> User | None:
    """Return the account with this e-mail, if any."""
    return db.session.scalar(select(User).where(User.email == normalize_email(email)))


def register_account(name: str, email: str, password: str, language: str = "en") -> None:
    """Open an account and mail a confirmation link; for a known e-mail, mail a notice instead.

    Both paths do the same work and end in the same answer, so the reply to a registration
    never tells whether an e-mail has an account.
    """
    email = normalize_email(email)
    password_hash = hash_password(password)
    existing = find_user_by_email(email)
    if existing is not None:
        # Written to the account, in the language it was opened in.
        with force_locale(existing.language):
            send_mail(
                email,
                _("Someone tried to register with your e-mail"),
                _(
                    "Someone (perhaps you) tried to open a rallyhub account with this e-mail, "
                    "but it already has one.\n\nTo sign in: %(login)s\n"
                    "Forgot your password? %(reset)s\n\nIf it was not you, ignore this message.",
                    login=external_url("auth.login"),
                    reset=external_url("auth.request_reset"),
                ),
            )
        return
    user = User(name=name.strip(), email=email, password_hash=password_hash, language=language)
    db.session.add(user)
    db.session.flush()
    send_confirmation(user)
    log.info("account %s registered", user.id)


def send_confirmation(user: User) -> None:
    """Mail a link that confirms the account's e-mail address."""
    token = make_token(CONFIRM, {"uid": user.id, "email": fingerprint(user.email)})
    with force_locale(user.language):
        send_mail(
            user.email,
            _("Confirm your rallyhub account"),
            _(
                "Welcome to rallyhub, %(name)s.\n\nConfirm your e-mail to start organizing:\n"
                "%(link)s\n\nThe link works for 48 hours. If you did not register, ignore it.",
                name=user.name,
                link=external_url("auth.confirm", token=token),
            ),
        )


def confirm_email(token: str) -> User:
    """Mark the account of a valid confirmation token confirmed and return it."""
    payload = read_token(CONFIRM, token)
    user = db.session.get(User, payload["uid"]) if payload else None
    if user is None or payload.get("email") != fingerprint(user.email):
        raise UserError(_("This confirmation link is invalid or has expired."))
    _mark_confirmed(user)
    return user


def _mark_confirmed(user: User) -> None:
    """Record a proven address (co-organizer invitations to it wait for an explicit accept)."""
    if user.email_confirmed_dt is None:
        user.email_confirmed_dt = utcnow()


def authenticate(email: str, password: str) -> User:
    """Return the account these credentials open, or raise one message for every failure."""
    user = find_user_by_email(email)
    if not verify_password(user.password_hash if user else None, password) or user is None:
        raise UserError(_("The e-mail or password is not right."))
    # The password was right: from here on, telling the account's state reveals nothing.
    if user.is_disabled:
        raise NotAllowed(_("This account has been disabled. Please contact HQ."))
    if user.email_confirmed_dt is None:
        send_confirmation(user)
        raise ConfirmationResent(
            _("Please confirm your e-mail first. We have sent you a new confirmation link.")
        )
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_dt = utcnow()
    return user


def change_password(user: User, current_password: str, new_password: str) -> None:
    """Set a new password after checking the current one; other sessions end."""
    if not verify_password(user.password_hash, current_password):
        raise UserError(_("Your current password is not right."), field="current_password")
    _set_password(user, new_password)
    log.info("account %s changed its password", user.id)


def _set_password(user: User, password: str) -> None:
    user.password_hash = hash_password(password)
    close_all_sessions(user)


def request_password_reset(email: str) -> None:
    """Mail a reset link to an account's address, or a notice to an address without one.

    Both paths do the same work (one lookup, one signed token, one queued message) and end in
    the same answer, so neither the reply nor its timing tells whether an address has an
    account; only the address's owner, reading the message, learns it.
    """
    email = normalize_email(email)
    user = find_user_by_email(email)
    if user is None or user.is_disabled:
        make_token(RESET, {"uid": 0, "pw": fingerprint(email)})
        send_mail(
            email,
            _("Your request to reset a rallyhub password"),
            _(
                "Someone (perhaps you) asked to reset the password of a rallyhub account with "
                "this e-mail address, but there is no active account with it.\n\nIf it was "
                "you, perhaps you registered with another address. If it was not you, ignore "
                "this message."
            ),
        )
        return
    token = make_token(RESET, {"uid": user.id, "pw": fingerprint(user.password_hash)})
    with force_locale(user.language):
        send_mail(
            user.email,
            _("Reset your rallyhub password"),
            _(
                "To choose a new password, open:\n%(link)s\n\nThe link works for 48 hours "
                "and once. If you did not ask for it, ignore this message.",
                link=external_url("auth.reset_password", token=token),
            ),
        )


def user_for_reset_token(token: str) -> User:
    """Return the account a valid, unused reset token is for."""
    payload = read_token(RESET, token)
    user = db.session.get(User, payload["uid"]) if payload else None
    if user is None or user.is_disabled or payload.get("pw") != fingerprint(user.password_hash):
        raise UserError(_("This password reset link is invalid, used or expired."))
    return user


def reset_password(token: str, new_password: str) -> User:
    """Set a new password through a reset link; the link then stops working."""
    user = user_for_reset_token(token)
    _set_password(user, new_password)
    # Following a link from the inbox proves the address too.
    _mark_confirmed(user)
    return user


def _session_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def open_session(user: User, device: str = "") -> str:
    """Record a new signed-in session of ``user`` from a coarsely described ``device``
    (see ``auth.devices``); return the secret its cookie keeps."""
    cutoff = utcnow() - current_app.config["SESSION_ABSOLUTE_LIFETIME"]
    db.session.execute(
        delete(UserSession).where(UserSession.user_id == user.id, UserSession.created_dt < cutoff)
    )
    secret = secrets.token_urlsafe(32)
    now = utcnow()
    db.session.add(
        UserSession(
            id=_session_key(secret),
            user_id=user.id,
            device=device[:40],
            created_dt=now,
            last_seen_dt=now,
        )
    )
    return secret


def close_session(secret: str | None) -> None:
    """End one session on the server: a copy of its cookie opens nothing from now on."""
    if secret:
        db.session.execute(delete(UserSession).where(UserSession.id == _session_key(secret)))


def close_all_sessions(user: User) -> None:
    """End every session of ``user``, on every device."""
    db.session.execute(delete(UserSession).where(UserSession.user_id == user.id))
    user.session_nonce = new_session_nonce()
    log.info("account %s signed out everywhere", user.id)


# A session's last activity is kept to this resolution: a page view writes at most once in it.
ACTIVITY_RESOLUTION = timedelta(minutes=5)


@dataclass(frozen=True)
class SessionInfo:
    """One signed-in session as its owner sees it: no address, no User-Agent."""

    id: str
    device: str
    created_dt: datetime
    last_seen_dt: datetime
    current: bool


def list_sessions(user: User, current_secret: str | None) -> list[SessionInfo]:
    """The account's sessions that can still be used, the most recently active first."""
    config = current_app.config
    now = utcnow()
    # Older than the absolute lifetime, or idle past the idle one: its cookie opens nothing.
    idle_cutoff = now - config["PERMANENT_SESSION_LIFETIME"] - ACTIVITY_RESOLUTION
    rows = db.session.scalars(
        select(UserSession)
        .where(
            UserSession.user_id == user.id,
            UserSession.created_dt >= now - config["SESSION_ABSOLUTE_LIFETIME"],
            func.coalesce(UserSession.last_seen_dt, UserSession.created_dt) >= idle_cutoff,
        )
        .order_by(
            func.coalesce(UserSession.last_seen_dt, UserSession.created_dt).desc(),
            UserSession.id,
        )
    )
    current = _session_key(current_secret) if current_secret else None
    return [
        SessionInfo(
            id=row.id,
            device=row.device,
            created_dt=row.created_dt,
            last_seen_dt=row.last_seen_dt or row.created_dt,
            current=row.id == current,
        )
        for row in rows
    ]


def end_session(user: User, session_id: str, current_secret: str | None) -> bool:
    """End one of the account's own sessions; return whether it was the current one."""
    ended = db.session.execute(
        delete(UserSession).where(UserSession.id == session_id[:64], UserSession.user_id == user.id)
    )
    if ended.rowcount != 1:
        raise NotFound(_("This session has already ended."))
    log.info("account %s ended one of its sessions", user.id)
    return current_secret is not None and _session_key(current_secret) == session_id


def session_is_stale(secret: str | None) -> bool:
    """Whether the session's last activity is older than the resolution it is kept to."""
    if not secret:
        return False
    held = db.session.get(UserSession, _session_key(secret))
    seen = held.last_seen_dt or held.created_dt if held else None
    return seen is not None and utcnow() - seen >= ACTIVITY_RESOLUTION


def note_activity(secret: str) -> None:
    """Record that the session was used now."""
    db.session.execute(
        update(UserSession)
        .where(UserSession.id == _session_key(secret))
        .values(last_seen_dt=utcnow())
        .execution_options(synchronize_session=False)
    )


def change_display_name(user: User, name: str) -> None:
    """Set the name shown on the account's rallies' pages (a pseudonym is fine)."""
    user.name = name.strip()


def user_for_second_step(user_id, nonce) -> User | None:
    """The account a half-finished sign-in is for, if it still may sign in: the same
    password (its session nonce) and not disabled since."""
    if not isinstance(user_id, int) or not isinstance(nonce, str):
        return None
    user = db.session.get(User, user_id)
    if user is None or user.session_nonce != nonce or not user.is_active:
        return None
    return user


def load_session_user(session_id: str, secret: str | None) -> User | None:
    """The account a session belongs to, if the server still holds that session."""
    user_id, _sep, nonce = session_id.partition(":")
    if not user_id.isdigit() or len(user_id) > 18 or not nonce or not secret:
        return None
    user = db.session.get(User, int(user_id))
    if user is None or user.session_nonce != nonce or not user.is_active:
        return None
    held = db.session.get(UserSession, _session_key(secret))
    if held is None or held.user_id != user.id:
        return None
    return user


def create_hq_account(email: str, name: str, password: str) -> tuple[User, bool]:
    """Make a confirmed HQ account, or promote an existing one; return it and if it is new."""
    email = normalize_email(email)
    user = find_user_by_email(email)
    created = user is None
    if user is None:
        user = User(email=email, name=name, password_hash=hash_password(password))
        db.session.add(user)
    else:
        _set_password(user, password)
    user.role = Role.HQ
    user.is_disabled = False
    user.email_confirmed_dt = user.email_confirmed_dt or utcnow()
    db.session.flush()
    record_audit(None, "account.create_hq" if created else "account.promote", "user", user.id)
    return user, created


def set_role(actor: User, user: User, role: Role) -> None:
    """Change an account's role (HQ only); HQ cannot demote itself."""
    if not actor.is_hq:
        raise NotAllowed()
    if user.id == actor.id and role is not Role.HQ:
        raise UserError(_("You cannot remove your own HQ role."))
    if user.role is role:
        return
    user.role = role
    close_all_sessions(user)
    record_audit(actor, "account.role", "user", user.id, role.value)


def set_disabled(actor: User, user: User, disabled: bool) -> None:
    """Disable or re-enable an account (HQ only); a disabled account is signed out at once."""
    if not actor.is_hq:
        raise NotAllowed()
    if user.id == actor.id:
        raise UserError(_("You cannot disable your own account."))
    if user.is_disabled is disabled:
        return
    user.is_disabled = disabled
    close_all_sessions(user)
    record_audit(actor, "account.disable" if disabled else "account.enable", "user", user.id)


def list_accounts(search: str = "", page: int = 1, per_page: int = 50):
    """Accounts for HQ, newest first, optionally filtered by name or e-mail."""
    query = select(User).order_by(User.created_dt.desc(), User.id.desc())
    if search:
        pattern = f"%{search.strip().lower()}%"
        query = query.where(func.lower(User.name).like(pattern) | User.email.like(pattern))
    return db.paginate(query, page=page, per_page=per_page, error_out=False)


DIGESTS_OFF = "digests-off"
# An unsubscribe link in a digest keeps working for as long as digests may arrive.
DIGESTS_OFF_MAX_AGE_S = 400 * 24 * 3600


def digests_off_url(user: User) -> str:
    """The one-click link in a digest that turns the organizer's digests off."""
    token = make_token(DIGESTS_OFF, {"uid": user.id})
    return external_url("auth.digests_off", token=token)


def user_for_digests_token(token: str) -> User:
    """The account a digests-off link is for; anything else is 404."""
    payload = read_token(DIGESTS_OFF, token, max_age=DIGESTS_OFF_MAX_AGE_S)
    user = db.session.get(User, payload["uid"]) if payload and "uid" in payload else None
    if user is None:
        raise NotFound()
    return user


def turn_digests_off(user: User) -> None:
    """No more daily digests of new sign-ups for this organizer."""
    if user.digests_off_dt is None:
        user.digests_off_dt = utcnow()
