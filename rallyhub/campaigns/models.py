"""Campaigns: the movements rallies belong to."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from rallyhub.extensions import db
from rallyhub.models import UTCDateTime, utcnow

DEFAULT_EVE_HOUR, DEFAULT_DAY_HOUR = 11, 8


class Campaign(db.Model):
    """A campaign such as #GiustiziaPerLaCecenia."""

    __tablename__ = "campaigns"
    # A change bumps the public data version (rallyhub.caching).
    public_content = True
    __table_args__ = (
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="dates_in_order"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    hashtag: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    # The language its name and description are written in (translations add others).
    language: Mapped[str] = mapped_column(String(10), default="en", server_default="en")
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

    translations: Mapped[list[CampaignTranslation]] = relationship(
        back_populates="campaign",
        cascade="all, delete-orphan",
        order_by="CampaignTranslation.language",
    )

    def __repr__(self) -> str:
        return f"<Campaign {self.slug}>"


class CampaignTranslation(db.Model):
    """A campaign's name and description in another interface language (HQ writes them)."""

    __tablename__ = "campaign_translations"
    # A change bumps the public data version (rallyhub.caching).
    public_content = True
    __table_args__ = (UniqueConstraint("campaign_id", "language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(String(10), doc="interface language code, e.g. pt_BR")
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")

    campaign: Mapped[Campaign] = relationship(back_populates="translations")
