"""Two-factor sign-in: a TOTP authenticator app (RFC 6238), and one-time recovery codes.

HQ accounts must use it, organizers may, and HQ (or a rule for countries at risk, through
:func:`require_two_factor`) can require it of an organizer. A code is accepted for the
current 30-second step and the one before it (a phone's clock a little behind, a code typed
as it changed), and only once: each account keeps the last step it accepted, and no code of
that step or an earlier one opens anything again (RFC 6238, section 5.2).
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import time
import unicodedata
from dataclasses import dataclass

import pyotp
import segno
from flask import current_app
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import delete, func, or_, select, update

from rallyhub.auth.audit import record_audit
from rallyhub.auth.models import RecoveryCode, User
from rallyhub.auth.services import close_all_sessions
from rallyhub.errors import NotAllowed, UserError
from rallyhub.extensions import db
from rallyhub.models import utcnow

log = logging.getLogger(__name__)

RECOVERY_CODE_COUNT = 10
# 16 characters of 31 (no 0/o, 1/l/i): 79 bits each, so their plain SHA-256 is safe to keep.
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_RECOVERY_LENGTH = 16
_TOTP_CODE = re.compile(r"[0-9]{6}")
# What people type between groups of digits or letters: spaces, hyphens, dots.
_SEPARATORS = re.compile(r"[\s\-.\u00a0\u2010-\u2015]+")


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret)


def must_enrol(user: User) -> bool:
    """Whether the account has to set up two-factor sign-in before it may do anything."""
    return user.must_use_two_factor and not user.two_factor_enabled


# -- enrolment -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Enrolment:
    """What the enrolment page shows: the secret in groups of four, and the QR code of it."""

    secret: str
    grouped: str
    uri: str
    qr_svg: Markup


def start_enrolment(user: User) -> Enrolment:
    """Give the account a new secret to confirm (or keep the one not confirmed yet)."""
    if user.two_factor_enabled:
        raise UserError(_("Two-factor sign-in is already on."))
    if not user.totp_secret:
        user.totp_secret = pyotp.random_base32()
    secret = user.totp_secret
    uri = _totp(secret).provisioning_uri(
        name=user.email, issuer_name=current_app.config["TOTP_ISSUER"]
    )
    # Drawn here, as SVG paths: no image service ever sees the secret.
    svg = segno.make(uri, error="m").svg_inline(scale=4, border=4, light="#fff", dark="#000")
    return Enrolment(
        secret=secret,
        grouped=" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        uri=uri,
        qr_svg=Markup(svg),  # noqa: S704 - segno's own markup, no text of anyone's in it
    )


def confirm_enrolment(user: User, code: str, at: float | None = None) -> list[str]:
    """Turn two-factor sign-in on with a first code from the app; return new recovery codes."""
    if user.two_factor_enabled:
        raise UserError(_("Two-factor sign-in is already on."))
    if not user.totp_secret:
        raise UserError(_("Please start the set-up again."), field="code")
    _accept_totp(user, _normalize(code), at)
    user.totp_enabled_dt = utcnow()
    codes = _new_recovery_codes(user)
    record_audit(user, "account.two_factor_on", "user", user.id)
    log.info("account %s turned two-factor sign-in on", user.id)
    return codes


# -- codes -----------------------------------------------------------------------------------


def _normalize(code: str | None) -> str:
    """Without separators, lower case, digits of any script as ASCII (a keyboard's ٣ is 3)."""
    text = _SEPARATORS.sub("", code or "")[:64].lower()
    return "".join(
        str(digit) if (digit := unicodedata.decimal(ch, None)) is not None else ch for ch in text
    )


def _matching_step(secret: str, code: str, at: float | None) -> int | None:
    """The step (current, or the one before) whose code ``code`` is, if any."""
    totp = _totp(secret)
    now = totp.timecode(time.time() if at is None else at)
    # pyotp's verify(valid_window=1) would also take the next step's code: we take only the
    # current and the previous one.
    for step in (now, now - 1):
        if secrets.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _accept_totp(user: User, code: str, at: float | None) -> None:
    """Spend an authenticator code of ``user``, or raise why it is refused."""
    if not _TOTP_CODE.fullmatch(code):
        raise UserError(_("Enter the 6 digits your app shows."), field="code")
    step = _matching_step(user.totp_secret or "", code, at)
    if step is None:
        raise UserError(
            _("That code is not right. Check the time on your phone and try the next code."),
            field="code",
        )
    # One conditional UPDATE: of two requests racing with one code, only one changes the row.
    spent = db.session.execute(
        update(User)
        .where(
            User.id == user.id,
            or_(User.totp_last_step.is_(None), User.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session="fetch")
    )
    if spent.rowcount != 1:
        raise UserError(
            _("That code has been used already. Please wait for the next one."), field="code"
        )


def _recovery_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _accept_recovery_code(user: User, code: str) -> None:
    spent = db.session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == _recovery_hash(code),
            RecoveryCode.used_dt.is_(None),
        )
        .values(used_dt=utcnow())
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:
        raise UserError(_("That recovery code is not right, or it was used already."), field="code")
    record_audit(user, "account.recovery_code_used", "user", user.id)
    log.info("account %s used a recovery code", user.id)


def check_second_factor(user: User, code: str, at: float | None = None) -> bool:
    """Spend a code of the app or a recovery code; return whether it was a recovery code."""
    if not user.two_factor_enabled:
        raise NotAllowed()
    code = _normalize(code)
    if not code:
        raise UserError(_("Please enter a code."), field="code")
    if len(code) <= 8 and code.isascii() and code.isdigit():
        _accept_totp(user, code, at)
        return False
    _accept_recovery_code(user, code)
    return True


# -- recovery codes --------------------------------------------------------------------------


def _format_recovery(code: str) -> str:
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def _new_recovery_codes(user: User) -> list[str]:
    """Replace the account's recovery codes with new ones; return them (shown once)."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [
        "".join(secrets.choice(_RECOVERY_ALPHABET) for _i in range(_RECOVERY_LENGTH))
        for _n in range(RECOVERY_CODE_COUNT)
    ]
    db.session.add_all(RecoveryCode(user_id=user.id, code_hash=_recovery_hash(c)) for c in codes)
    return [_format_recovery(code) for code in codes]


def renew_recovery_codes(user: User, code: str, at: float | None = None) -> list[str]:
    """New recovery codes (the old ones stop working), after a code proves the person."""
    check_second_factor(user, code, at)
    codes = _new_recovery_codes(user)
    record_audit(user, "account.recovery_codes_new", "user", user.id)
    return codes


def recovery_codes_left(user: User) -> int:
    """How many of the account's recovery codes are still unused."""
    return db.session.scalar(
        select(func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.used_dt.is_(None))
    )


# -- turning it off, requiring it ------------------------------------------------------------


def _clear(user: User) -> None:
    user.totp_secret = None
    user.totp_enabled_dt = None
    user.totp_last_step = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))


def disable_two_factor(user: User, code: str, at: float | None = None) -> None:
    """Turn two-factor sign-in off with a code, for an account allowed to go without it."""
    if user.must_use_two_factor:
        raise NotAllowed(_("Your account must use two-factor sign-in: it cannot be turned off."))
    check_second_factor(user, code, at)
    _clear(user)
    record_audit(user, "account.two_factor_off", "user", user.id)
    log.info("account %s turned two-factor sign-in off", user.id)


def require_two_factor(user: User, required: bool = True, actor: User | None = None) -> bool:
    """Require (or stop requiring) a second factor of an account; return whether it changed.

    The account's open sessions stay, but they can do nothing but set it up from their next
    request on (see ``auth.views``); without ``actor`` the change is the system's (a rule for
    countries at risk) and is audited as such.
    """
    if user.two_factor_required is required:
        return False
    user.two_factor_required = required
    record_audit(actor, "account.two_factor_required", "user", user.id, "on" if required else "off")
    return True


def set_two_factor_required(actor: User, user: User, required: bool) -> bool:
    """HQ requires (or stops requiring) two-factor sign-in of an organizer."""
    if not actor.is_hq:
        raise NotAllowed()
    if user.is_hq:
        raise UserError(_("HQ accounts always use two-factor sign-in."))
    return require_two_factor(user, required, actor=actor)


def reset_two_factor(user: User) -> None:
    """Forget an account's authenticator and recovery codes (an operator's last resort when
    both are lost) and end its sessions (a lost phone may hold one); it sets a new app up at
    its next sign-in if it must use one."""
    _clear(user)
    close_all_sessions(user)
    record_audit(None, "account.two_factor_reset", "user", user.id)
