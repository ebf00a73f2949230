"""Supporters' sign-ups (RSVPs) to rallies."""

from __future__ import annotations

import enum
import secrets
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from rallyhub.extensions import db
from rallyhub.models import UTCDateTime, enum_column, utcnow

if TYPE_CHECKING:
    from rallyhub.rallies.models import Rally


class SignupStatus(enum.Enum):
    """Whether the supporter has a place, waits for one, or withdrew."""

    GOING = "going"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"


def new_manage_token() -> str:
    """Return an unguessable token (256 bits) for a sign-up's manage link."""
    return secrets.token_urlsafe(32)


class Signup(db.Model):
    """One supporter's sign-up to one rally; personal fields are purged after the rally."""

    __tablename__ = "signups"
    __table_args__ = (
        UniqueConstraint("rally_id", "email"),
        CheckConstraint(
            "purged_dt IS NOT NULL OR (name IS NOT NULL AND email IS NOT NULL)",
            name="personal_data_until_purged",
        ),
        Index(None, "rally_id", "status", "created_dt"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rally_id: Mapped[int] = mapped_column(ForeignKey("rallies.id", ondelete="CASCADE"))
    name: Mapped[str | None] = mapped_column(String(120))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    consent_to_contact: Mapped[bool] = mapped_column(default=False)
    token: Mapped[str] = mapped_column(String(64), unique=True, default=new_manage_token)
    status: Mapped[SignupStatus] = mapped_column(
        enum_column(SignupStatus, "signup_status"), default=SignupStatus.GOING
    )
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    checked_in_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    purged_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The language the supporter signed up in: their messages are written in it.
    language: Mapped[str] = mapped_column(String(12), default="en")
    # When they turned optional messages off (reminders, the organizers' messages).
    unsubscribed_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)

    rally: Mapped[Rally] = relationship()

    @property
    def holds_a_place(self) -> bool:
        """Going or waiting, and not yet purged: what entitles the holder to the meeting point."""
        return self.purged_dt is None and self.status in (
            SignupStatus.GOING,
            SignupStatus.WAITLISTED,
        )
