"""Campaign rules: HQ creates, edits and archives; slugs never change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from rallyhub.auth.audit import record_audit
from rallyhub.auth.models import User
from rallyhub.campaigns.models import Campaign, CampaignTranslation
from rallyhub.errors import NotAllowed, NotFound, UserError
from rallyhub.extensions import db
from rallyhub.i18n import choose_version, reader_language, same_language


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
    language: str | None = None,
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
        language=language or current_app.config["BABEL_DEFAULT_LOCALE"],
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
    language: str | None = None,
    **messaging,
) -> None:
    """Change a campaign's details (not its slug: links to it must keep working)."""
    _require_hq(actor)
    if language:
        campaign.language = language
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


@dataclass(frozen=True)
class CampaignText:
    """A campaign's name and description in one language."""

    name: str
    description: str
    language: str


def campaign_text(campaign: Campaign, language: str | None = None) -> CampaignText:
    """The campaign in ``language`` (default: the reader's) if HQ translated it, else in its
    own language (the rule of :func:`rallyhub.i18n.choose_version`)."""
    versions = {t.language: t for t in campaign.translations}
    chosen = choose_version(campaign.language, versions, language or reader_language())
    translation = versions.get(chosen)
    if translation is None:
        return CampaignText(campaign.name, campaign.description, campaign.language)
    return CampaignText(
        translation.name or campaign.name,
        translation.description or campaign.description,
        chosen,
    )


def translatable_languages(campaign: Campaign) -> list[str]:
    """The interface languages a campaign can be translated into: all but its own."""
    return [
        code
        for code in current_app.config["LANGUAGES"]
        if not same_language(code, campaign.language)
    ]


def save_campaign_translation(
    actor: User, campaign: Campaign, language: str, name: str, description: str
) -> None:
    """Add or change the campaign's name and description in ``language``."""
    _require_hq(actor)
    if language not in translatable_languages(campaign):
        raise UserError(_("Please choose one of the languages offered."), field="language")
    translation = next((t for t in campaign.translations if t.language == language), None)
    if translation is None:
        translation = CampaignTranslation(language=language)
        campaign.translations.append(translation)
    translation.name, translation.description = name, description or ""
    record_audit(actor, "campaign.translate", "campaign", campaign.id, language)
    db.session.flush()


def delete_campaign_translation(actor: User, campaign: Campaign, language: str) -> None:
    """Remove the campaign's translation into ``language``."""
    _require_hq(actor)
    translation = next((t for t in campaign.translations if t.language == language), None)
    if translation is not None:
        campaign.translations.remove(translation)
        record_audit(actor, "campaign.translate", "campaign", campaign.id, f"-{language}")
        db.session.flush()
