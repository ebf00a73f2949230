"""iCalendar (RFC 5545) files for rallies: only what the public may know."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event

from rallyhub.i18n import country_name
from rallyhub.models import utcnow
from rallyhub.rallies.models import Rally, RallyStatus
from rallyhub.rallies.services import Location, location_for


def public_location(rally: Rally, location: Location) -> str:
    """Meeting point (when the public may know it), city and country, for a calendar."""
    parts = [rally.city, country_name(rally.country_code)]
    if location.meeting_point:
        parts.insert(0, location.meeting_point)
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
        # A calendar file is shared and synced: it carries what the public may know, even
        # when an organizer downloads it.
        location = location_for(rally)
        event.add("location", public_location(rally, location))
        event.add("url", url)
        if location.exact:
            event.add("geo", (location.latitude, location.longitude))
        cancelled = rally.status is RallyStatus.CANCELLED
        event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
        calendar.add_component(event)
    calendar.add_missing_timezones()
    return calendar.to_ical()
