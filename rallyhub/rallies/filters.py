"""The one filter over rallies: which campaign, country and start dates a list covers.

The map, the events feed, the radius search and HQ's summaries all read it from the same query
arguments and apply it with :func:`filtered`. Queries are built once per *shape* (which of the
filters are set) with every value a bound parameter, so the hot paths pay for neither building
SQL nor computing its cache key.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache

from sqlalchemy import ColumnElement, Select, and_, bindparam, or_, select

from rallyhub.campaigns.models import Campaign
from rallyhub.models import utcnow
from rallyhub.params import country_arg, date_range_args, text_arg
from rallyhub.rallies.models import Rally, RallyStatus


class Scope(enum.Enum):
    """Which rallies a list can show at all, before the filter narrows it."""

    #: Approved and not yet ended: what the public map, feed and search show.
    UPCOMING = "upcoming"
    #: Approved, or cancelled after HQ approved it, at any time: what was really on
    #: (HQ's summaries count these).
    HELD = "held"


def was_public() -> ColumnElement[bool]:
    """SQL for ``rallies.services.is_public``: approved, or cancelled after its approval."""
    return or_(
        Rally.status == RallyStatus.APPROVED,
        and_(Rally.status == RallyStatus.CANCELLED, Rally.approved_dt.is_not(None)),
    )


@dataclass(frozen=True)
class RallyFilter:
    """A campaign (slug), a country (alpha-2) and a range of start days (UTC), each optional."""

    campaign_slug: str | None = None
    country_code: str | None = None
    start: date | None = None
    end: date | None = None

    @classmethod
    def from_args(cls, args) -> RallyFilter:
        """Read ``campaign``, ``country``, ``start`` and ``end``; a bad one is a UserError
        naming it."""
        start, end = date_range_args(args)
        return cls(text_arg(args, "campaign", 80), country_arg(args), start, end)

    @property
    def shape(self) -> tuple[bool, bool, bool, bool]:
        """Which of the filters are set (queries are built once per shape)."""
        return (
            bool(self.campaign_slug),
            bool(self.country_code),
            self.start is not None,
            self.end is not None,
        )

    def values(self, now: datetime) -> dict[str, object]:
        """The parameters of :func:`conditions` for this filter, rallies ending after ``now``."""
        return {
            "ends_after": now,
            "campaign_slug": self.campaign_slug,
            "country_code": self.country_code.upper() if self.country_code else None,
            "starts_from": datetime.combine(self.start, time(), UTC) if self.start else None,
            "starts_before": datetime.combine(self.end + timedelta(days=1), time(), UTC)
            if self.end
            else None,
        }


#: Every rally of the scope.
NO_FILTER = RallyFilter()


@cache
def conditions(
    shape: tuple[bool, bool, bool, bool], scope: Scope = Scope.UPCOMING
) -> tuple[ColumnElement[bool], ...]:
    """What makes a rally count, for a filter of this shape; values come from
    :meth:`RallyFilter.values` as named parameters."""
    campaign, country, start, end = shape
    if scope is Scope.UPCOMING:
        clauses = [Rally.status == RallyStatus.APPROVED, Rally.end_dt > bindparam("ends_after")]
    else:
        clauses = [was_public()]
    if campaign:
        clauses.append(
            Rally.campaign_id.in_(
                select(Campaign.id).where(Campaign.slug == bindparam("campaign_slug"))
            )
        )
    if country:
        clauses.append(Rally.country_code == bindparam("country_code"))
    if start:
        clauses.append(Rally.start_dt >= bindparam("starts_from"))
    if end:
        clauses.append(Rally.start_dt < bindparam("starts_before"))
    return tuple(clauses)


def filtered(
    query: Select,
    filters: RallyFilter,
    scope: Scope = Scope.UPCOMING,
    now: datetime | None = None,
) -> Select:
    """Restrict ``query`` over Rally to the rallies of ``scope`` that match ``filters``."""
    values = filters.values(now or utcnow())
    if scope is not Scope.UPCOMING:
        del values["ends_after"]
    return query.where(*conditions(filters.shape, scope)).params(values)
