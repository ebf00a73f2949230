"""Campaign pages: HQ manages them under /hq/campaigns; everyone gets their calendar."""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from rallyhub.auth.access import hq_required
from rallyhub.campaigns import services
from rallyhub.campaigns.forms import CampaignForm
from rallyhub.campaigns.models import Campaign
from rallyhub.errors import RallyhubError
from rallyhub.extensions import db
from rallyhub.forms import ActionForm
from rallyhub.rallies import services as rallies_services
from rallyhub.rallies.calendar import build_calendar
from rallyhub.urls import external_url

bp = Blueprint("campaigns", __name__)

EDITABLE = ("name", "hashtag", "description", "start_date", "end_date", "is_active")


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
            form[error.field or "name"].errors.append(error.message)
        else:
            flash(_("The campaign has been created."), "success")
            return redirect(url_for("campaigns.manage"))
    return render_template("campaigns/edit.html", form=form, campaign=None), (
        400 if form.errors else 200
    )


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
    return render_template("campaigns/edit.html", form=form, campaign=campaign), (
        400 if form.errors else 200
    )


@bp.route("/hq/campaigns/<int:campaign_id>/archive", methods=["POST"])
@hq_required
def archive(campaign_id: int):
    """Archive a campaign: no new rallies, everything else stays."""
    campaign = db.get_or_404(Campaign, campaign_id)
    services.archive_campaign(current_user, campaign)
    flash(_("%(hashtag)s is archived.", hashtag=campaign.hashtag), "success")
    return redirect(url_for("campaigns.manage"))


@bp.route("/campaigns/<slug>/rallies.ics")
def calendar(slug: str):
    """Every public rally of the campaign as one calendar; cancelled ones say so."""
    campaign = services.get_campaign_by_slug(slug)
    body = build_calendar(
        rallies_services.calendar_rallies(campaign.id),
        lambda r: external_url("rallies.detail", rally_id=r.id),
        campaign.hashtag,
    )
    return Response(
        body,
        mimetype="text/calendar",
        headers={"Content-Disposition": f'attachment; filename="{campaign.slug}.ics"'},
    )
