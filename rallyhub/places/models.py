"""What HQ knows about countries: whether rallying there puts people at risk."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from rallyhub.extensions import db
from rallyhub.models import UTCDateTime, utcnow

# The tile setting of a country whose maps must show nothing.
NO_MAP = "none"


class CountryRisk(db.Model):
    """HQ's settings for a country where attending a rally can get people arrested.

    Rallies there follow stricter rules without anyone setting anything per rally
    (rallyhub.rallies.risk applies them): protected, coarse public pin, no organizer name or
    counts in public, neutral e-mail subjects, personal data purged ``purge_hours`` after.
    """

    __tablename__ = "country_risks"
    # A change bumps the public data version (rallyhub.caching).
    public_content = True
    __table_args__ = (
        CheckConstraint("length(country_code) = 2", name="country_code_length"),
        CheckConstraint("cell_km BETWEEN 1 AND 50", name="cell_km_range"),
        CheckConstraint("purge_hours BETWEEN 1 AND 720", name="purge_hours_range"),
        CheckConstraint("hold_hours IS NULL OR hold_hours BETWEEN 1 AND 72", name="hold_range"),
    )

    country_code: Mapped[str] = mapped_column(String(2), primary_key=True)
    high_risk: Mapped[bool] = mapped_column(default=True)
    note: Mapped[str] = mapped_column(Text, default="")
    cell_km: Mapped[float] = mapped_column(default=5.0, doc="size of the public pin's grid cell")
    purge_hours: Mapped[int] = mapped_column(default=24, doc="personal data kept after the end")
    hold_hours: Mapped[int | None] = mapped_column(
        doc="meeting point sent this many hours before the start (None: at sign-up)"
    )
    two_factor: Mapped[bool] = mapped_column(
        default=True, doc="organizers of rallies here must sign in with a second factor"
    )
    tiles: Mapped[str] = mapped_column(
        String(500), default="", doc='"" the usual tiles, "none" no map, else a tile URL'
    )
    set_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    set_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
