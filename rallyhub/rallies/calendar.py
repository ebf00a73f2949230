"""iCalendar (RFC 5545) files for rallies: only what the public may know."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event

from rallyhub.i18n import country_name
from rallyhub.models import utcnow
from rallyhub.rallies.models import Rally, RallyStatus, Visibility


def public_location(rally: Rally) -> str:
    """Meeting point (when public), city and country, for a calendar or a feed."""
    parts = [rally.city, country_name(rally.country_code)]
    if rally.visibility is Visibility.PUBLIC and rally.meeting_point:
        parts.insert(0, rally.meeting_point)
    return ", ".join(parts)


def build_calendar(rallies: Iterable[Rally], url_of: Callable[[Rally], str], name: str) -> bytes:
    """A calendar with one event per rally, times in each rally's own zone."""
    calendar = Calendar()
    calendar.add("prodid", "-//rallyhub//rallies//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", name)
    stamp = utcnow()
    for rally in rallies:
        zone = ZoneInfo(rally.timezone)
        url = url_of(rally)
        event = Event()
        event.add("uid", f"rally-{rally.id}@rallyhub")
        event.add("dtstamp", stamp)
        event.add("dtstart", rally.start_dt.astimezone(zone))
        event.add("dtend", rally.end_dt.astimezone(zone))
        event.add("summary", f"{rally.title} {rally.campaign.hashtag}")
        event.add("description", f"{rally.description}\n\n{url}".strip())
        event.add("location", public_location(rally))
        event.add("url", url)
        if rally.visibility is Visibility.PUBLIC:
            event.add("geo", (rally.public_latitude, rally.public_longitude))
        cancelled = rally.status is RallyStatus.CANCELLED
        event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
        calendar.add_component(event)
    calendar.add_missing_timezones()
    return calendar.to_ical()
