"""HQ's summaries: attendance per rally, country and campaign, without personal data."""

from __future__ import annotations

from collections.abc import Iterator
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import Select, func, select

from rallyhub.auth.models import User
from rallyhub.campaigns.models import Campaign
from rallyhub.errors import UserError
from rallyhub.extensions import db
from rallyhub.i18n import country_name, name_sort_key
from rallyhub.places.models import CountryRisk
from rallyhub.rallies.filters import RallyFilter, Scope, filtered
from rallyhub.rallies.models import Rally, TurnoutReport
from rallyhub.signups.models import Signup
from rallyhub.signups.services import ACTIVE

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


def parse_filter(args) -> RallyFilter:
    """The summary's filter from query arguments; a campaign that does not exist is a 400."""
    summary = RallyFilter.from_args(args)
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
    """Per rally: active sign-ups and checked-in sign-ups (purged rows still count). Requests
    to join, open or declined, are nobody coming yet."""
    return (
        select(
            Signup.rally_id,
            func.count().filter(Signup.status.in_(ACTIVE)).label("signups"),
            func.count(Signup.checked_in_dt).label("checked_in"),
        )
        .group_by(Signup.rally_id)
        .subquery("signup_totals")
    )


def _per_rally(summary: RallyFilter) -> Select:
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
    )
    # Summaries cover rallies that were (or are) really on; pending and rejected ones never were.
    return filtered(query, summary, Scope.HELD)


def attendance_rows(summary: RallyFilter) -> Iterator[tuple]:
    """One row per rally, in ATTENDANCE_HEADER's order, streamed from the database: the start
    as an aware datetime in the rally's zone, counts as numbers, no turnout reported as None
    (the export writes each the way its format can hold it)."""
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
            start.astimezone(tz),
            zone,
            status.value,
            signups,
            checked_in,
            turnout,
        )


def country_rows(summary: RallyFilter) -> list[tuple]:
    """One row per country, in COUNTRIES_HEADER's order, summed in the database and sorted by
    the country's name in the reader's language."""
    per_rally = _per_rally(summary).subquery("per_rally")
    query = select(
        per_rally.c.country_code,
        func.count(),
        func.sum(per_rally.c.signups),
        func.sum(per_rally.c.checked_in),
        func.coalesce(func.sum(per_rally.c.reported_turnout), 0),
    ).group_by(per_rally.c.country_code)
    rows = [
        (code, country_name(code), rallies, int(signups or 0), int(checked or 0), int(turnout or 0))
        for code, rallies, signups, checked, turnout in db.session.execute(query)
    ]
    return sorted(rows, key=lambda row: name_sort_key(row[1]))


def campaign_totals(summary: RallyFilter) -> list[dict]:
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


def turnout_points(summary: RallyFilter) -> list[dict]:
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


def turnout_reports(summary: RallyFilter, limit: int = 100) -> list[tuple]:
    """The organizers' turnout reports with their notes, the latest rallies first:
    (rally id, title, city, start, zone, people present, notes)."""
    query = filtered(
        select(
            Rally.id,
            Rally.title,
            Rally.city,
            Rally.start_dt,
            Rally.timezone,
            TurnoutReport.people_present,
            TurnoutReport.notes,
        ).join(TurnoutReport, TurnoutReport.rally_id == Rally.id),
        summary,
        Scope.HELD,
    )
    return list(db.session.execute(query.order_by(Rally.start_dt.desc()).limit(limit)))


def country_risks() -> list[tuple[CountryRisk, str, str | None]]:
    """HQ's country settings, high-risk first, with the country's name and who set them."""
    rows = db.session.execute(
        select(CountryRisk, User.name).outerjoin(User, User.id == CountryRisk.set_by_id)
    ).all()
    listed = [(risk, country_name(risk.country_code), setter) for risk, setter in rows]
    return sorted(listed, key=lambda row: (not row[0].high_risk, name_sort_key(row[1])))
