"""Campaigns: the movements rallies belong to."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from rallyhub.extensions import db
from rallyhub.models import UTCDateTime, utcnow

DEFAULT_EVE_HOUR, DEFAULT_DAY_HOUR = 11, 8


class Campaign(db.Model):
    """A campaign such as #GiustiziaPerLaCecenia."""

    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="dates_in_order"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    hashtag: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    start_date: Mapped[date]
    end_date: Mapped[date | None]
    is_active: Mapped[bool] = mapped_column(default=True)
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # What the campaign's supporters and organizers receive (HQ sets it): reminders the day
    # before and on the day, at these hours in each rally's own zone, and the organizers'
    # daily digest of new sign-ups.
    reminders_on: Mapped[bool] = mapped_column(default=True)
    reminder_eve_hour: Mapped[int] = mapped_column(default=DEFAULT_EVE_HOUR)
    reminder_day_hour: Mapped[int] = mapped_column(default=DEFAULT_DAY_HOUR)
    digests_on: Mapped[bool] = mapped_column(default=True)

    def __repr__(self) -> str:
        return f"<Campaign {self.slug}>"
