"""HQ's summaries: attendance per rally, country and campaign, without personal data."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import Select, func, select

from rallyhub.campaigns.models import Campaign
from rallyhub.errors import UserError
from rallyhub.extensions import db
from rallyhub.i18n import country_name
from rallyhub.params import date_range_args
from rallyhub.rallies.models import Rally, RallyStatus, TurnoutReport
from rallyhub.signups.models import Signup, SignupStatus

ATTENDANCE_HEADER = [
    "rally_id",
    "campaign",
    "country_code",
    "country",
    "city",
    "title",
    "starts_at_local",
    "timezone",
    "status",
    "signups",
    "checked_in",
    "reported_turnout",
]
COUNTRIES_HEADER = [
    "country_code",
    "country",
    "rallies",
    "signups",
    "checked_in",
    "reported_turnout",
]
# Summaries cover rallies that were (or are) really on; pending and rejected ones never were.
COUNTED_STATUSES = (RallyStatus.APPROVED, RallyStatus.CANCELLED)


@dataclass(frozen=True)
class SummaryFilter:
    """Which rallies a summary covers: a campaign and a range of start dates (UTC)."""

    campaign_slug: str | None = None
    start: date | None = None
    end: date | None = None


def parse_filter(args) -> SummaryFilter:
    """Read ``campaign``, ``start`` and ``end`` from query arguments, or say what is wrong."""

    start, end = date_range_args(args)
    summary = SummaryFilter((args.get("campaign") or "").strip()[:80] or None, start, end)
    if (
        summary.campaign_slug
        and db.session.scalar(select(Campaign.id).where(Campaign.slug == summary.campaign_slug))
        is None
    ):
        raise UserError(
            _("There is no campaign “%(slug)s”.", slug=summary.campaign_slug), field="campaign"
        )
    return summary


def _signup_totals():
    """Per rally: active sign-ups and checked-in sign-ups (purged rows still count)."""
    return (
        select(
            Signup.rally_id,
            func.count().filter(Signup.status != SignupStatus.CANCELLED).label("signups"),
            func.count(Signup.checked_in_dt).label("checked_in"),
        )
        .group_by(Signup.rally_id)
        .subquery("signup_totals")
    )


def _per_rally(summary: SummaryFilter) -> Select:
    totals = _signup_totals()
    query = (
        select(
            Rally.id,
            Campaign.slug,
            Rally.country_code,
            Rally.city,
            Rally.title,
            Rally.start_dt,
            Rally.timezone,
            Rally.status,
            func.coalesce(totals.c.signups, 0).label("signups"),
            (func.coalesce(totals.c.checked_in, 0) + Rally.walk_in_count).label("checked_in"),
            TurnoutReport.people_present.label("reported_turnout"),
        )
        .join(Campaign, Campaign.id == Rally.campaign_id)
        .outerjoin(totals, totals.c.rally_id == Rally.id)
        .outerjoin(TurnoutReport, TurnoutReport.rally_id == Rally.id)
        .where(Rally.status.in_(COUNTED_STATUSES))
    )
    if summary.campaign_slug:
        query = query.where(Campaign.slug == summary.campaign_slug)
    if summary.start:
        query = query.where(Rally.start_dt >= datetime.combine(summary.start, time(), UTC))
    if summary.end:
        end = datetime.combine(summary.end + timedelta(days=1), time(), UTC)
        query = query.where(Rally.start_dt < end)
    return query


def attendance_rows(summary: SummaryFilter) -> Iterator[tuple]:
    """One row per rally, in ATTENDANCE_HEADER's order, streamed from the database."""
    query = _per_rally(summary).order_by(Rally.start_dt, Rally.id)
    result = db.session.execute(query.execution_options(yield_per=2000))
    zones: dict[str, ZoneInfo] = {}
    names: dict[str, str] = {}
    for (
        rally_id,
        slug,
        code,
        city,
        title,
        start,
        zone,
        status,
        signups,
        checked_in,
        turnout,
    ) in result:
        tz = zones.get(zone) or zones.setdefault(zone, ZoneInfo(zone))
        country = names.get(code) or names.setdefault(code, country_name(code))
        yield (
            rally_id,
            slug,
            code,
            country,
            city,
            title,
            start.astimezone(tz).isoformat(),
            zone,
            status.value,
            signups,
            checked_in,
            turnout if turnout is not None else "",
        )


def country_rows(summary: SummaryFilter) -> list[tuple]:
    """One row per country, in COUNTRIES_HEADER's order, summed in the database."""
    per_rally = _per_rally(summary).subquery("per_rally")
    query = (
        select(
            per_rally.c.country_code,
            func.count(),
            func.sum(per_rally.c.signups),
            func.sum(per_rally.c.checked_in),
            func.coalesce(func.sum(per_rally.c.reported_turnout), 0),
        )
        .group_by(per_rally.c.country_code)
        .order_by(per_rally.c.country_code)
    )
    return [
        (code, country_name(code), rallies, int(signups or 0), int(checked or 0), int(turnout or 0))
        for code, rallies, signups, checked, turnout in db.session.execute(query)
    ]


def campaign_totals(summary: SummaryFilter) -> list[dict]:
    """Per campaign: rallies, cities, countries, sign-ups, check-ins and reported turnout."""
    per_rally = _per_rally(summary).add_columns(Campaign.hashtag).subquery("per_rally")
    query = (
        select(
            per_rally.c.slug,
            per_rally.c.hashtag,
            func.count(),
            func.count(func.distinct(per_rally.c.city + "|" + per_rally.c.country_code)),
            func.count(func.distinct(per_rally.c.country_code)),
            func.coalesce(func.sum(per_rally.c.signups), 0),
            func.coalesce(func.sum(per_rally.c.checked_in), 0),
            func.coalesce(func.sum(per_rally.c.reported_turnout), 0),
        )
        .group_by(per_rally.c.slug, per_rally.c.hashtag)
        .order_by(per_rally.c.slug)
    )
    keys = (
        "slug",
        "hashtag",
        "rallies",
        "cities",
        "countries",
        "signups",
        "checked_in",
        "reported_turnout",
    )
    return [dict(zip(keys, row, strict=True)) for row in db.session.execute(query)]


def turnout_points(summary: SummaryFilter) -> list[dict]:
    """Public positions and reported turnout of the rallies that reported one, for the map."""
    query = (
        _per_rally(summary)
        .add_columns(Rally.public_latitude, Rally.public_longitude)
        .where(TurnoutReport.people_present.is_not(None))
    )
    return [
        {
            "lat": row.public_latitude,
            "lon": row.public_longitude,
            "city": row.city,
            "people": row.reported_turnout,
        }
        for row in db.session.execute(query)
    ]
