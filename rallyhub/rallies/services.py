"""Rally rules: registering, editing, reviewing, and who may see or change what."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import joinedload

from rallyhub.audit import record_audit
from rallyhub.auth.models import User
from rallyhub.campaigns.models import Campaign
from rallyhub.errors import NotAllowed, NotFound, UserError
from rallyhub.extensions import db
from rallyhub.mail import send_mail
from rallyhub.models import utcnow
from rallyhub.places.distance import bounding_box, distance_km
from rallyhub.places.gazetteer import Place
from rallyhub.places.services import meeting_point_position
from rallyhub.rallies.models import (
    CoorganizerInvite,
    Rally,
    RallyStatus,
    Visibility,
    rally_coorganizers,
)

# An exact pin further than this from the city centre is a typo (often swapped coordinates).
MAX_PIN_DISTANCE_KM = 100.0
MAX_DURATION = timedelta(days=3)
DUPLICATE_RADIUS_KM = 25.0


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
    """Whether anyone may see the rally's page."""
    return rally.status is RallyStatus.APPROVED


def get_rally_or_404(rally_id: int, *, for_edit: bool = False, user=None) -> Rally:
    """Load a rally and check that ``user`` (default: the current one) may see or edit it.

    The one place that decides access to a rally: hidden rallies are 404 to those who may
    not see them, so their existence does not leak; visible ones refuse edits with 403.
    """
    user = current_user if user is None else user
    # The page shows the campaign and the organizer: one query for the three.
    rally = db.session.get(
        Rally, rally_id, options=[joinedload(Rally.campaign), joinedload(Rally.organizer)]
    )
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
    rally.languages = data.language
    rally.visibility = data.visibility


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


def _reviewed_facts(rally: Rally) -> tuple:
    """What HQ approved: a change to any of these needs a new review."""
    return (
        rally.city,
        rally.country_code,
        rally.latitude,
        rally.longitude,
        rally.start_dt,
        rally.end_dt,
        rally.visibility,
    )


def update_rally(actor: User, rally: Rally, data: RallyInput) -> bool:
    """Change a rally; return True when the change sends an approved rally back to review."""
    if not can_manage(rally, actor):
        raise NotAllowed()
    if rally.status in (RallyStatus.CANCELLED, RallyStatus.REJECTED):
        raise UserError(_("A cancelled or rejected rally cannot be changed."))
    if data.campaign_id != rally.campaign_id:
        active_campaign(data.campaign_id)
    before, capacity_before = _reviewed_facts(rally), rally.capacity
    _apply(rally, data)
    after = _reviewed_facts(rally)
    if rally.capacity is None or (capacity_before or 0) < rally.capacity:
        from rallyhub.signups.services import promote_waitlisted

        db.session.flush()
        promote_waitlisted(rally)
    back_to_review = rally.status is RallyStatus.APPROVED and before != after and not actor.is_hq
    if back_to_review:
        rally.status = RallyStatus.PENDING
    record_audit(
        actor, "rally.update", "rally", rally.id, "back to review" if back_to_review else ""
    )
    return back_to_review


def cancel_rally(actor: User, rally: Rally, note: str) -> None:
    """Cancel a rally with a message shown to the people who signed up."""
    if not can_manage(rally, actor):
        raise NotAllowed()
    if rally.status is RallyStatus.CANCELLED:
        return
    if rally.status is RallyStatus.REJECTED:
        raise UserError(_("A rejected rally cannot be cancelled."))
    rally.status = RallyStatus.CANCELLED
    rally.cancel_note = note
    record_audit(actor, "rally.cancel", "rally", rally.id)


def add_coorganizer(actor: User, rally: Rally, email: str, rally_url: str) -> None:
    """Give an organizer account the same rights on ``rally``, or invite the address.

    The organizer is told the same thing either way, so nobody can use this to learn who has
    an account: in some countries that alone would endanger a person.
    """
    if not can_manage(rally, actor):
        raise NotAllowed()
    from rallyhub.auth.services import find_user_by_email, normalize_email

    email = normalize_email(email)
    user = find_user_by_email(email)
    if user is not None and user.is_active:
        if user.id != rally.organizer_id and not is_coorganizer(rally, user):
            rally.coorganizers.append(user)
        body = _(
            "%(name)s added you as a co-organizer of “%(title)s”: %(link)s",
            name=actor.name,
            title=rally.title,
            link=rally_url,
        )
    else:
        if (
            db.session.scalar(
                select(CoorganizerInvite.id).where(
                    CoorganizerInvite.rally_id == rally.id, CoorganizerInvite.email == email
                )
            )
            is None
        ):
            db.session.add(
                CoorganizerInvite(rally_id=rally.id, email=email, invited_by_id=actor.id)
            )
        body = _(
            "%(name)s invited you to co-organize “%(title)s” on rallyhub. Register with "
            "this e-mail address and the rally will be yours to manage too.",
            name=actor.name,
            title=rally.title,
        )
    send_mail(email, _("You are invited to co-organize a rally"), body)
    record_audit(actor, "rally.coorganizer_add", "rally", rally.id)


def remove_coorganizer(actor: User, rally: Rally, user_id: int) -> None:
    """Take a co-organizer's rights on ``rally`` away."""
    if not can_manage(rally, actor):
        raise NotAllowed()
    rally.coorganizers = [user for user in rally.coorganizers if user.id != user_id]
    record_audit(actor, "rally.coorganizer_remove", "rally", rally.id, str(user_id))


def accept_invites(user: User) -> int:
    """Turn the invitations for a newly confirmed e-mail into co-organizer rights."""
    invites = db.session.scalars(
        select(CoorganizerInvite).where(CoorganizerInvite.email == user.email)
    ).all()
    for invite in invites:
        if invite.rally.organizer_id != user.id and user not in invite.rally.coorganizers:
            invite.rally.coorganizers.append(user)
        db.session.delete(invite)
    return len(invites)


def pending_invite_emails(rally: Rally) -> list[str]:
    """Addresses invited to co-organize that have no account yet."""
    return [invite.email for invite in rally.invites]


def rallies_of(user: User) -> list[Rally]:
    """The rallies a person organizes or co-organizes, soonest first."""
    coorganized = select(rally_coorganizers.c.rally_id).where(
        rally_coorganizers.c.user_id == user.id
    )
    query = (
        select(Rally)
        .options(joinedload(Rally.campaign))
        .where(or_(Rally.organizer_id == user.id, Rally.id.in_(coorganized)))
        .order_by(Rally.start_dt.desc(), Rally.id.desc())
    )
    return list(db.session.scalars(query))


# -- HQ review -------------------------------------------------------------------------------


def review_queue() -> list[Rally]:
    """Pending rallies, oldest first."""
    query = (
        select(Rally)
        .options(joinedload(Rally.campaign), joinedload(Rally.organizer))
        .where(Rally.status == RallyStatus.PENDING)
        .order_by(Rally.created_dt, Rally.id)
    )
    return list(db.session.scalars(query))


def likely_duplicates(rally: Rally) -> list[tuple[Rally, float]]:
    """Other live rallies of the campaign within 25 km on the same local day, nearest first."""
    zone = ZoneInfo(rally.timezone)
    day_start = datetime.combine(rally.start_dt.astimezone(zone).date(), datetime.min.time(), zone)
    boxes = bounding_box(rally.latitude, rally.longitude, DUPLICATE_RADIUS_KM)
    box_filters = [
        (Rally.latitude.between(min_lat, max_lat)) & (Rally.longitude.between(min_lon, max_lon))
        for (min_lat, max_lat, min_lon, max_lon) in boxes
    ]
    query = select(Rally).where(
        Rally.campaign_id == rally.campaign_id,
        Rally.id != rally.id,
        Rally.status.in_([RallyStatus.PENDING, RallyStatus.APPROVED]),
        Rally.start_dt >= day_start.astimezone(UTC) - timedelta(hours=14),
        Rally.start_dt < (day_start + timedelta(days=1)).astimezone(UTC) + timedelta(hours=14),
        or_(*box_filters),
    )
    found = []
    for other in db.session.scalars(query):
        # The same day where the other rally happens, in its own zone.
        if other.start_dt.astimezone(ZoneInfo(other.timezone)).date() != day_start.date():
            continue
        km = distance_km(rally.latitude, rally.longitude, other.latitude, other.longitude)
        if km <= DUPLICATE_RADIUS_KM:
            found.append((other, km))
    return sorted(found, key=lambda pair: (pair[1], pair[0].id))


def organizer_history(user: User) -> dict[RallyStatus, int]:
    """How many rallies the organizer has in each status."""
    rows = db.session.execute(
        select(Rally.status, func.count())
        .where(Rally.organizer_id == user.id)
        .group_by(Rally.status)
    ).all()
    return {status: count for status, count in rows}


def approve_rally(actor: User, rally: Rally) -> None:
    """HQ approves a pending rally: it becomes public."""
    if not actor.is_hq:
        raise NotAllowed()
    if rally.status is not RallyStatus.PENDING:
        raise UserError(_("Only pending rallies can be approved."))
    rally.status = RallyStatus.APPROVED
    rally.review_note = ""
    record_audit(actor, "rally.approve", "rally", rally.id)


def reject_rally(actor: User, rally: Rally, note: str) -> None:
    """HQ rejects a pending rally with a note for its organizer."""
    if not actor.is_hq:
        raise NotAllowed()
    if rally.status is not RallyStatus.PENDING:
        raise UserError(_("Only pending rallies can be rejected."))
    if not note.strip():
        raise UserError(_("Please tell the organizer why."), field="note")
    rally.status = RallyStatus.REJECTED
    rally.review_note = note
    record_audit(actor, "rally.reject", "rally", rally.id)


# -- the public ------------------------------------------------------------------------------


def accepts_signups(rally: Rally) -> bool:
    """Approved rallies take sign-ups until they end."""
    return rally.status is RallyStatus.APPROVED and rally.end_dt > utcnow()


def page_context(rally: Rally, signup_form=None) -> dict:
    """Everything the rally page shows, decided for the current person."""
    from rallyhub.signups.forms import signup_form_for
    from rallyhub.signups.services import places_left

    manager = can_manage(rally, current_user)
    form = signup_form or signup_form_for(rally)
    return {
        "rally": rally,
        "can_edit": manager,
        "show_exact": manager,
        "signup_form": form if accepts_signups(rally) else None,
        "places_left": places_left(rally),
    }


def calendar_rallies(campaign_id: int) -> list[Rally]:
    """A campaign's rallies for its calendar: approved or cancelled, not yet ended."""
    query = (
        select(Rally)
        .options(joinedload(Rally.campaign))
        .where(
            Rally.campaign_id == campaign_id,
            Rally.status.in_([RallyStatus.APPROVED, RallyStatus.CANCELLED]),
            Rally.end_dt > utcnow(),
        )
        .order_by(Rally.start_dt, Rally.id)
    )
    return list(db.session.scalars(query))
