"""Rally rules: registering, editing, reviewing, and who may see or change what."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import joinedload

from rallyhub.audit import AuditRecord, record_audit
from rallyhub.auth.models import User
from rallyhub.auth.services import normalize_email
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
from rallyhub.signals import rally_changed
from rallyhub.urls import external_url

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
    """Whether anyone may see the rally's page: approved, or cancelled after its approval.

    A cancelled rally that had been public keeps its page with the cancellation notice, for
    the people who signed up or saved the link; one cancelled before HQ approved it was never
    public and stays hidden.
    """
    if rally.status is RallyStatus.APPROVED:
        return True
    return rally.status is RallyStatus.CANCELLED and rally.approved_dt is not None


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
OTHER_FACTS = ("place_id", "timezone", "capacity", "asks_phone", "languages", "campaign_id")
# How HQ's review page names the reviewed facts (both coordinates are the pin).
FACT_LABELS = {
    "title": _l("title"),
    "description": _l("description"),
    "meeting_point": _l("meeting point"),
    "city": _l("city"),
    "country_code": _l("city"),
    "latitude": _l("pin"),
    "longitude": _l("pin"),
    "start_dt": _l("start"),
    "end_dt": _l("end"),
    "visibility": _l("visibility"),
}
_CHANGED_DETAIL = re.compile(r"changed: ([a-z_,]+)")


def _facts(rally: Rally) -> dict:
    return {name: getattr(rally, name) for name in REVIEWED_FACTS + OTHER_FACTS}


def update_rally(actor: User, rally: Rally, data: RallyInput) -> bool:
    """Change a rally; return True when the change sends an approved rally back to review.

    The audit record lists the changed fields (HQ's review page shows them), and
    ``rally_changed`` tells the areas above (sign-ups hear of a new time or place).
    """
    if not can_manage(rally, actor):
        raise NotAllowed()
    if rally.status in (RallyStatus.CANCELLED, RallyStatus.REJECTED):
        raise UserError(_("A cancelled or rejected rally cannot be changed."))
    if data.campaign_id != rally.campaign_id:
        active_campaign(data.campaign_id)
    before = _facts(rally)
    _apply(rally, data)
    after = _facts(rally)
    changed = [name for name in before if before[name] != after[name]]
    reviewed = [name for name in changed if name in REVIEWED_FACTS]
    back_to_review = rally.status is RallyStatus.APPROVED and bool(reviewed) and not actor.is_hq
    if back_to_review:
        rally.status = RallyStatus.PENDING
    detail = f"changed: {','.join(changed)}" if changed else ""
    if back_to_review:
        detail += "; back to review"
    record_audit(actor, "rally.update", "rally", rally.id, detail)
    if changed:
        db.session.flush()
        rally_changed.send(rally, changed=frozenset(changed))
    return back_to_review


def changes_since_approval(rally: Rally) -> list[str]:
    """The reviewed facts changed since the edit that sent the rally back to review, as HQ's
    page names them; empty for a rally that never went back.

    Read from the audit record of its edits since HQ last approved it.
    """
    last_approval = (
        select(func.coalesce(func.max(AuditRecord.id), 0))
        .where(
            AuditRecord.target_type == "rally",
            AuditRecord.target_id == rally.id,
            AuditRecord.action == "rally.approve",
        )
        .scalar_subquery()
    )
    details = db.session.scalars(
        select(AuditRecord.detail)
        .where(
            AuditRecord.target_type == "rally",
            AuditRecord.target_id == rally.id,
            AuditRecord.action == "rally.update",
            AuditRecord.id > last_approval,
        )
        .order_by(AuditRecord.id)
    )
    changed: set[str] = set()
    back = False
    for detail in details:
        # Edits before that one were made (by HQ) to a rally that stayed approved.
        back = back or detail.endswith("; back to review")
        match = _CHANGED_DETAIL.search(detail)
        if back and match:
            changed.update(match.group(1).split(","))
    labels = [str(FACT_LABELS[name]) for name in REVIEWED_FACTS if name in changed]
    return list(dict.fromkeys(labels))


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


# -- co-organizers ---------------------------------------------------------------------------

DEFAULT_INVITE_DAYS = 7


@dataclass(frozen=True)
class PendingInvite:
    """An invitation as the manage page lists it: the address the organizer typed."""

    id: int
    email: str
    expires_dt: datetime
    expired: bool


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _invite_days() -> int:
    return int(current_app.config.get("COORGANIZER_INVITE_DAYS", DEFAULT_INVITE_DAYS))


def invite_is_open(invite: CoorganizerInvite) -> bool:
    """Whether the invitation can still be accepted."""
    return invite.expires_dt > utcnow()


def invite_coorganizer(actor: User, rally: Rally, email: str) -> CoorganizerInvite:
    """Invite an address to co-organize ``rally``: it is mailed a link to accept.

    Nothing here looks the address up: what the organizer sees, and what the address is sent,
    are the same whether or not it has an account, so this cannot be used to learn who has
    one (in some countries that alone would endanger a person). Inviting an address again
    sends a new link (the old one stops working) and a new time to accept.
    """
    if not can_manage(rally, actor):
        raise NotAllowed()
    email = normalize_email(email)
    # Invitations to one rally queue one by one (SQLite serializes writers already), so
    # inviting an address twice at once cannot break the (rally, e-mail) key.
    db.session.execute(select(Rally.id).where(Rally.id == rally.id).with_for_update())
    invite = db.session.scalar(
        select(CoorganizerInvite).where(
            CoorganizerInvite.rally_id == rally.id, CoorganizerInvite.email == email
        )
    )
    if invite is None:
        invite = CoorganizerInvite(rally_id=rally.id, email=email)
        db.session.add(invite)
    token = secrets.token_urlsafe(32)
    days = _invite_days()
    invite.invited_by_id = actor.id
    invite.token_hash = _token_hash(token)
    invite.created_dt = utcnow()
    invite.expires_dt = invite.created_dt + timedelta(days=days)
    db.session.flush()
    body = "\n".join(
        [
            _(
                "%(name)s invited you to co-organize “%(title)s” on rallyhub.",
                name=actor.name,
                title=rally.title,
            ),
            "",
            _("To accept, open this link and confirm:"),
            external_url("rallies.accept_invite", token=token),
            "",
            _(
                "If you have a rallyhub account with this e-mail address, sign in with it "
                "first. If you don't, register with this address, confirm it, and open the "
                "link again."
            ),
            ngettext(
                "The invitation expires in %(num)d day. If you do not want to co-organize, "
                "ignore this message.",
                "The invitation expires in %(num)d days. If you do not want to co-organize, "
                "ignore this message.",
                days,
            ),
        ]
    )
    send_mail(email, _("You are invited to co-organize a rally"), body)
    record_audit(actor, "rally.coorganizer_invite", "rally", rally.id, f"invite {invite.id}")
    return invite


def withdraw_invite(actor: User, rally: Rally, invite_id: int) -> None:
    """Withdraw an invitation (pending or expired): its link stops working."""
    if not can_manage(rally, actor):
        raise NotAllowed()
    invite = db.session.get(CoorganizerInvite, invite_id)
    if invite is None or invite.rally_id != rally.id:
        raise NotFound()
    db.session.delete(invite)
    record_audit(actor, "rally.coorganizer_withdraw", "rally", rally.id, f"invite {invite_id}")


def pending_invites(rally: Rally) -> list[PendingInvite]:
    """The rally's invitations not yet accepted, oldest first, the expired ones marked."""
    invites = db.session.scalars(
        select(CoorganizerInvite)
        .where(CoorganizerInvite.rally_id == rally.id)
        .order_by(CoorganizerInvite.created_dt, CoorganizerInvite.id)
    )
    return [
        PendingInvite(invite.id, invite.email, invite.expires_dt, not invite_is_open(invite))
        for invite in invites
    ]


def _unusable_invite() -> NotFound:
    # One answer for every failure: unknown, withdrawn, expired, or not this account's.
    return NotFound(
        _(
            "This invitation cannot be accepted. It may have expired or been withdrawn, or it "
            "was sent to another e-mail address than the one you are signed in with."
        )
    )


def open_invite(token: str) -> CoorganizerInvite:
    """The open invitation a link is for; anything else gets the one neutral answer."""
    if not token or len(token) > 64:
        raise _unusable_invite()
    invite = db.session.scalar(
        select(CoorganizerInvite).where(CoorganizerInvite.token_hash == _token_hash(token))
    )
    if invite is None or not invite_is_open(invite):
        raise _unusable_invite()
    return invite


def accept_invite(user, token: str) -> Rally:
    """Make ``user`` a co-organizer through an invitation sent to their own address.

    Only a signed-in, confirmed, active account whose e-mail is the invited address may
    accept; everyone else gets the same answer as for an unknown link.
    """
    invite = open_invite(token)
    if (
        user is None
        or not user.is_authenticated
        or not user.is_active
        or user.email_confirmed_dt is None
        or user.email != invite.email
    ):
        raise _unusable_invite()
    account = db.session.get(User, user.id)
    rally = invite.rally
    if rally.organizer_id != account.id and not is_coorganizer(rally, account):
        rally.coorganizers.append(account)
    record_audit(account, "rally.coorganizer_accept", "rally", rally.id, f"invite {invite.id}")
    db.session.delete(invite)
    return rally


def remove_coorganizer(actor: User, rally: Rally, user_id: int) -> None:
    """Take a co-organizer's rights on ``rally`` away."""
    if not can_manage(rally, actor):
        raise NotAllowed()
    rally.coorganizers = [user for user in rally.coorganizers if user.id != user_id]
    record_audit(actor, "rally.coorganizer_remove", "rally", rally.id, str(user_id))


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
    if rally.approved_dt is None:
        rally.approved_dt = utcnow()
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


@dataclass(frozen=True)
class Location:
    """Where a rally is, as one person may see it."""

    latitude: float
    longitude: float
    meeting_point: str | None  # None: not for this person
    exact: bool  # the organizer's pin; False: the centre of its ~1 km cell
    confidential: bool  # shown only to those who signed up, organizers and HQ


def location_for(rally: Rally, *, viewer=None, signup=None) -> Location:
    """The position and meeting point of ``rally`` that ``viewer`` or ``signup`` may see.

    The one rule for exact pins: a public rally's are public; a protected rally's go to its
    organizers and HQ (``viewer``) and to an active sign-up reached through its manage link,
    which proves the address (``signup``); everyone else gets the snapped pin and no meeting
    point.
    """
    protected = rally.visibility is Visibility.PROTECTED
    privileged = can_manage(rally, viewer) or (
        signup is not None and signup.rally_id == rally.id and signup.holds_a_place
    )
    if protected and not privileged:
        return Location(rally.public_latitude, rally.public_longitude, None, False, False)
    return Location(rally.latitude, rally.longitude, rally.meeting_point or None, True, protected)


def page_context(rally: Rally, signup_form=None) -> dict:
    """Everything the rally page shows, decided for the current person."""
    from rallyhub.signups.forms import signup_form_for
    from rallyhub.signups.services import places_left

    manager = can_manage(rally, current_user)
    form = signup_form or signup_form_for(rally)
    open_ = accepts_signups(rally)
    return {
        "rally": rally,
        "can_edit": manager,
        "location": location_for(rally, viewer=current_user),
        "signup_form": form if open_ else None,
        "places_left": places_left(rally) if open_ else None,
    }


def calendar_rallies(campaign_id: int) -> list[Rally]:
    """A campaign's rallies for its calendar: approved or cancelled, not yet ended."""
    query = (
        select(Rally)
        .options(joinedload(Rally.campaign))
        .where(
            Rally.campaign_id == campaign_id,
            # The same rule as is_public: cancelled ones only if they had been public.
            or_(
                Rally.status == RallyStatus.APPROVED,
                (Rally.status == RallyStatus.CANCELLED) & Rally.approved_dt.is_not(None),
            ),
            Rally.end_dt > utcnow(),
        )
        .order_by(Rally.start_dt, Rally.id)
    )
    return list(db.session.scalars(query))
