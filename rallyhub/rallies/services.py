"""Rally rules: registering and editing, and who may see or change what.

HQ's review is in ``review``, co-organizers in ``coorganizers``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import g
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import contains_eager, joinedload, selectinload

from rallyhub.auth.audit import record_audit
from rallyhub.auth.models import User
from rallyhub.caching import public_data_version, time_bucket
from rallyhub.campaigns.models import Campaign
from rallyhub.errors import NotAllowed, NotFound, UserError
from rallyhub.extensions import db
from rallyhub.models import utcnow
from rallyhub.places.distance import distance_km
from rallyhub.places.gazetteer import Place
from rallyhub.places.services import meeting_point_position
from rallyhub.rallies.filters import was_public
from rallyhub.rallies.models import (
    Rally,
    RallyStatus,
    Visibility,
    rally_coorganizers,
)
from rallyhub.rallies.risk import (
    apply_country_rules,
    country_tiles,
    is_held,
    public_organizer_name,
)
from rallyhub.rallies.texts import main_language, rally_text, spoken_languages
from rallyhub.signals import rally_cancelled, rally_changed, rally_page_shown, values_from_signal
from rallyhub.urls import external_url

# An exact pin further than this from the city centre is a typo (often swapped coordinates).
MAX_PIN_DISTANCE_KM = 100.0
MAX_DURATION = timedelta(days=3)


@dataclass(frozen=True)
class RallyInput:
    """What an organizer gives for a rally, as plain values (times in local wall time)."""

    campaign_id: int
    title: str
    description: str
    place: Place
    meeting_point: str
    latitude: float | None
    longitude: float | None
    starts_local: datetime
    ends_local: datetime
    capacity: int | None
    language: str
    visibility: Visibility
    asks_phone: bool = False
    safety_checkins: bool = False
    approval_required: bool = False
    hold_hours: int | None = None


# -- time ------------------------------------------------------------------------------------


def local_to_utc(wall_time: datetime, zone: str, field: str) -> datetime:
    """Turn a local wall time into UTC, refusing times a clock change skips or repeats."""
    tz = ZoneInfo(zone)
    first = wall_time.replace(tzinfo=tz, fold=0)
    second = wall_time.replace(tzinfo=tz, fold=1)
    if first.utcoffset() != second.utcoffset():
        round_trip = first.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
        if round_trip != wall_time:
            raise UserError(
                _(
                    "%(time)s does not exist in %(zone)s: the clocks skip it. Please pick another "
                    "time.",
                    time=wall_time.strftime("%H:%M"),
                    zone=zone,
                ),
                field=field,
            )
        raise UserError(
            _(
                "%(time)s happens twice in %(zone)s when the clocks go back. Please pick a time "
                "outside the change.",
                time=wall_time.strftime("%H:%M"),
                zone=zone,
            ),
            field=field,
        )
    return first.astimezone(UTC)


def utc_to_local(moment: datetime, zone: str) -> datetime:
    """A UTC moment as naive wall time in ``zone`` (what the form fields show)."""
    return moment.astimezone(ZoneInfo(zone)).replace(tzinfo=None)


# -- access ----------------------------------------------------------------------------------


def is_coorganizer(rally: Rally, user) -> bool:
    """Whether ``user`` co-organizes ``rally``."""
    return bool(
        db.session.scalar(
            select(
                exists().where(
                    rally_coorganizers.c.rally_id == rally.id,
                    rally_coorganizers.c.user_id == user.id,
                )
            )
        )
    )


def can_manage(rally: Rally, user) -> bool:
    """Organizer, co-organizer or HQ: may edit the rally and see everything about it."""
    if user is None or not user.is_authenticated:
        return False
    return user.is_hq or rally.organizer_id == user.id or is_coorganizer(rally, user)


def is_public(rally: Rally) -> bool:
    """Whether anyone may see the rally's page: approved, or cancelled after its approval.

    A cancelled rally that had been public keeps its page with the cancellation notice, for
    the people who signed up or saved the link; one cancelled before HQ approved it was never
    public and stays hidden.
    """
    if rally.status is RallyStatus.APPROVED:
        return True
    return rally.status is RallyStatus.CANCELLED and rally.approved_dt is not None


def refuse_if_taken_down(rally: Rally) -> None:
    """A rally taken down stays down: an edit or a cancellation would bring it back to HQ's
    review or to a public page."""
    if rally.status is RallyStatus.TAKEN_DOWN:
        raise UserError(_("This rally was taken down: it cannot be changed."))


def load_rally(rally_id: int, *, lock: bool = False) -> Rally | None:
    """The rally with what its pages and messages show (campaign, organizer, translations),
    in one query; no access check. ``lock``: hold its row until commit, read afresh, so that
    changes to its sign-ups queue one by one (SQLite's writers are serialized already)."""
    return db.session.get(
        Rally,
        rally_id,
        options=[
            joinedload(Rally.campaign),
            joinedload(Rally.organizer),
            joinedload(Rally.translations),
        ],
        # Only the rally's row: PostgreSQL locks no row of an outer join's nullable side.
        with_for_update={"of": Rally} if lock else None,
        populate_existing=lock,
    )


def get_rally_or_404(
    rally_id: int, *, for_edit: bool = False, user=None, lock: bool = False
) -> Rally:
    """Load a rally and check that ``user`` (default: the current one) may see or edit it.

    The one place that decides access to a rally: hidden rallies are 404 to those who may
    not see them, so their existence does not leak; visible ones refuse edits with 403.
    ``lock``: hold the rally's row until commit, read afresh (sign-ups to it queue one by one).
    """
    user = current_user if user is None else user
    rally = load_rally(rally_id, lock=lock)
    if rally is None:
        raise NotFound()
    if can_manage(rally, user):
        return rally
    if not is_public(rally):
        raise NotFound()
    if for_edit:
        raise NotAllowed(_("Only this rally's organizers and HQ may change it."))
    return rally


def may_register_rallies(user) -> bool:
    """Organizers and HQ register rallies."""
    return bool(user and user.is_authenticated)


# -- organizers ------------------------------------------------------------------------------


def active_campaign(campaign_id: int) -> Campaign:
    """The campaign a new rally joins; it must be running."""
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None or not campaign.is_active:
        raise UserError(_("Please choose a running campaign."), field="campaign_id")
    return campaign


def _apply(rally: Rally, data: RallyInput) -> None:
    """Check ``data`` and copy it onto ``rally``."""
    place = data.place
    if data.latitude is not None and data.longitude is not None:
        latitude, longitude = data.latitude, data.longitude
        if distance_km(latitude, longitude, place.latitude, place.longitude) > MAX_PIN_DISTANCE_KM:
            raise UserError(
                _(
                    "The pin is more than %(km)d km from %(city)s. Check the coordinates (are "
                    "latitude and longitude swapped?).",
                    km=MAX_PIN_DISTANCE_KM,
                    city=place.name,
                ),
                field="latitude",
            )
    elif data.visibility is Visibility.PUBLIC:
        latitude, longitude = meeting_point_position(data.meeting_point, place, MAX_PIN_DISTANCE_KM)
    else:
        latitude, longitude = place.latitude, place.longitude
    start = local_to_utc(data.starts_local, place.timezone, "starts_at")
    end = local_to_utc(data.ends_local, place.timezone, "ends_at")
    if end <= start:
        raise UserError(_("The end must be after the start."), field="ends_at")
    if end - start > MAX_DURATION:
        raise UserError(_("A rally can last at most three days."), field="ends_at")
    if start <= utcnow() and (rally.start_dt is None or start != rally.start_dt):
        raise UserError(_("The start must be in the future."), field="starts_at")
    rally.campaign_id = data.campaign_id
    rally.title = data.title
    rally.description = data.description or ""
    rally.city = place.name
    rally.place_id = place.geonameid
    rally.country_code = place.country_code
    rally.timezone = place.timezone
    rally.meeting_point = data.meeting_point
    rally.latitude, rally.longitude = latitude, longitude
    rally.start_dt, rally.end_dt = start, end
    rally.capacity = data.capacity
    rally.asks_phone = data.asks_phone
    rally.safety_checkins = data.safety_checkins
    rally.approval_required = data.approval_required
    rally.languages = data.language
    rally.visibility = data.visibility
    rally.hold_hours = data.hold_hours
    # A country at risk overrides: protected, a coarse public pin.
    apply_country_rules(rally)


def create_rally(organizer: User, data: RallyInput) -> Rally:
    """Register a rally; it waits for HQ's review."""
    if not may_register_rallies(organizer):
        raise NotAllowed()
    active_campaign(data.campaign_id)
    rally = Rally(organizer_id=organizer.id, status=RallyStatus.PENDING)
    _apply(rally, data)
    db.session.add(rally)
    db.session.flush()
    record_audit(organizer, "rally.create", "rally", rally.id)
    return rally


# What HQ approved: a change to any of these sends an approved rally back to review.
REVIEWED_FACTS = (
    "title",
    "description",
    "meeting_point",
    "city",
    "country_code",
    "latitude",
    "longitude",
    "start_dt",
    "end_dt",
    "visibility",
)
# Everything else an edit can change (the campaign is not a reviewed fact: HQ runs them all).
OTHER_FACTS = (
    "place_id",
    "timezone",
    "capacity",
    "asks_phone",
    "safety_checkins",
    "approval_required",
    "languages",
    "campaign_id",
)


def _facts(rally: Rally) -> dict:
    return {name: getattr(rally, name) for name in REVIEWED_FACTS + OTHER_FACTS}


def update_rally(actor: User, rally: Rally, data: RallyInput) -> bool:
    """Change a rally; return True when the change sends an approved rally back to review.

    The audit record lists the changed fields (HQ's review page shows them), and
    ``rally_changed`` tells the areas above (sign-ups hear of a new time or place).
    """
    if not can_manage(rally, actor):
        raise NotAllowed()
    refuse_if_taken_down(rally)
    if rally.status is RallyStatus.CANCELLED:
        raise UserError(_("A cancelled rally cannot be changed."))
    if data.campaign_id != rally.campaign_id:
        active_campaign(data.campaign_id)
    new_city = (
        data.place.geonameid != rally.place_id
        if rally.place_id is not None
        else data.place.name != rally.city
    )
    if new_city and (data.latitude, data.longitude) == (rally.latitude, rally.longitude):
        # The pin the form showed belongs to the old city: the new city places it, unless
        # the organizer moved it on purpose.
        data = replace(data, latitude=None, longitude=None)
    before = _facts(rally)
    _apply(rally, data)
    after = _facts(rally)
    changed = [name for name in before if before[name] != after[name]]
    reviewed = [name for name in changed if name in REVIEWED_FACTS]
    # A rejected rally, fixed as HQ's note asked, goes back to HQ as well.
    resubmitted = rally.status is RallyStatus.REJECTED
    back_to_review = resubmitted or (
        rally.status is RallyStatus.APPROVED and bool(reviewed) and not actor.is_hq
    )
    if back_to_review:
        rally.status = RallyStatus.PENDING
    detail = f"changed: {','.join(changed)}" if changed else ""
    if back_to_review:
        detail += "; back to review"
    record_audit(actor, "rally.update", "rally", rally.id, detail)
    if changed:
        db.session.flush()
        rally_changed.send(
            rally,
            changed=frozenset(changed),
            before={name: before[name] for name in changed},
        )
    return back_to_review


def cancel_rally(actor: User, rally: Rally, note: str) -> None:
    """Cancel a rally with a message shown to the people who signed up."""
    if not can_manage(rally, actor):
        raise NotAllowed()
    refuse_if_taken_down(rally)
    if rally.status is RallyStatus.CANCELLED:
        return
    if rally.status is RallyStatus.REJECTED:
        raise UserError(_("A rejected rally cannot be cancelled."))
    rally.status = RallyStatus.CANCELLED
    rally.cancel_note = note
    record_audit(actor, "rally.cancel", "rally", rally.id)
    db.session.flush()
    rally_cancelled.send(rally)


def rallies_of(user: User) -> list[Rally]:
    """The rallies a person organizes or co-organizes: the coming ones soonest first, then
    the past ones, the latest first."""
    coorganized = select(rally_coorganizers.c.rally_id).where(
        rally_coorganizers.c.user_id == user.id
    )
    query = (
        select(Rally)
        .options(joinedload(Rally.campaign))
        .where(or_(Rally.organizer_id == user.id, Rally.id.in_(coorganized)))
    )
    rallies = list(db.session.scalars(query))
    now = utcnow()
    coming = sorted((r for r in rallies if r.end_dt > now), key=lambda r: (r.start_dt, r.id))
    past = sorted((r for r in rallies if r.end_dt <= now), key=lambda r: (r.start_dt, r.id))
    return coming + past[::-1]


def copy_of(rally: Rally) -> dict:
    """What a new rally copied from ``rally`` starts with: everything but its dates."""
    return {
        "campaign_id": rally.campaign_id,
        "title": rally.title,
        "description": rally.description,
        "city": rally.city,
        "place_id": rally.place_id,
        "meeting_point": rally.meeting_point,
        "capacity": rally.capacity,
        "language": main_language(rally),
        "also_spoken": spoken_languages(rally)[1:],
        "visibility": rally.visibility.value,
        "asks_phone": rally.asks_phone,
        "safety_checkins": rally.safety_checkins,
        "approval_required": rally.approval_required,
    }


# -- the public ------------------------------------------------------------------------------


def accepts_signups(rally: Rally) -> bool:
    """Approved rallies take sign-ups until they end."""
    return rally.status is RallyStatus.APPROVED and rally.end_dt > utcnow()


def requires_approval(rally: Rally) -> bool:
    """Whether supporters ask to join and wait for the organizers' yes before they hold a
    place or learn a protected meeting point: the one rule, read by the sign-up form, the
    sign-ups themselves and their messages."""
    return rally.approval_required


@dataclass(frozen=True)
class Location:
    """Where a rally is, as one person may see it."""

    latitude: float
    longitude: float
    meeting_point: str | None  # None: not for this person
    exact: bool  # the organizer's pin; False: the centre of its ~1 km cell
    confidential: bool  # shown only to those who signed up, organizers and HQ


def location_for(
    rally: Rally, *, viewer=None, signup=None, language=None, now: datetime | None = None
) -> Location:
    """The position and meeting point of ``rally`` that ``viewer`` or ``signup`` may see.

    The one rule for exact pins: a public rally's are public; a protected rally's go to its
    organizers and HQ (``viewer``) and to an active sign-up reached through its manage link,
    which proves the address (``signup``); everyone else gets the snapped pin and no meeting
    point. The meeting point is in ``language`` (default: the reader's) where translated.
    """
    protected = rally.visibility is Visibility.PROTECTED
    manager = can_manage(rally, viewer)
    holder = signup is not None and signup.rally_id == rally.id and signup.holds_a_place
    # A held meeting point reaches people who signed up only from its release time.
    if protected and not manager and (not holder or is_held(rally, now)):
        return Location(rally.public_latitude, rally.public_longitude, None, False, False)
    meeting_point = rally_text(rally, language).meeting_point
    return Location(rally.latitude, rally.longitude, meeting_point or None, True, protected)


def page_context(rally: Rally, signup_form=None, language: str | None = None) -> dict:
    """Everything the rally page shows, decided for the current person, in ``language``
    (a version the visitor picked; default: the reader's language).

    The sign-up form and the places left come from the sign-ups area, through
    ``rally_page_shown``.
    """
    return {
        "rally": rally,
        "share_url": external_url("rallies.detail", rally_id=rally.id),
        "can_edit": can_manage(rally, current_user),
        "text": rally_text(rally, language),
        "rally_tiles": country_tiles(rally.country_code),
        "location": location_for(rally, viewer=current_user, language=language),
        "signup_form": None,
        "places_left": None,
        "asks_approval": False,
        **_page_extras(rally, signup_form),
    }


def _page_extras(rally: Rally, signup_form=None) -> dict:
    """What other areas add to the rally page (``rally_page_shown``): asked once per request
    for the validator and the page it validates; again for a form shown with its errors."""
    if signup_form is not None:
        return values_from_signal(rally_page_shown, rally, signup_form=signup_form)
    asked = g.setdefault("rally_page_extras", {})
    if rally.id not in asked:
        asked[rally.id] = values_from_signal(rally_page_shown, rally)
    return asked[rally.id]


def next_end(now: datetime) -> datetime | None:
    """When the soonest approved rally still to end ends (None: none is left). Until then,
    time alone changes no list of upcoming rallies: they leave it when they end."""
    return db.session.scalar(
        select(func.min(Rally.end_dt)).where(
            Rally.status == RallyStatus.APPROVED, Rally.end_dt > now
        )
    )


# However a rally's public page depends on time beyond what its validator names, it is built
# afresh at least this often.
PAGE_WINDOW_S = 600


def public_page_state(rally: Rally) -> tuple:
    """What the public page of ``rally`` depends on besides its address and language, read
    before it is built (its ETag): a proxy revalidating an unchanged page gets a 304 without
    the page being rendered.

    The public data (the rally, its translations, campaign and country rules), the
    organizer's name as shown, the hold on the meeting point, and the sign-up form's state
    (open, places left, approval); then the window of ten minutes, so that whatever else comes
    to differ with time still shows within it.
    """
    shown = _page_extras(rally)
    return (
        public_data_version(),
        public_organizer_name(rally),
        is_held(rally),
        shown.get("signup_form") is not None,
        shown.get("places_left"),
        shown.get("asks_approval"),
        time_bucket(PAGE_WINDOW_S),
    )


def calendar_rallies(campaign_id: int) -> list[Rally]:
    """A campaign's rallies for its calendar: approved or cancelled, not yet ended."""
    query = (
        select(Rally)
        .options(joinedload(Rally.campaign), selectinload(Rally.translations))
        .where(
            Rally.campaign_id == campaign_id,
            # Cancelled ones only if they had been public.
            was_public(),
            Rally.end_dt > utcnow(),
        )
        .order_by(Rally.start_dt, Rally.id)
    )
    return list(db.session.scalars(query))


def upcoming_rallies(now: datetime, *, campaign_switch, until: datetime | None = None, among=None):
    """Approved rallies starting after ``now`` (and by ``until``; with ``among``, a select of
    rally ids, only those) of the campaigns where ``campaign_switch`` (a boolean column of
    Campaign) is on, with their campaigns loaded."""
    query = (
        select(Rally)
        .join(Campaign, Campaign.id == Rally.campaign_id)
        .options(contains_eager(Rally.campaign))
        .where(
            campaign_switch.is_(True),
            Rally.status == RallyStatus.APPROVED,
            Rally.start_dt > now,
        )
    )
    if until is not None:
        query = query.where(Rally.start_dt <= until)
    if among is not None:
        query = query.where(Rally.id.in_(among))
    return list(db.session.scalars(query))
