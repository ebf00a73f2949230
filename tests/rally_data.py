"""Form data for rally tests: a rally in Yerevan next June."""

from __future__ import annotations

from datetime import date


def next_year() -> int:
    """A year that is surely in the future for the rally dates."""
    return date.today().year + 1


def rally_form(campaign: int, **changes) -> dict:
    """A valid registration form; ``changes`` override fields."""
    year = next_year()
    data = {
        "campaign_id": str(campaign),
        "title": "Justice for Chechnya — Yerevan",
        "description": "Bring a sign.\nSee https://example.org/toolkit.",
        "city": "Երևան",
        "meeting_point": "Freedom Square, by the Opera",
        "latitude": "",
        "longitude": "",
        "starts_at": f"{year}-06-10T18:00",
        "ends_at": f"{year}-06-10T20:00",
        "capacity": "",
        "language": "hy",
        "visibility": "public",
    }
    data.update(changes)
    return data
