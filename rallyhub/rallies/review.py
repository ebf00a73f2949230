"""HQ's review: the queue, likely duplicates, an organizer's history, approve and reject, and
what changed since a rally was approved."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload

from rallyhub.auth.audit import AuditRecord, record_audit
from rallyhub.auth.models import User
from rallyhub.errors import NotAllowed, UserError
from rallyhub.extensions import db
from rallyhub.i18n import language_names
from rallyhub.mail import send_mail
from rallyhub.models import utcnow
from rallyhub.places.distance import bounding_box, distance_km
from rallyhub.rallies.models import Rally, RallyStatus
from rallyhub.rallies.services import REVIEWED_FACTS
from rallyhub.rallies.texts import rally_text
from rallyhub.urls import external_url

DUPLICATE_RADIUS_KM = 25.0

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
# How a translation's change is named in the audit record: "translation_pt_br".
TRANSLATION = "translation_"


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
    _tell_organizers(
        rally,
        "review-approved",
        lambda: (
            _("Approved: %(title)s", title=rally_text(rally).title),
            [
                _(
                    "HQ approved “%(title)s”: it is public now, and people can sign up.",
                    title=rally_text(rally).title,
                ),
                external_url("rallies.detail", rally_id=rally.id),
            ],
        ),
    )


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
    _tell_organizers(
        rally,
        "review-rejected",
        lambda: (
            _("Not approved: %(title)s", title=rally_text(rally).title),
            [
                _("HQ did not approve “%(title)s”. HQ's note:", title=rally_text(rally).title),
                "",
                note,
                "",
                external_url("rallies.detail", rally_id=rally.id),
            ],
        ),
    )


def _tell_organizers(rally: Rally, kind: str, compose: Callable[[], tuple[str, list[str]]]) -> None:
    """Mail HQ's decision to the rally's organizer and co-organizers, each in their language
    (``compose`` writes the subject and lines in the current one)."""
    for person in [rally.organizer, *rally.coorganizers]:
        if person.is_active:
            with force_locale(person.language):
                subject, lines = compose()
                body = "\n".join([_("Hello %(name)s,", name=person.name), "", *lines])
            send_mail(person.email, subject, body, kind=kind, rally_id=rally.id)


def language_name(code: str) -> str:
    """A language's name for the reader, from a code in any case ("pt_br")."""
    return language_names(code.replace("_", "-"))[0]


@dataclass(frozen=True)
class Changes:
    """What changed since the edit that sent a rally back to review: the facts as HQ's page
    names them, and the languages of the changed translations (lower case, "pt_br")."""

    labels: list[str]
    translations: set[str]


def changes_since_approval(rally: Rally) -> Changes:
    """The reviewed facts changed since the edit that sent the rally back to review; empty
    for a rally that never went back."""
    changed = _changed_since_approval(rally)
    languages = sorted(
        name.removeprefix(TRANSLATION) for name in changed if name.startswith(TRANSLATION)
    )
    labels = [str(FACT_LABELS[name]) for name in REVIEWED_FACTS if name in changed]
    labels += [
        _("translation into %(language)s", language=language_name(code)) for code in languages
    ]
    return Changes(list(dict.fromkeys(labels)), set(languages))


def _changed_since_approval(rally: Rally) -> set[str]:
    """The fact names (``title``, ``translation_it``…) changed by the edits since HQ last
    approved the rally, from the audit record; empty when it never went back to review."""
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
    return changed
