"""Co-organizers: invitations sent to an address, accepted through their link, and removal."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import force_locale, get_locale, ngettext
from flask_babel import gettext as _
from sqlalchemy import select

from rallyhub.auth.audit import record_audit
from rallyhub.auth.models import User
from rallyhub.auth.services import normalize_email
from rallyhub.errors import NotAllowed, NotFound
from rallyhub.extensions import db
from rallyhub.mail import send_mail
from rallyhub.models import utcnow
from rallyhub.rallies.models import CoorganizerInvite, Rally
from rallyhub.rallies.risk import organizers_follow_country
from rallyhub.rallies.services import can_manage, is_coorganizer
from rallyhub.rallies.texts import rally_text
from rallyhub.urls import external_url

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

    What the organizer sees is the same whether or not the address has an account, so this
    cannot be used to learn who has one (in some countries that alone would endanger a
    person); the address is looked up either way, only to write to an account in its own
    language (otherwise the inviter's). Inviting an address again sends a new link (the old
    one stops working) and a new time to accept.
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
    language = db.session.scalar(select(User.language).where(User.email == email))
    with force_locale(language or str(get_locale() or "en")):
        subject, body = _invitation(actor, rally, token, days)
    # Tied to the rally, so that a take-down deletes it with the rally's other messages.
    send_mail(email, subject, body, kind="coorganizer-invite", rally_id=rally.id)
    record_audit(actor, "rally.coorganizer_invite", "rally", rally.id, f"invite {invite.id}")
    return invite


def _invitation(actor: User, rally: Rally, token: str, days: int) -> tuple[str, str]:
    """The invitation's subject and body, in the current language."""
    body = "\n".join(
        [
            _(
                "%(name)s invited you to co-organize “%(title)s” on rallyhub.",
                name=actor.name,
                title=rally_text(rally).title,
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
    return _("You are invited to co-organize a rally"), body


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
        organizers_follow_country(rally)
    record_audit(account, "rally.coorganizer_accept", "rally", rally.id, f"invite {invite.id}")
    db.session.delete(invite)
    return rally


def remove_coorganizer(actor: User, rally: Rally, user_id: int) -> None:
    """Take a co-organizer's rights on ``rally`` away."""
    if not can_manage(rally, actor):
        raise NotAllowed()
    rally.coorganizers = [user for user in rally.coorganizers if user.id != user_id]
    record_audit(actor, "rally.coorganizer_remove", "rally", rally.id, str(user_id))
