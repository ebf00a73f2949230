"""HQ pages: dashboard, exports, the review queue and accounts."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from wtforms import SelectChoice

from rallyhub.auth import services as accounts
from rallyhub.auth import two_factor
from rallyhub.auth.access import hq_required
from rallyhub.auth.forms import ROLE_LABELS, RoleForm, TwoFactorRequiredForm
from rallyhub.auth.models import Role, User
from rallyhub.campaigns.services import list_campaigns
from rallyhub.errors import RallyhubError, UserError
from rallyhub.exports import csv_response, xlsx_response
from rallyhub.extensions import db
from rallyhub.forms import ActionForm, confirmation_page, confirmed, form_status, show_error
from rallyhub.hq import services as summaries
from rallyhub.hq.forms import CountryRiskForm, TakeDownCountryForm
from rallyhub.i18n import country_name, every_country, own_name
from rallyhub.rallies import review, risk, safety
from rallyhub.rallies import services as rallies
from rallyhub.rallies.filters import NO_FILTER
from rallyhub.rallies.forms import RejectForm, SafetyContactForm
from rallyhub.rallies.models import RallyStatus
from rallyhub.rallies.takedown import (
    countries_to_take_down,
    recently_taken_down,
    take_down_country,
)
from rallyhub.signups import safety as safety_checkins

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
        two_factor_form=TwoFactorRequiredForm(),
    )


@bp.route("/accounts/<int:user_id>/role", methods=["POST"])
@hq_required
def set_role(user_id: int):
    """Make an account HQ or organizer."""
    form = RoleForm()
    if not form.validate_on_submit():
        raise UserError(_("Please choose a valid role."))
    user = db.get_or_404(User, user_id)
    role = Role(form.role.data)
    if not confirmed():
        return confirmation_page(
            question=_("Make %(name)s part of HQ?", name=user.name)
            if role is Role.HQ
            else _("Take HQ access away from %(name)s?", name=user.name),
            explanation=_(
                "HQ reviews every rally, sees every organizer's sign-ups and manages accounts, "
                "this one's included."
            )
            if role is Role.HQ
            else _("%(name)s keeps their rallies as an organizer.", name=user.name),
            fields={"role": role.value},
            action=url_for("hq.set_role", user_id=user.id),
            confirm_label=_("Yes, make %(name)s HQ", name=user.name)
            if role is Role.HQ
            else _("Yes, make %(name)s an organizer", name=user.name),
            back_url=url_for("hq.accounts_list"),
            back_label=_("No, back to the accounts"),
        )
    accounts.set_role(current_user, user, role)
    flash(
        _("The role of %(name)s is now %(role)s.", name=user.name, role=ROLE_LABELS[role.value]),
        "success",
    )
    return redirect(url_for("hq.accounts_list"))


@bp.route("/accounts/<int:user_id>/disable", methods=["POST"])
@hq_required
def disable(user_id: int):
    """Disable an account; it is signed out everywhere."""
    user = db.get_or_404(User, user_id)
    if not confirmed():
        return confirmation_page(
            question=_("Disable the account of %(name)s?", name=user.name),
            explanation=_(
                "%(email)s is signed out everywhere and cannot sign in until HQ enables the "
                "account again. Their rallies stay as they are.",
                email=user.email,
            ),
            action=url_for("hq.disable", user_id=user.id),
            confirm_label=_("Yes, disable the account"),
            back_url=url_for("hq.accounts_list"),
            back_label=_("No, back to the accounts"),
        )
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


@bp.route("/accounts/<int:user_id>/two-factor", methods=["POST"])
@hq_required
def require_two_factor(user_id: int):
    """Require two-factor sign-in of an organizer, or stop requiring it."""
    form = TwoFactorRequiredForm()
    if not form.validate_on_submit():
        raise UserError(_("Please say whether to require two-factor sign-in."))
    user = db.get_or_404(User, user_id)
    required = form.required.data == "on"
    two_factor.set_two_factor_required(current_user, user, required)
    flash(
        _("%(name)s must now use two-factor sign-in.", name=user.name)
        if required
        else _("%(name)s may now choose whether to use two-factor sign-in.", name=user.name),
        "success",
    )
    return redirect(url_for("hq.accounts_list"))


@bp.route("/review")
@hq_required
def review_queue():
    """Pending rallies, oldest first, each with its likely duplicates and organizer history."""
    queue = []
    for rally in review.review_queue():
        duplicates = review.likely_duplicates(rally)
        changes = review.changes_since_approval(rally)
        queue.append(
            (
                rally,
                duplicates,
                review.organizer_history(rally.organizer),
                changes.labels,
                # HQ reads every translation it approves, the changed ones marked.
                [(t, t.language.lower() in changes.translations) for t in rally.translations],
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


@bp.route("/takedown", methods=["GET", "POST"])
@hq_required
def takedown_country():
    """Take down every upcoming rally of a country at once, once confirmed."""
    form = TakeDownCountryForm()
    form.offer(countries_to_take_down())
    if form.validate_on_submit():
        code = form.country_code.data
        if not confirmed():
            return confirmation_page(
                question=_(
                    "Take down every upcoming rally in %(country)s?", country=form.names[code]
                ),
                explanation=ngettext(
                    "%(num)d rally disappears at once from every public page, map and feed. "
                    "The details of everyone who signed up are deleted, and each person gets "
                    "one short message that names neither the rally nor the campaign. This "
                    "cannot be undone.",
                    "%(num)d rallies disappear at once from every public page, map and feed. "
                    "The details of everyone who signed up are deleted, and each person gets "
                    "one short message that names neither the rally nor the campaign. This "
                    "cannot be undone.",
                    form.counts[code],
                ),
                fields={"country_code": code},
                action=url_for("hq.takedown_country"),
                confirm_label=_("Yes, take them all down now"),
                back_url=url_for("hq.takedown_country"),
                back_label=_("No, keep them"),
            )
        count = take_down_country(current_user, code)
        flash(
            ngettext(
                "%(num)d rally in %(country)s is taken down.",
                "%(num)d rallies in %(country)s are taken down.",
                count,
                country=form.names[code],
            ),
            "success",
        )
        return redirect(url_for("hq.takedown_country"))
    return render_template(
        "hq/takedown.html", form=form, taken_down=recently_taken_down()
    ), form_status(form)


@bp.route("/")
@hq_required
def dashboard():
    """Rallies, cities, countries, sign-ups, check-ins and turnout, per campaign and country.

    A filter that cannot be read shows every rally, with the error beside its field (400).
    """
    try:
        summary, error = summaries.parse_filter(request.args), None
    except UserError as refused:
        summary, error = NO_FILTER, refused
    return render_template(
        "hq/dashboard.html",
        summary=summary,
        filter_error=error,
        campaigns=list_campaigns(),
        totals=summaries.campaign_totals(summary),
        countries=summaries.country_rows(summary),
        points=summaries.turnout_points(summary),
        reports=summaries.turnout_reports(summary),
        export_args={k: v for k, v in request.args.items() if k in ("campaign", "start", "end")}
        if error is None
        else {},
    ), 400 if error else 200


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
            # Sheet names, like the column names, are stable for the programs that read them.
            ("Rallies", summaries.ATTENDANCE_HEADER, summaries.attendance_rows(summary)),
            ("Countries", summaries.COUNTRIES_HEADER, summaries.country_rows(summary)),
        ],
    )


# -- safety: legal-aid and emergency contacts per country, the board of calls for help -------


def _contact_form(contact=None) -> SafetyContactForm:
    form = SafetyContactForm(obj=contact)
    form.country_code.choices = [SelectChoice(code, name) for code, name in every_country()]
    form.language.choices = [
        SelectChoice(code, own_name(code)) for code in current_app.config["LANGUAGES"]
    ]
    return form


def _save_contact(form: SafetyContactForm, contact=None) -> bool:
    """Save the form's contacts; False with the service's error next to its field."""
    try:
        safety.save_contact(
            current_user, form.country_code.data, form.language.data, form.text.data, contact
        )
    except RallyhubError as error:
        show_error(form, error)
        return False
    return True


@bp.route("/safety", methods=["GET", "POST"])
@hq_required
def safety_contacts():
    """Every country's legal-aid and emergency contacts, and a form to add some."""
    form = _contact_form()
    if form.validate_on_submit() and _save_contact(form):
        flash(_("The contacts are saved."), "success")
        return redirect(url_for("hq.safety_contacts"))
    return render_template(
        "hq/safety_contacts.html",
        contacts=safety.list_contacts(),
        form=form,
        action_form=ActionForm(),
    ), form_status(form)


@bp.route("/safety/<int:contact_id>", methods=["GET", "POST"])
@hq_required
def edit_safety_contact(contact_id: int):
    """Change a country's contacts in one language."""
    contact = safety.get_contact_or_404(contact_id)
    form = _contact_form(contact)
    if form.validate_on_submit() and _save_contact(form, contact):
        flash(_("The contacts are saved."), "success")
        return redirect(url_for("hq.safety_contacts"))
    return render_template("hq/safety_contact_edit.html", contact=contact, form=form), form_status(
        form
    )


@bp.route("/safety/<int:contact_id>/delete", methods=["POST"])
@hq_required
def delete_safety_contact(contact_id: int):
    """Remove a country's contacts in one language, once confirmed."""
    contact = safety.get_contact_or_404(contact_id)
    if not confirmed():
        return confirmation_page(
            question=_(
                "Remove the contacts for %(country)s in %(language)s?",
                country=country_name(contact.country_code),
                language=own_name(contact.language),
            ),
            explanation=_(
                "People who need help after a rally there will see the contacts in another "
                "language, or none if there are no others."
            ),
            quote=contact.text,
            action=url_for("hq.delete_safety_contact", contact_id=contact.id),
            confirm_label=_("Yes, remove them"),
            back_url=url_for("hq.safety_contacts"),
            back_label=_("No, keep them"),
        )
    safety.delete_contact(current_user, contact)
    flash(_("The contacts are removed."), "success")
    return redirect(url_for("hq.safety_contacts"))


@bp.route("/incidents")
@hq_required
def incidents():
    """Calls for help raised after rallies: open ones first."""
    return render_template(
        "hq/incidents.html",
        incidents=safety_checkins.incident_board(),
        action_form=ActionForm(),
    )


@bp.route("/incidents/<int:incident_id>/handled", methods=["POST"])
@hq_required
def incident_handled(incident_id: int):
    """Mark a call for help as taken care of."""
    incident = safety_checkins.get_incident_or_404(incident_id)
    safety_checkins.mark_handled(current_user, incident)
    flash(_("The incident is marked as handled."), "success")
    return redirect(url_for("hq.incidents"))


@bp.route("/countries", methods=["GET", "POST"])
@hq_required
def countries():
    """Countries at risk: which, why, who set it, and the settings their rallies follow."""
    form = CountryRiskForm()
    form.country_code.choices = [SelectChoice(code, name) for code, name in every_country()]
    if form.validate_on_submit():
        try:
            changed = risk.set_country_risk(
                current_user,
                form.country_code.data,
                high_risk=form.high_risk.data,
                note=form.note.data or "",
                cell_km=form.cell_km.data,
                purge_hours=form.purge_hours.data,
                hold_hours=form.hold_hours.data,
                two_factor=form.two_factor.data,
                tiles=form.tiles.data or "",
            )
        except RallyhubError as error:
            show_error(form, error)
        else:
            flash(
                ngettext(
                    "Saved. %(num)d upcoming rally follows the new settings.",
                    "Saved. %(num)d upcoming rallies follow the new settings.",
                    changed,
                ),
                "success",
            )
            return redirect(url_for("hq.countries"))
    return render_template(
        "hq/countries.html", form=form, risks=summaries.country_risks()
    ), form_status(form)
