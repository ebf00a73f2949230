"""Rallies in countries at risk: what follows from HQ's settings for a country, in one place.

HQ marks a country high-risk (rallyhub.places.models.CountryRisk); every rally there then, at
once and without anyone setting anything per rally: is protected and cannot be made public,
shows its public pin on a coarse grid (or no map), shows no organizer name and no counts in
public, gets neutral e-mail subjects and no calendar attachments, can hold its meeting point
back until shortly before the start, and has its personal data purged hours after the end.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app, g
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from rallyhub.auth.audit import record_audit
from rallyhub.auth.models import User
from rallyhub.auth.two_factor import require_two_factor
from rallyhub.config import tile_origin
from rallyhub.errors import NotAllowed, UserError
from rallyhub.extensions import db
from rallyhub.i18n import country_name
from rallyhub.mail import send_mail
from rallyhub.models import utcnow
from rallyhub.places.models import NO_MAP, CountryRisk
from rallyhub.rallies.models import Rally, RallyStatus, Visibility, rally_coorganizers
from rallyhub.urls import external_url

LIVE = (RallyStatus.PENDING, RallyStatus.APPROVED)
# Where country_risk() keeps the high-risk countries for the current database session.
_RISKS_KEY = "rallyhub.country_risks"


def country_risk(country_code: str) -> CountryRisk | None:
    """HQ's settings for a high-risk country; None for every other country.

    The few high-risk countries are read in one statement once per database session (a
    request, or a job: a list of rallies in forty countries asked forty times, one country at
    a time). Kept in the session, not in ``g``: a worker keeps one app context for all its
    jobs and removes the session after each, and rows kept past it would be detached and stale.
    """
    info = db.session.info
    risks = info.get(_RISKS_KEY)
    if risks is None:
        rows = db.session.scalars(select(CountryRisk).where(CountryRisk.high_risk))
        risks = info[_RISKS_KEY] = {risk.country_code: risk for risk in rows}
    return risks.get(country_code)


def at_risk(rally: Rally) -> CountryRisk | None:
    """The settings of the rally's country if it is high-risk."""
    return country_risk(rally.country_code) if rally.country_code else None


def discreet(rally: Rally) -> bool:
    """Whether e-mails about the rally must be neutral (no title, hashtag or place in their
    subjects, no calendar attached) and its public page must name no organizer or counts."""
    return at_risk(rally) is not None


def public_organizer_name(rally: Rally) -> str | None:
    """The organizer's display name as the public may see it: none in a high-risk country."""
    return None if discreet(rally) else rally.organizer.name


def shows_counts(rally: Rally) -> bool:
    """Whether the public may see how many signed up or how many places are left."""
    return not discreet(rally)


def country_tiles(country_code: str | None) -> str | None:
    """The tile URL for a map of a country's rallies (a rally's small map, the map of one
    country, a search there): the country's own, none (None), or the configured one.

    A country's own tile server is let through the page's content security policy.
    """
    default = current_app.config["TILE_URL"]
    risk = country_risk(country_code) if country_code else None
    if risk is None or not risk.tiles:
        return default
    if risk.tiles == NO_MAP:
        return None
    g.tile_host = tile_origin(risk.tiles)
    return risk.tiles


def held_until(rally: Rally) -> datetime | None:
    """When the meeting point reaches signed-up supporters, if it is held back: the rally's
    own setting, else its country's; None when it goes out with the confirmation."""
    hours = rally.hold_hours
    if hours is None:
        risk = at_risk(rally)
        hours = risk.hold_hours if risk is not None else None
    return rally.start_dt - timedelta(hours=hours) if hours else None


def is_held(rally: Rally, now: datetime | None = None) -> bool:
    """Whether the meeting point is still held back from supporters."""
    until = held_until(rally)
    return until is not None and (now or utcnow()) < until


def apply_country_rules(rally: Rally) -> None:
    """Make ``rally`` follow its country's rules (on every save and when HQ changes them)."""
    risk = at_risk(rally)
    if risk is None:
        rally.public_cell_km = None
        return
    rally.visibility = Visibility.PROTECTED
    rally.public_cell_km = risk.cell_km
    organizers_follow_country(rally)


def organizers_follow_country(rally: Rally) -> None:
    """Require a second factor of the rally's organizer and co-organizers (those who join
    later too) when its country is high-risk and HQ asks it there."""
    risk = at_risk(rally)
    if risk is None or not risk.two_factor:
        return
    organizer = rally.organizer or (
        db.session.get(User, rally.organizer_id) if rally.organizer_id else None
    )
    for person in (organizer, *rally.coorganizers):
        if person is not None:
            require_two_factor(person)


def set_country_risk(
    actor: User,
    country_code: str,
    *,
    high_risk: bool,
    note: str,
    cell_km: float,
    purge_hours: int,
    hold_hours: int | None,
    tiles: str,
    two_factor: bool = True,
) -> int:
    """HQ sets a country's level; its upcoming rallies follow at once and their organizers are
    told. Returns how many rallies it applies to."""
    if not actor.is_hq:
        raise NotAllowed()
    code = (country_code or "").upper()
    if len(code) != 2 or not code.isalpha() or country_name(code) == code:
        raise UserError(_("Please choose a country."), field="country_code")
    risk = db.session.get(CountryRisk, code) or CountryRisk(country_code=code)
    before = risk.high_risk if risk in db.session else False
    risk.high_risk, risk.note, risk.cell_km = high_risk, note, cell_km
    risk.purge_hours, risk.hold_hours, risk.tiles = purge_hours, hold_hours, tiles
    risk.two_factor = two_factor
    risk.set_by_id = actor.id
    db.session.add(risk)
    db.session.flush()
    db.session.info.pop(_RISKS_KEY, None)
    record_audit(actor, "country.risk", "country", None, f"{code}: high_risk={high_risk}")
    rallies = list(
        db.session.scalars(
            select(Rally).where(
                Rally.country_code == code, Rally.status.in_(LIVE), Rally.end_dt > utcnow()
            )
        )
    )
    for rally in rallies:
        apply_country_rules(rally)
    if high_risk and two_factor:
        for person in _organizers(rallies):
            require_two_factor(person)
    db.session.flush()
    if high_risk != before:
        _tell_organizers(code, rallies, high_risk)
    return len(rallies)


def _organizers(rallies: list[Rally]) -> list[User]:
    """The organizers and co-organizers of ``rallies``, each once."""
    ids = {rally.organizer_id for rally in rallies}
    if rallies:
        ids |= set(
            db.session.scalars(
                select(rally_coorganizers.c.user_id).where(
                    rally_coorganizers.c.rally_id.in_([rally.id for rally in rallies])
                )
            )
        )
    return list(db.session.scalars(select(User).where(User.id.in_(ids))))


def _tell_organizers(code: str, rallies: list[Rally], high_risk: bool) -> None:
    """One e-mail per organizer and co-organizer of the country's upcoming rallies."""
    for person in _organizers(rallies):
        with force_locale(person.language):
            country = country_name(code)
            if high_risk:
                subject = _("Your rallies now follow the safety rules")
                lines = [
                    _(
                        "HQ now treats %(country)s as a country where rallying puts people at "
                        "risk. Your rallies there follow stricter rules from now on:",
                        country=country,
                    ),
                    _("- the meeting point goes only to people who signed up;"),
                    _("- the public map shows only the area, and your name is not shown;"),
                    _("- e-mails to supporters have neutral subjects;"),
                    _("- personal data is deleted soon after the rally."),
                ]
            else:
                subject = _("The safety rules for your rallies have changed")
                lines = [
                    _(
                        "HQ no longer treats %(country)s as a high-risk country. Your rallies "
                        "stay protected; you may change that on each rally's page.",
                        country=country,
                    )
                ]
            body = "\n".join(
                [
                    _("Hello %(name)s,", name=person.name),
                    "",
                    *lines,
                    "",
                    external_url("rallies.mine"),
                ]
            )
        send_mail(person.email, subject, body, kind="country-risk")
