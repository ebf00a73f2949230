"""HQ pages: dashboard, exports, the review queue and accounts."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from rallyhub.auth import services as accounts
from rallyhub.auth.access import hq_required
from rallyhub.auth.forms import RoleForm
from rallyhub.auth.models import Role, User
from rallyhub.campaigns.services import list_campaigns
from rallyhub.errors import UserError
from rallyhub.exports import csv_response, xlsx_response
from rallyhub.extensions import db
from rallyhub.forms import ActionForm
from rallyhub.hq import services as summaries
from rallyhub.rallies import review
from rallyhub.rallies import services as rallies
from rallyhub.rallies.forms import RejectForm
from rallyhub.rallies.models import RallyStatus

bp = Blueprint("hq", __name__, url_prefix="/hq")


@bp.route("/accounts")
@hq_required
def accounts_list():
    """List accounts with their role and state."""
    search = request.args.get("q", "")[:200]
    page = request.args.get("page", 1, type=int)
    pagination = accounts.list_accounts(search, page=max(page, 1))
    return render_template(
        "hq/accounts.html",
        pagination=pagination,
        search=search,
        action_form=ActionForm(),
        role_form=RoleForm(),
    )


@bp.route("/accounts/<int:user_id>/role", methods=["POST"])
@hq_required
def set_role(user_id: int):
    """Make an account HQ or organizer."""
    form = RoleForm()
    if not form.validate_on_submit():
        raise UserError(_("Please choose a valid role."))
    user = db.get_or_404(User, user_id)
    accounts.set_role(current_user, user, Role(form.role.data))
    flash(
        _("The role of %(name)s is now %(role)s.", name=user.name, role=form.role.data), "success"
    )
    return redirect(url_for("hq.accounts_list"))


@bp.route("/accounts/<int:user_id>/disable", methods=["POST"])
@hq_required
def disable(user_id: int):
    """Disable an account; it is signed out everywhere."""
    user = db.get_or_404(User, user_id)
    accounts.set_disabled(current_user, user, True)
    flash(_("%(name)s's account is disabled.", name=user.name), "success")
    return redirect(url_for("hq.accounts_list"))


@bp.route("/accounts/<int:user_id>/enable", methods=["POST"])
@hq_required
def enable(user_id: int):
    """Re-enable a disabled account."""
    user = db.get_or_404(User, user_id)
    accounts.set_disabled(current_user, user, False)
    flash(_("%(name)s's account is enabled again.", name=user.name), "success")
    return redirect(url_for("hq.accounts_list"))


@bp.route("/review")
@hq_required
def review_queue():
    """Pending rallies, oldest first, each with its likely duplicates and organizer history."""
    queue = []
    for rally in review.review_queue():
        duplicates = review.likely_duplicates(rally)
        queue.append(
            (
                rally,
                duplicates,
                review.organizer_history(rally.organizer),
                review.changes_since_approval(rally),
                # HQ sees the exact pin, and the duplicates beside it on the same small map.
                rallies.location_for(rally, viewer=current_user),
                [[other.latitude, other.longitude] for other, _km in duplicates],
            )
        )
    return render_template(
        "hq/review.html",
        queue=queue,
        action_form=ActionForm(),
        reject_form=RejectForm(),
        statuses=RallyStatus,
    )


@bp.route("/review/<int:rally_id>/approve", methods=["POST"])
@hq_required
def approve(rally_id: int):
    """Approve a pending rally: it goes public."""
    rally = rallies.get_rally_or_404(rally_id, for_edit=True)
    review.approve_rally(current_user, rally)
    flash(_("“%(title)s” is approved and public.", title=rally.title), "success")
    return redirect(url_for("hq.review_queue"))


@bp.route("/review/<int:rally_id>/reject", methods=["POST"])
@hq_required
def reject(rally_id: int):
    """Reject a pending rally with a note for its organizer."""
    rally = rallies.get_rally_or_404(rally_id, for_edit=True)
    form = RejectForm()
    if not form.validate_on_submit():
        raise UserError(_("Please tell the organizer why the rally is rejected."), field="note")
    review.reject_rally(current_user, rally, form.note.data)
    flash(_("“%(title)s” is rejected; the organizer sees your note.", title=rally.title), "success")
    return redirect(url_for("hq.review_queue"))


@bp.route("/")
@hq_required
def dashboard():
    """Rallies, cities, countries, sign-ups, check-ins and turnout, per campaign and country."""
    summary = summaries.parse_filter(request.args)
    return render_template(
        "hq/dashboard.html",
        summary=summary,
        campaigns=list_campaigns(),
        totals=summaries.campaign_totals(summary),
        countries=summaries.country_rows(summary),
        points=summaries.turnout_points(summary),
        reports=summaries.turnout_reports(summary),
        export_args={k: v for k, v in request.args.items() if k in ("campaign", "start", "end")},
    )


@bp.route("/exports/attendance.csv")
@hq_required
def attendance_csv():
    """One row per rally (no personal data), streamed."""
    summary = summaries.parse_filter(request.args)
    return csv_response(
        "attendance.csv", summaries.ATTENDANCE_HEADER, summaries.attendance_rows(summary)
    )


@bp.route("/exports/countries.csv")
@hq_required
def countries_csv():
    """One row per country (no personal data)."""
    summary = summaries.parse_filter(request.args)
    return csv_response(
        "countries.csv", summaries.COUNTRIES_HEADER, summaries.country_rows(summary)
    )


@bp.route("/exports/attendance.xlsx")
@hq_required
def attendance_xlsx():
    """Both summaries as one workbook with two sheets."""
    summary = summaries.parse_filter(request.args)
    return xlsx_response(
        "attendance.xlsx",
        [
            (_("Rallies"), summaries.ATTENDANCE_HEADER, summaries.attendance_rows(summary)),
            (_("Countries"), summaries.COUNTRIES_HEADER, summaries.country_rows(summary)),
        ],
    )
