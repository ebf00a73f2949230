"""Supporters' sign-ups (RSVPs) to rallies."""

from __future__ import annotations

import enum
import secrets
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from rallyhub.extensions import db
from rallyhub.models import UTCDateTime, enum_column, utcnow

if TYPE_CHECKING:
    from rallyhub.auth.models import User
    from rallyhub.rallies.models import Rally


class SignupStatus(enum.Enum):
    """Whether the supporter has a place, waits for one, withdrew, or (at a rally whose
    organizers approve each attendee) asked to join and awaits or got their answer."""

    GOING = "going"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"
    # Asked to join a rally that requires approval: no place, no meeting point, until approved.
    REQUESTED = "requested"
    # The organizers said no; the same address cannot ask again.
    DECLINED = "declined"


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
        """Going or waiting, and not yet purged: what entitles the holder to the meeting point.

        A request to join (or a declined one) holds nothing until the organizers approve it.
        """
        return self.purged_dt is None and self.status in (
            SignupStatus.GOING,
            SignupStatus.WAITLISTED,
        )


class SafetyStatus(enum.Enum):
    """What someone said after a rally: home safe, or in need of help."""

    SAFE = "safe"
    NEEDS_HELP = "needs_help"


class SafetyAnswer(db.Model):
    """One person's answer after a rally (changeable: one row per person and rally).

    The person is a sign-up or, for the rally's organizers, their account. Only HQ could tell
    from these rows who has not answered; the organizers see counts.
    """

    __tablename__ = "safety_answers"
    __table_args__ = (
        UniqueConstraint("rally_id", "signup_id"),
        UniqueConstraint("rally_id", "user_id"),
        CheckConstraint("(signup_id IS NULL) <> (user_id IS NULL)", name="one_person"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rally_id: Mapped[int] = mapped_column(ForeignKey("rallies.id", ondelete="CASCADE"))
    signup_id: Mapped[int | None] = mapped_column(ForeignKey("signups.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[SafetyStatus] = mapped_column(enum_column(SafetyStatus, "safety_status"))
    answered_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SafetyIncident(db.Model):
    """A call for help after a rally, on HQ's board: the rally, the time, and only what the
    person chose to write. Nothing links it to who raised it (no sign-up, name or e-mail)."""

    __tablename__ = "safety_incidents"
    __table_args__ = (Index(None, "handled_dt", "created_dt"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rally_id: Mapped[int] = mapped_column(ForeignKey("rallies.id", ondelete="CASCADE"), index=True)
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    message: Mapped[str] = mapped_column(Text, default="")
    # How to reach them, only if they gave it (a phone, a Signal name…).
    contact: Mapped[str] = mapped_column(String(200), default="")
    handled_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    handled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    rally: Mapped[Rally] = relationship()
    handled_by: Mapped[User | None] = relationship()
