"""Accounts: organizers and HQ staff."""

from __future__ import annotations

import enum
import secrets
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import ForeignKey, Index, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from rallyhub.extensions import db
from rallyhub.models import UTCDateTime, enum_column, utcnow


class Role(enum.Enum):
    """What an account may do beyond a supporter."""

    ORGANIZER = "organizer"
    HQ = "hq"


def new_session_nonce() -> str:
    """Return a fresh value that, once stored, signs out every existing session."""
    return secrets.token_urlsafe(16)


class User(UserMixin, db.Model):
    """A person with an account: an organizer, or HQ staff."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(enum_column(Role, "user_role"), default=Role.ORGANIZER)
    is_disabled: Mapped[bool] = mapped_column(default=False)
    # Part of the session id: changing it (new password, disabling) ends every session.
    session_nonce: Mapped[str] = mapped_column(String(32), default=new_session_nonce)
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    email_confirmed_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_login_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The language the account was opened in: what rallyhub writes to it in.
    language: Mapped[str] = mapped_column(String(12), default="en")
    # When the organizer turned the daily digests of new sign-ups off.
    digests_off_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The TOTP shared secret (base32); set when enrolment starts, in use once confirmed.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_enabled_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The 30-second step of the last code accepted: it, and any step before it, is spent.
    totp_last_step: Mapped[int | None]
    # HQ (or a rule for countries at risk) requires a second factor of this organizer.
    two_factor_required: Mapped[bool] = mapped_column(default=False, server_default=false())

    recovery_codes: Mapped[list[RecoveryCode]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def is_hq(self) -> bool:
        """Whether this account has HQ rights."""
        return self.role is Role.HQ

    @property
    def two_factor_enabled(self) -> bool:
        """Whether signing in asks for a code after the password."""
        return self.totp_enabled_dt is not None

    @property
    def must_use_two_factor(self) -> bool:
        """Whether this account may not do without a second factor (HQ, or required of it)."""
        return self.is_hq or self.two_factor_required

    @property
    def is_active(self) -> bool:
        """Flask-Login: only confirmed, enabled accounts may hold a session."""
        return not self.is_disabled and self.email_confirmed_dt is not None

    def get_id(self) -> str:
        """Flask-Login: the id kept in the session, tied to the current nonce."""
        return f"{self.id}:{self.session_nonce}"

    def __repr__(self) -> str:
        return f"<User {self.id} {self.role.value}>"


class UserSession(db.Model):
    """One signed-in browser; deleting the row ends that session wherever its cookie is."""

    __tablename__ = "user_sessions"

    # The SHA-256 of the secret kept in the session cookie: a copy of this table opens nothing.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A coarse description of the browser ("firefox android", see auth.devices); never the
    # User-Agent itself, and no address.
    device: Mapped[str] = mapped_column(String(40), default="", server_default="")
    # When the session was last used, to a few minutes (see auth.services.ACTIVITY_RESOLUTION).
    last_seen_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RecoveryCode(db.Model):
    """A one-time code that stands in for the authenticator app (a lost phone)."""

    __tablename__ = "recovery_codes"
    __table_args__ = (Index(None, "user_id", "code_hash", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # SHA-256 of the code: codes carry 80 random bits, so a copy of the table opens nothing.
    code_hash: Mapped[str] = mapped_column(String(64))
    used_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(back_populates="recovery_codes")
