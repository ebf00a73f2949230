"""The home page."""

from __future__ import annotations

from itertools import groupby

from flask import Blueprint, render_template
from sqlalchemy import select

from rallyhub.campaigns.models import Campaign
from rallyhub.extensions import db
from rallyhub.i18n import country_name
from rallyhub.rallies.services import upcoming_public_rallies

bp = Blueprint("map", __name__)


@bp.route("/")
def index():
    """Active campaigns and the upcoming rallies, grouped by country."""
    campaigns = db.session.scalars(
        select(Campaign).where(Campaign.is_active).order_by(Campaign.start_date)
    ).all()
    rallies = sorted(
        upcoming_public_rallies(), key=lambda r: (country_name(r.country_code), r.start_dt)
    )
    by_country = [
        (name, list(group))
        for name, group in groupby(rallies, key=lambda r: country_name(r.country_code))
    ]
    return render_template("map/index.html", campaigns=campaigns, by_country=by_country)
