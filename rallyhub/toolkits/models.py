"""Toolkit items: the campaign's shared signs, press releases and guides."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from rallyhub.extensions import db
from rallyhub.models import UTCDateTime, enum_column, utcnow

if TYPE_CHECKING:
    from rallyhub.auth.models import User
    from rallyhub.campaigns.models import Campaign


class ToolkitKind(enum.Enum):
    """What a toolkit item is for."""

    SIGN = "sign"
    PRESS_RELEASE = "press_release"
    SAFETY_GUIDE = "safety_guide"
    SOCIAL_MEDIA = "social_media"
    CHANT_SHEET = "chant_sheet"
    OTHER = "other"


class Audience(enum.Enum):
    """Who may see a toolkit item."""

    PUBLIC = "public"
    ORGANIZERS = "organizers"


class ToolkitItem(db.Model):
    """One toolkit item in one language: an uploaded file or a text body."""

    __tablename__ = "toolkit_items"
    __table_args__ = (
        CheckConstraint("(stored_name IS NOT NULL) OR (body IS NOT NULL)", name="file_or_body"),
        CheckConstraint("size_bytes IS NULL OR size_bytes >= 0", name="size_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[ToolkitKind] = mapped_column(enum_column(ToolkitKind, "toolkit_kind"))
    language: Mapped[str] = mapped_column(String(16))
    # Items sharing a group are one item in several languages ("also in: it, ru").
    group_key: Mapped[str] = mapped_column(String(32), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str | None] = mapped_column(Text)
    stored_name: Mapped[str | None] = mapped_column(String(64), unique=True)
    original_filename: Mapped[str | None] = mapped_column(String(255))
    content_type: Mapped[str | None] = mapped_column(String(100))
    size_bytes: Mapped[int | None]
    audience: Mapped[Audience] = mapped_column(
        enum_column(Audience, "toolkit_audience"), default=Audience.PUBLIC
    )
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    download_count: Mapped[int] = mapped_column(default=0)
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    archived_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)

    campaign: Mapped[Campaign] = relationship()
    uploaded_by: Mapped[User | None] = relationship()
