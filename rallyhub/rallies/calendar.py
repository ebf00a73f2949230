"""iCalendar (RFC 5545) files for rallies: only what the public may know."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from functools import lru_cache
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, Timezone

from rallyhub.i18n import country_name
from rallyhub.rallies.models import Rally, RallyStatus
from rallyhub.rallies.services import Location, location_for
from rallyhub.rallies.texts import rally_text


def public_location(rally: Rally, location: Location) -> str:
    """Meeting point (when the public may know it), city and country, for a calendar."""
    parts = [rally.city, country_name(rally.country_code)]
    if location.meeting_point:
        parts.insert(0, location.meeting_point)
    return ", ".join(parts)


def build_calendar(rallies: Iterable[Rally], url_of: Callable[[Rally], str], name: str) -> bytes:
    """A calendar with one event per rally, times in each rally's own zone.

    Each event and each zone is serialized once per process for what it says (a campaign's
    calendar of thousands of rallies is rebuilt after every change to any of them, and
    icalendar takes about a millisecond an event), then the file is put together from them.
    """
    calendar = Calendar()
    calendar.add("prodid", "-//rallyhub//rallies//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", name)
    rallies = list(rallies)
    parts = [_event_ical(*_event_values(rally, url_of(rally))) for rally in rallies]
    # Each zone's VTIMEZONE once per process and span of years (icalendar's
    # add_missing_timezones rebuilt 1970–2038 for every zone on every request).
    years = [rally.start_dt.year for rally in rallies]
    for zone in sorted({rally.timezone for rally in rallies}):
        parts.append(_vtimezone_ical(zone, min(years) - 1, max(years) + 1))
    head, end = calendar.to_ical().rsplit(b"END:VCALENDAR", 1)
    return b"".join([head, *parts, b"END:VCALENDAR", end])


def _event_values(rally: Rally, url: str) -> tuple:
    """Everything a rally's event says, as plain values (the key of its serialized form)."""
    # In the reader's language where the organizers translated it.
    text = rally_text(rally)
    # A calendar file is shared and synced: it carries what the public may know, even
    # when an organizer downloads it.
    location = location_for(rally)
    return (
        rally.id,
        # When the rally last changed: RFC 5545's DTSTAMP of a published calendar.
        rally.updated_dt,
        rally.start_dt,
        rally.end_dt,
        rally.timezone,
        f"{text.title} {rally.campaign.hashtag}",
        f"{text.description}\n\n{url}".strip(),
        public_location(rally, location),
        url,
        (location.latitude, location.longitude) if location.exact else None,
        "CANCELLED" if rally.status is RallyStatus.CANCELLED else "CONFIRMED",
    )


@lru_cache(maxsize=20_000)
def _event_ical(
    rally_id, stamp, start, end, zone, summary, description, location, url, geo, status
) -> bytes:
    event = Event()
    event.add("uid", f"rally-{rally_id}@rallyhub")
    event.add("dtstamp", stamp)
    event.add("dtstart", start.astimezone(ZoneInfo(zone)))
    event.add("dtend", end.astimezone(ZoneInfo(zone)))
    event.add("summary", summary)
    event.add("description", description)
    event.add("location", location)
    event.add("url", url)
    if geo:
        event.add("geo", geo)
    event.add("status", status)
    return event.to_ical()


@lru_cache(maxsize=1024)
def _vtimezone_ical(zone: str, first_year: int, last_year: int) -> bytes:
    return _vtimezone(zone, first_year, last_year).to_ical()


@lru_cache(maxsize=1024)
def _vtimezone(zone: str, first_year: int, last_year: int) -> Timezone:
    """The VTIMEZONE of ``zone`` with its transitions from ``first_year`` to ``last_year``."""
    return Timezone.from_tzid(
        zone, first_date=date(first_year, 1, 1), last_date=date(last_year, 12, 31)
    )
