"""Campaign pages: HQ manages them under /hq/campaigns (their calendars are the rallies')."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from wtforms import SelectChoice

from rallyhub.auth.access import hq_required
from rallyhub.campaigns import services
from rallyhub.campaigns.forms import CampaignForm, CampaignTranslationForm
from rallyhub.campaigns.models import Campaign
from rallyhub.campaigns.services import MESSAGING
from rallyhub.errors import NotFound, RallyhubError
from rallyhub.extensions import db
from rallyhub.forms import ActionForm, confirmation_page, confirmed, form_status, show_error
from rallyhub.i18n import own_name, supported_language

bp = Blueprint("campaigns", __name__)

EDITABLE = (
    "name",
    "hashtag",
    "description",
    "language",
    "start_date",
    "end_date",
    "is_active",
    *MESSAGING,
)
# Every template shows a campaign's words through the one rule.
bp.add_app_template_global(services.campaign_text, "campaign_text")


def _languages(codes) -> list[SelectChoice]:
    """Interface languages as choices, each named in itself."""
    return [SelectChoice(code, own_name(code)) for code in codes]


def _edit_page(form, campaign: Campaign | None, translation_form=None):
    """The campaign's form, and for an existing campaign its translations."""
    if campaign is not None and translation_form is None:
        translation_form = CampaignTranslationForm(formdata=None, prefix="translation")
        translation_form.language.choices = _languages(services.translatable_languages(campaign))
    return render_template(
        "campaigns/edit.html",
        form=form,
        campaign=campaign,
        translation_form=translation_form,
        action_form=ActionForm(),
    ), max(form_status(form), form_status(translation_form) if translation_form else 200)


@bp.route("/hq/campaigns")
@hq_required
def manage():
    """All campaigns, with links to edit or archive them."""
    return render_template(
        "campaigns/manage.html", campaigns=services.list_campaigns(), action_form=ActionForm()
    )


@bp.route("/hq/campaigns/new", methods=["GET", "POST"])
@hq_required
def create():
    """Start a new campaign."""
    form = CampaignForm()
    form.language.choices = _languages(current_app.config["LANGUAGES"])
    if form.validate_on_submit():
        try:
            services.create_campaign(
                current_user, slug=form.slug.data, **{name: form[name].data for name in EDITABLE}
            )
        except RallyhubError as error:
            show_error(form, error, "name")
        else:
            flash(_("The campaign has been created."), "success")
            return redirect(url_for("campaigns.manage"))
    return _edit_page(form, None)


@bp.route("/hq/campaigns/<int:campaign_id>/edit", methods=["GET", "POST"])
@hq_required
def edit(campaign_id: int):
    """Change a campaign's details."""
    campaign = db.get_or_404(Campaign, campaign_id)
    form = CampaignForm(obj=campaign)
    form.language.choices = _languages(current_app.config["LANGUAGES"])
    # The slug is shown but fixed: whatever is posted for it is ignored.
    form.slug.data = campaign.slug
    if form.validate_on_submit():
        services.update_campaign(current_user, campaign, **{n: form[n].data for n in EDITABLE})
        flash(_("The campaign has been saved."), "success")
        return redirect(url_for("campaigns.manage"))
    return _edit_page(form, campaign)


@bp.route("/hq/campaigns/<int:campaign_id>/translations", methods=["POST"])
@hq_required
def translate(campaign_id: int):
    """Add or change the campaign's name and description in another language."""
    campaign = db.get_or_404(Campaign, campaign_id)
    # A prefix: the page holds the campaign's own form with fields of the same names.
    form = CampaignTranslationForm(prefix="translation")
    form.language.choices = _languages(services.translatable_languages(campaign))
    if form.validate():
        services.save_campaign_translation(
            current_user, campaign, form.language.data, form.name.data, form.description.data
        )
        flash(_("Translation saved."), "success")
        return redirect(url_for("campaigns.edit", campaign_id=campaign.id))
    page = CampaignForm(obj=campaign)
    page.language.choices = _languages(current_app.config["LANGUAGES"])
    return _edit_page(page, campaign, form)


@bp.route("/hq/campaigns/<int:campaign_id>/translations/<language>/delete", methods=["POST"])
@hq_required
def delete_translation(campaign_id: int, language: str):
    """Remove one of the campaign's translations, once confirmed."""
    campaign = db.get_or_404(Campaign, campaign_id)
    if supported_language(language) != language:
        raise NotFound()
    back = url_for("campaigns.edit", campaign_id=campaign.id)
    if not confirmed():
        return confirmation_page(
            question=_("Remove the %(language)s translation?", language=own_name(language)),
            explanation=_("Readers of that language will see the campaign in its own language."),
            action=url_for(
                "campaigns.delete_translation", campaign_id=campaign.id, language=language
            ),
            confirm_label=_("Yes, remove it"),
            back_url=back,
            back_label=_("No, keep it"),
        )
    services.delete_campaign_translation(current_user, campaign, language)
    flash(_("Translation removed."), "success")
    return redirect(back)


@bp.route("/hq/campaigns/<int:campaign_id>/archive", methods=["POST"])
@hq_required
def archive(campaign_id: int):
    """Archive a campaign: no new rallies, everything else stays."""
    campaign = db.get_or_404(Campaign, campaign_id)
    services.archive_campaign(current_user, campaign)
    flash(_("%(hashtag)s is archived.", hashtag=campaign.hashtag), "success")
    return redirect(url_for("campaigns.manage"))
