"""Campaign pages: HQ manages them under /hq/campaigns (their calendars are the rallies')."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from rallyhub.auth.access import hq_required
from rallyhub.campaigns import services
from rallyhub.campaigns.forms import CampaignForm
from rallyhub.campaigns.models import Campaign
from rallyhub.campaigns.services import MESSAGING
from rallyhub.errors import RallyhubError
from rallyhub.extensions import db
from rallyhub.forms import ActionForm, form_status, show_error

bp = Blueprint("campaigns", __name__)

EDITABLE = ("name", "hashtag", "description", "start_date", "end_date", "is_active", *MESSAGING)


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
    return render_template("campaigns/edit.html", form=form, campaign=None), (form_status(form))


@bp.route("/hq/campaigns/<int:campaign_id>/edit", methods=["GET", "POST"])
@hq_required
def edit(campaign_id: int):
    """Change a campaign's details."""
    campaign = db.get_or_404(Campaign, campaign_id)
    form = CampaignForm(obj=campaign)
    # The slug is shown but fixed: whatever is posted for it is ignored.
    form.slug.data = campaign.slug
    if form.validate_on_submit():
        services.update_campaign(current_user, campaign, **{n: form[n].data for n in EDITABLE})
        flash(_("The campaign has been saved."), "success")
        return redirect(url_for("campaigns.manage"))
    return render_template("campaigns/edit.html", form=form, campaign=campaign), (form_status(form))


@bp.route("/hq/campaigns/<int:campaign_id>/archive", methods=["POST"])
@hq_required
def archive(campaign_id: int):
    """Archive a campaign: no new rallies, everything else stays."""
    campaign = db.get_or_404(Campaign, campaign_id)
    services.archive_campaign(current_user, campaign)
    flash(_("%(hashtag)s is archived.", hashtag=campaign.hashtag), "success")
    return redirect(url_for("campaigns.manage"))
