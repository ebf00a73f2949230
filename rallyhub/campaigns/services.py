"""Campaign rules: HQ creates, edits and archives; slugs never change."""

from __future__ import annotations

from datetime import date

from flask_babel import gettext as _
from sqlalchemy import select

from rallyhub.auth.audit import record_audit
from rallyhub.auth.models import User
from rallyhub.campaigns.models import Campaign
from rallyhub.errors import NotAllowed, NotFound, UserError
from rallyhub.extensions import db


def _require_hq(actor: User) -> None:
    if not actor.is_hq:
        raise NotAllowed()


def list_campaigns(active_only: bool = False) -> list[Campaign]:
    """Campaigns, newest first."""
    query = select(Campaign).order_by(Campaign.start_date.desc(), Campaign.id.desc())
    if active_only:
        query = query.where(Campaign.is_active)
    return list(db.session.scalars(query))


def get_campaign_by_slug(slug: str) -> Campaign:
    """The campaign with this slug, or 404."""
    campaign = db.session.scalar(select(Campaign).where(Campaign.slug == slug))
    if campaign is None:
        raise NotFound()
    return campaign


def create_campaign(
    actor: User,
    *,
    name: str,
    slug: str,
    hashtag: str,
    description: str,
    start_date: date,
    end_date: date | None,
    is_active: bool,
    **messaging,
) -> Campaign:
    """Create a campaign with a unique slug."""
    _require_hq(actor)
    if db.session.scalar(select(Campaign.id).where(Campaign.slug == slug)) is not None:
        raise UserError(_("Another campaign already uses this address name."), field="slug")
    campaign = Campaign(
        name=name,
        slug=slug,
        hashtag=hashtag,
        description=description or "",
        start_date=start_date,
        end_date=end_date,
        is_active=is_active,
        **_messaging(messaging),
    )
    db.session.add(campaign)
    db.session.flush()
    record_audit(actor, "campaign.create", "campaign", campaign.id, slug)
    return campaign


def update_campaign(
    actor: User,
    campaign: Campaign,
    *,
    name: str,
    hashtag: str,
    description: str,
    start_date: date,
    end_date: date | None,
    is_active: bool,
    **messaging,
) -> None:
    """Change a campaign's details (not its slug: links to it must keep working)."""
    _require_hq(actor)
    campaign.name = name
    campaign.hashtag = hashtag
    campaign.description = description or ""
    campaign.start_date = start_date
    campaign.end_date = end_date
    campaign.is_active = is_active
    for name, value in _messaging(messaging).items():
        setattr(campaign, name, value)
    record_audit(actor, "campaign.update", "campaign", campaign.id)


# What HQ may set about a campaign's messages (see Campaign), each optional.
MESSAGING = ("reminders_on", "reminder_eve_hour", "reminder_day_hour", "digests_on")


def _messaging(values: dict) -> dict:
    """The settings given (None: not given, the campaign keeps what it has), checked."""
    values = {name: value for name, value in values.items() if value is not None}
    unknown = set(values) - set(MESSAGING)
    if unknown:
        raise TypeError(f"unknown campaign settings: {sorted(unknown)}")
    for hour in ("reminder_eve_hour", "reminder_day_hour"):
        if hour in values and not 0 <= values[hour] <= 23:
            raise UserError(_("Please give an hour from 0 to 23."), field=hour)
    return values


def archive_campaign(actor: User, campaign: Campaign) -> None:
    """Stop new rallies for a campaign; its rallies and pages stay."""
    _require_hq(actor)
    campaign.is_active = False
    record_audit(actor, "campaign.archive", "campaign", campaign.id)
