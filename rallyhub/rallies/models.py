"""Rallies, their co-organizers and turnout reports."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from rallyhub.auth.models import User
from rallyhub.campaigns.models import Campaign
from rallyhub.extensions import db
from rallyhub.models import UTCDateTime, enum_column, utcnow
from rallyhub.places.distance import BANDS_PER_DEGREE, latitude_band, unit_vector
from rallyhub.rallies.privacy import public_position


class RallyStatus(enum.Enum):
    """Where a rally is in its review; past rallies keep their last status."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    #: Taken down in an emergency by its organizers or HQ: hidden from everyone else (404),
    #: its sign-ups' personal data wiped (rallyhub.rallies.takedown).
    TAKEN_DOWN = "taken_down"


class Visibility(enum.Enum):
    """Whether the meeting point is public or only for people who signed up."""

    PUBLIC = "public"
    PROTECTED = "protected"


rally_coorganizers = Table(
    "rally_coorganizers",
    db.metadata,
    Column("rally_id", ForeignKey("rallies.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
)


class Rally(db.Model):
    """One rally of a campaign, in one city, at one time."""

    __tablename__ = "rallies"
    # A change bumps the public data version (rallyhub.caching).
    public_content = True
    __table_args__ = (
        CheckConstraint("end_dt > start_dt", name="ends_after_start"),
        CheckConstraint("latitude BETWEEN -90 AND 90", name="latitude_range"),
        CheckConstraint("longitude BETWEEN -180 AND 180", name="longitude_range"),
        CheckConstraint("public_latitude BETWEEN -90 AND 90", name="public_latitude_range"),
        CheckConstraint("public_longitude BETWEEN -180 AND 180", name="public_longitude_range"),
        CheckConstraint("capacity IS NULL OR capacity > 0", name="capacity_positive"),
        CheckConstraint("walk_in_count >= 0", name="walk_in_count_positive"),
        CheckConstraint("length(country_code) = 2", name="country_code_length"),
        # The radius-search columns are derived from the public position (see below).
        CheckConstraint(
            f"(public_latitude + 90) * {BANDS_PER_DEGREE} >= public_band"
            f" AND (public_latitude + 90) * {BANDS_PER_DEGREE} < public_band + 1",
            name="public_band_holds_public_latitude",
        ),
        CheckConstraint(
            "public_x * public_x + public_y * public_y + public_z * public_z"
            " BETWEEN 0.999999 AND 1.000001",
            name="public_vector_is_unit",
        ),
        Index(None, "status", "start_dt"),
        # Radius search: per band of latitude, one run of longitudes; the rest of the box, the
        # end and the vector that gives the distance are read from the index, not the table.
        # Leading with status also keeps SQLite's planner from preferring the (status,
        # start_dt) index before ANALYZE has run.
        Index(
            "ix_rallies_radius_search",
            "status",
            "public_band",
            "public_longitude",
            "public_latitude",
            "end_dt",
            "public_x",
            "public_y",
            "public_z",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    organizer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    city: Mapped[str] = mapped_column(String(200))
    place_id: Mapped[int | None] = mapped_column(doc="GeoNames id of the city, when known")
    country_code: Mapped[str] = mapped_column(String(2))
    meeting_point: Mapped[str] = mapped_column(String(500), default="")
    latitude: Mapped[float]
    longitude: Mapped[float]
    # Where the public may see the rally: the pin itself, or for protected rallies the centre
    # of its ~1 km grid cell. Every public map, distance and feed uses these.
    public_latitude: Mapped[float]
    public_longitude: Mapped[float]
    # The public position as the radius search reads it: its band of latitude, and its unit
    # vector (distances are computed from it, in SQL as in Python).
    public_band: Mapped[int]
    public_x: Mapped[float]
    public_y: Mapped[float]
    public_z: Mapped[float]
    timezone: Mapped[str] = mapped_column(String(64))
    start_dt: Mapped[datetime] = mapped_column(UTCDateTime)
    end_dt: Mapped[datetime] = mapped_column(UTCDateTime)
    capacity: Mapped[int | None]
    asks_phone: Mapped[bool] = mapped_column(default=False, doc="sign-up form asks for a phone")
    # Supporters ask to join and the organizers approve each one; read it through
    # rallyhub.rallies.services.requires_approval, which may require it for other reasons too.
    approval_required: Mapped[bool] = mapped_column(default=False)
    walk_in_count: Mapped[int] = mapped_column(default=0, doc="people checked in without sign-up")
    # After the rally, ask the people at it whether they got home safe; whether a rally does is
    # decided by rallyhub.rallies.safety.checkins_on (which reads this).
    safety_checkins: Mapped[bool] = mapped_column(default=False)
    languages: Mapped[str] = mapped_column(String(100), default="", doc="comma-separated codes")
    # The public pin's grid cell in km for a protected rally (None: the usual ~1 km); set from
    # its country's risk settings (rallyhub.rallies.risk).
    public_cell_km: Mapped[float | None]
    # The meeting point reaches signed-up supporters this many hours before the start (None:
    # with their confirmation); organizers and HQ see it all along.
    hold_hours: Mapped[int | None]
    status: Mapped[RallyStatus] = mapped_column(
        enum_column(RallyStatus, "rally_status"), default=RallyStatus.PENDING
    )
    visibility: Mapped[Visibility] = mapped_column(
        enum_column(Visibility, "rally_visibility"), default=Visibility.PUBLIC
    )
    review_note: Mapped[str] = mapped_column(Text, default="")
    # When HQ first approved the rally: a rally cancelled after that keeps its public page.
    approved_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_note: Mapped[str] = mapped_column(Text, default="")
    # When it was taken down (status TAKEN_DOWN); who did it is in the audit record.
    taken_down_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    # One way: campaigns sit below rallies and know nothing of them.
    campaign: Mapped[Campaign] = relationship()
    organizer: Mapped[User] = relationship(foreign_keys=[organizer_id])
    coorganizers: Mapped[list[User]] = relationship(secondary=rally_coorganizers)
    turnout_report: Mapped[TurnoutReport | None] = relationship(back_populates="rally")
    invites: Mapped[list[CoorganizerInvite]] = relationship(
        back_populates="rally", cascade="all, delete-orphan"
    )
    translations: Mapped[list[RallyTranslation]] = relationship(
        back_populates="rally", cascade="all, delete-orphan", order_by="RallyTranslation.language"
    )

    def __repr__(self) -> str:
        return f"<Rally {self.id} {self.status.value}>"


class RallyTranslation(db.Model):
    """A rally's title, description and meeting point in another interface language,
    written by its organizers; the rally's own fields hold its main language."""

    __tablename__ = "rally_translations"
    # A change bumps the public data version (rallyhub.caching).
    public_content = True
    __table_args__ = (UniqueConstraint("rally_id", "language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rally_id: Mapped[int] = mapped_column(ForeignKey("rallies.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(String(10), doc="interface language code, e.g. pt_BR")
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    meeting_point: Mapped[str] = mapped_column(String(500), default="")
    updated_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    rally: Mapped[Rally] = relationship(back_populates="translations")


class CoorganizerInvite(db.Model):
    """An invitation, sent to an e-mail address, to co-organize a rally once accepted.

    Whether the address has an account plays no part: the invitee accepts through the link
    mailed to them, signed in with that address.
    """

    __tablename__ = "coorganizer_invites"
    __table_args__ = (UniqueConstraint("rally_id", "email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rally_id: Mapped[int] = mapped_column(ForeignKey("rallies.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(254), index=True)
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Only a digest of the link's secret is kept: the database alone cannot accept anything.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_dt: Mapped[datetime] = mapped_column(UTCDateTime)

    rally: Mapped[Rally] = relationship(back_populates="invites")


class TurnoutReport(db.Model):
    """The organizer's count of the people who came."""

    __tablename__ = "turnout_reports"
    __table_args__ = (CheckConstraint("people_present >= 0", name="people_present_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rally_id: Mapped[int] = mapped_column(ForeignKey("rallies.id", ondelete="CASCADE"), unique=True)
    people_present: Mapped[int]
    notes: Mapped[str] = mapped_column(Text, default="")
    reported_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reported_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    rally: Mapped[Rally] = relationship(back_populates="turnout_report")
    reported_by: Mapped[User | None] = relationship()


class SafetyContact(db.Model):
    """Legal-aid and emergency contacts for one country, in one language, kept by HQ: shown to
    someone who says after a rally there that they need help."""

    __tablename__ = "safety_contacts"
    __table_args__ = (
        UniqueConstraint("country_code", "language"),
        CheckConstraint("length(country_code) = 2", name="country_code_length"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    country_code: Mapped[str] = mapped_column(String(2))
    language: Mapped[str] = mapped_column(String(12), doc="interface language code, e.g. pt_BR")
    text: Mapped[str] = mapped_column(Text, doc="plain text; http(s) addresses become links")
    updated_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    updated_by: Mapped[User | None] = relationship()


@event.listens_for(Rally, "before_insert")
@event.listens_for(Rally, "before_update")
def _derive_public_position(_mapper, _connection, rally: Rally) -> None:
    """Keep the public position in step with the pin and visibility, whoever changes them."""
    rally.public_latitude, rally.public_longitude = public_position(
        rally.latitude,
        rally.longitude,
        rally.visibility is Visibility.PROTECTED,
        rally.public_cell_km,
    )
    for name, value in search_columns(rally.public_latitude, rally.public_longitude).items():
        setattr(rally, name, value)


def search_columns(public_latitude: float, public_longitude: float) -> dict[str, float | int]:
    """The columns the radius search reads, derived from a public position (bulk inserts that
    bypass the ORM set them from here)."""
    x, y, z = unit_vector(public_latitude, public_longitude)
    return {
        "public_band": latitude_band(public_latitude),
        "public_x": x,
        "public_y": y,
        "public_z": z,
    }
