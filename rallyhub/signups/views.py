"""Supporters sign up on a rally page and manage their sign-up through a private link."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_wtf.csrf import CSRFError

from rallyhub.errors import RallyhubError, UserError
from rallyhub.exports import csv_response
from rallyhub.extensions import csrf, limiter, writes_on_get
from rallyhub.forms import ActionForm, confirmation_page, confirmed, form_status, show_error
from rallyhub.i18n import format_local_range, reader_language
from rallyhub.rallies import services as rallies
from rallyhub.rallies.risk import held_until, is_held, shows_counts
from rallyhub.rallies.safety import contact_for
from rallyhub.rallies.texts import rally_text
from rallyhub.security import same_origin_request
from rallyhub.signals import organizer_dashboard_shown, rally_page_shown
from rallyhub.signups import attendance, notices, services, takedown  # noqa: F401 (they connect)
from rallyhub.signups import safety as safety_checkins
from rallyhub.signups.forms import (
    HelpForm,
    ManageSignupForm,
    MessageForm,
    SafetyForm,
    TurnoutForm,
    WalkInForm,
    signup_form_for,
)
from rallyhub.signups.models import SignupStatus
from rallyhub.urls import external_url

bp = Blueprint("signups", __name__)


@bp.context_processor
def _signup_statuses():
    return {"signup_statuses": SignupStatus}


# Older versions listed the rallies a browser had joined under this key of the session cookie
# (readable on a seized phone); it is dropped wherever it is still found.
LEGACY_SESSION_KEY = "signed_up"

# Pages that show a sign-up, or answer a change to one: never kept by a browser or proxy.
PRIVATE_ENDPOINTS = frozenset(
    {
        "signups.create",
        "signups.thanks",
        "signups.manage",
        "signups.cancel",
        "signups.rejoin",
        "signups.unsubscribe",
        "signups.safety",
        "signups.safety_safe",
        "signups.safety_help",
    }
)


@bp.after_request
def _no_store(response):
    # Runs for error pages too (a refused change, a wrong token).
    if request.endpoint in PRIVATE_ENDPOINTS:
        response.headers["Cache-Control"] = "no-store"
    return response


@rally_page_shown.connect
def _signup_form_on_the_rally_page(rally, *, signup_form=None, **_extra) -> dict:
    """The rally page's sign-up form and places left, while the rally takes sign-ups."""
    if not rallies.accepts_signups(rally):
        return {}
    return {
        "signup_form": signup_form or signup_form_for(rally),
        "asks_approval": rallies.requires_approval(rally),
        # In a country at risk the public sees no counts (how many are going tells too much).
        "places_left": services.places_left(rally) if shows_counts(rally) else None,
    }


@organizer_dashboard_shown.connect
def _signup_counts_on_the_dashboard(user, *, rallies=(), **_extra) -> dict:
    """Going and waiting per rally on the organizer's "My rallies"."""
    return {"signup_counts": attendance.counts_by_rally([rally.id for rally in rallies])}


def _forget_joined_rallies() -> None:
    if LEGACY_SESSION_KEY in session:
        del session[LEGACY_SESSION_KEY]


@bp.route("/rallies/<int:rally_id>/signup", methods=["POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_SIGNUP"])
@csrf.exempt
def create(rally_id: int):
    """Sign up; the answer is the same whether or not the e-mail had signed up before.

    A form rendered for a visitor with a session carries a CSRF token, checked here; one
    rendered without (a page a shared cache may hold) must come from one of our pages.
    """
    with_token = "csrf_token" in request.form
    if not with_token and not same_origin_request():
        raise CSRFError("The CSRF token is missing.")  # answered with its translated page
    rally = services.rally_to_join(rally_id)
    form = signup_form_for(rally, csrf=with_token)
    if not rallies.accepts_signups(rally):
        raise UserError(_("Sign-ups for this rally are closed."))
    if not form.validate_on_submit():
        return render_template("rallies/detail.html", **rallies.page_context(rally, form)), 400
    services.sign_up(
        rally,
        services.SignupDetails(
            name=form.name.data,
            email=form.email.data,
            phone=(form.phone.data or None) if "phone" in form else None,
            consent=form.consent.data,
            language=str(get_locale() or "en"),
        ),
    )
    _forget_joined_rallies()
    return redirect(url_for("signups.thanks", rally_id=rally.id))


@bp.route("/rallies/<int:rally_id>/signed-up")
def thanks(rally_id: int):
    """The confirmation page: check your inbox. The same for every address and every visitor."""
    rally = rallies.get_rally_or_404(rally_id)
    _forget_joined_rallies()
    # What the public may see: the page must not depend on who typed which address.
    return render_template(
        "signups/thanks.html",
        rally=rally,
        location=rallies.location_for(rally),
        share_url=external_url("rallies.detail", rally_id=rally.id),
        asks_approval=rallies.requires_approval(rally),
        held_until=held_until(rally) if is_held(rally) else None,
    )


@bp.route("/s/<token>", methods=["GET", "POST"])
def manage(token: str):
    """A supporter's own sign-up: details, status, cancel."""
    signup = services.get_by_token(token)
    form = ManageSignupForm(obj=signup)
    if form.validate_on_submit():
        services.update_details(signup, form.name.data, form.phone.data or None, form.consent.data)
        flash(_("Your sign-up has been updated."), "success")
        return redirect(url_for("signups.manage", token=token))
    return render_template(
        "signups/manage.html",
        signup=signup,
        rally=signup.rally,
        form=form,
        cancel_form=ActionForm(),
        location=rallies.location_for(signup.rally, signup=signup),
        meeting_point_on=held_until(signup.rally) if is_held(signup.rally) else None,
        rally_public=rallies.is_public(signup.rally),
        can_change=services.may_change(signup),
        can_rejoin=services.may_rejoin(signup),
    ), form_status(form)


@bp.route("/s/<token>/cancel", methods=["POST"])
def cancel(token: str):
    """Cancel one's own sign-up, once confirmed on the page this answers first; a waiting
    person gets the place. (A page rather than a script's dialog: it works everywhere.)"""
    if not confirmed():
        signup = services.get_by_token(token)
        rally = signup.rally
        when = format_local_range(rally.start_dt, rally.end_dt, rally.timezone)
        if signup.status is SignupStatus.REQUESTED:
            return confirmation_page(
                question=_("Withdraw your request?"),
                explanation=_(
                    "The organizers of “%(title)s” (%(when)s) will no longer see it.",
                    title=rally_text(rally).title,
                    when=when,
                ),
                action=url_for("signups.cancel", token=token),
                confirm_label=_("Yes, withdraw my request"),
                back_url=url_for("signups.manage", token=token),
                back_label=_("No, keep it"),
            )
        return confirmation_page(
            question=_("Cancel your sign-up?"),
            explanation=_(
                "You will no longer have a place at “%(title)s” (%(when)s).",
                title=rally_text(rally).title,
                when=when,
            ),
            action=url_for("signups.cancel", token=token),
            confirm_label=_("Yes, cancel my sign-up"),
            back_url=url_for("signups.manage", token=token),
            back_label=_("No, keep it"),
        )
    services.cancel(token)
    flash(_("Your sign-up is cancelled. Thank you for letting the organizers know."), "success")
    return redirect(url_for("signups.manage", token=token))


@bp.route("/s/<token>/unsubscribe", methods=["GET", "POST"])
@csrf.exempt
def unsubscribe(token: str):
    """Turn off a sign-up's optional messages (reminders, the organizers' messages).

    The POST is RFC 8058's one-click unsubscribe, sent by mail programs without a form (the
    link's secret proves the address); the GET only shows a button, as link scanners open
    every link they see.
    """
    signup = services.get_by_token(token)
    if request.method == "POST":
        services.unsubscribe(signup)
        if request.form.get("List-Unsubscribe") == "One-Click":
            return "", 204
        flash(_("You get no more reminders or messages from the organizers."), "success")
        return redirect(url_for("signups.manage", token=token))
    return render_template("signups/unsubscribe.html", signup=signup, rally=signup.rally)


@bp.route("/s/<token>/rejoin", methods=["POST"])
def rejoin(token: str):
    """Sign up again after cancelling; the link proves the address."""
    if not ActionForm().validate_on_submit():
        raise UserError(_("Please try again from your private link."))
    signup = services.rejoin(token)
    flash(
        _("You are signed up again.")
        if signup.status is SignupStatus.GOING
        else _("You asked to join again. The organizers will answer you by e-mail.")
        if signup.status is SignupStatus.REQUESTED
        else _("The rally is full: you are on the waiting list again."),
        "success",
    )
    return redirect(url_for("signups.manage", token=token))


# -- organizers: attendees, check-in, turnout, messages ---------------------------------------


@bp.route("/rallies/<int:rally_id>/attendees")
@login_required
def attendees(rally_id: int):
    """Who signed up, for the rally's organizers and HQ."""
    rally = rallies.get_rally_or_404(rally_id, for_edit=True)
    return render_template(
        "signups/attendees.html",
        rally=rally,
        rows=attendance.attendee_rows(rally.id).all(),
        counts=attendance.attendance_counts(rally.id),
        safety_counts=safety_checkins.organizer_counts(rally),
        action_form=ActionForm(),
    )


@bp.route("/rallies/<int:rally_id>/attendees/<int:signup_id>/approve", methods=["POST"])
@login_required
def approve(rally_id: int, signup_id: int):
    """Say yes to a request to join: the person gets a place (or the waiting list) and the
    meeting point."""
    rally = rallies.get_rally_or_404(rally_id, for_edit=True)
    services.approve(current_user, rally, signup_id)
    flash(_("Approved. We are sending them the confirmation."), "success")
    return redirect(url_for("signups.attendees", rally_id=rally.id))


@bp.route("/rallies/<int:rally_id>/attendees/<int:signup_id>/decline", methods=["POST"])
@login_required
def decline(rally_id: int, signup_id: int):
    """Say no to a request to join; the person gets a kind message that gives no reason."""
    rally = rallies.get_rally_or_404(rally_id, for_edit=True)
    services.decline(current_user, rally, signup_id)
    flash(_("Declined. We are letting them know, kindly and without a reason."), "success")
    return redirect(url_for("signups.attendees", rally_id=rally.id))


@bp.route("/rallies/<int:rally_id>/attendees.csv")
@writes_on_get
@login_required
def attendees_csv(rally_id: int):
    """The attendee list as CSV (an audited export of personal data)."""
    rally = rallies.get_rally_or_404(rally_id, for_edit=True)
    attendance.record_attendee_export(current_user, rally)
    # The rows are read while the response streams, after the audit record was committed.
    return csv_response(
        f"rally-{rally.id}-attendees.csv",
        attendance.ATTENDEE_EXPORT_HEADER,
        attendance.attendee_export_rows(rally.id),
    )


@bp.route("/rallies/<int:rally_id>/checkin")
@login_required
def checkin(rally_id: int):
    """Check people in on the day: search, one tap per person, walk-ins."""
    rally = rallies.get_rally_or_404(rally_id, for_edit=True)
    return _checkin_page(rally, WalkInForm(walk_ins=rally.walk_in_count))


def _checkin_page(rally, walk_in_form: WalkInForm):
    """The check-in page, with the walk-in form (shown again with its errors if it has any)."""
    search = request.args.get("q", "")[:120]
    return render_template(
        "signups/checkin.html",
        rally=rally,
        search=search,
        rows=attendance.attendee_rows(rally.id, search).all(),
        counts=attendance.attendance_counts(rally.id),
        action_form=ActionForm(),
        walk_in_form=walk_in_form,
        checkin_open=attendance.checkin_open(rally),
    ), form_status(walk_in_form)


@bp.route("/rallies/<int:rally_id>/checkin/<int:signup_id>", methods=["POST"])
@login_required
def toggle_checkin(rally_id: int, signup_id: int):
    """Mark a person present, or undo it."""
    rally = rallies.get_rally_or_404(rally_id, for_edit=True)
    present = request.form.get("present") == "1"
    attendance.set_checked_in(current_user, rally, signup_id, present)
    return redirect(
        url_for("signups.checkin", rally_id=rally.id, q=request.args.get("q") or None)
        + f"#signup-{signup_id}"
    )


@bp.route("/rallies/<int:rally_id>/walk-ins", methods=["POST"])
@login_required
def walk_ins(rally_id: int):
    """Save the number of people who came without signing up."""
    rally = rallies.get_rally_or_404(rally_id, for_edit=True)
    form = WalkInForm()
    if not form.validate_on_submit():
        if not form.errors:  # the CSRF token alone failed
            raise UserError(_("Please try again from the check-in page."))
        return _checkin_page(rally, form)
    attendance.set_walk_ins(rally, form.walk_ins.data)
    flash(_("Walk-ins saved."), "success")
    return redirect(url_for("signups.checkin", rally_id=rally.id))


@bp.route("/rallies/<int:rally_id>/turnout", methods=["GET", "POST"])
@login_required
def turnout(rally_id: int):
    """Report how many people came."""
    rally = rallies.get_rally_or_404(rally_id, for_edit=True)
    report = rally.turnout_report
    counts = attendance.attendance_counts(rally.id)
    form = TurnoutForm(obj=report)
    if report is None and not form.is_submitted():
        form.people_present.data = counts["checked_in"] + rally.walk_in_count
    if form.validate_on_submit():
        try:
            attendance.report_turnout(
                current_user, rally, form.people_present.data, form.notes.data
            )
        except RallyhubError as error:
            show_error(form, error)
        else:
            flash(_("Thank you! The turnout is reported."), "success")
            return redirect(url_for("rallies.detail", rally_id=rally.id))
    return render_template(
        "signups/turnout.html", rally=rally, form=form, counts=counts
    ), form_status(form)


@bp.route("/rallies/<int:rally_id>/message", methods=["GET", "POST"])
@login_required
def message(rally_id: int):
    """Write to everyone signed up."""
    rally = rallies.get_rally_or_404(rally_id, for_edit=True)
    form = MessageForm()
    if form.validate_on_submit():
        link = external_url("rallies.detail", rally_id=rally.id)
        sent = attendance.message_attendees(
            current_user, rally, form.subject.data, form.body.data, link
        )
        flash(
            ngettext(
                "Queued for %(num)d person: it goes out in the next minutes.",
                "Queued for %(num)d people: it goes out in the next minutes.",
                sent,
            ),
            "success",
        )
        return redirect(url_for("signups.message", rally_id=rally.id))
    return render_template(
        "signups/message.html",
        rally=rally,
        form=form,
        counts=attendance.message_counts(rally),
    ), form_status(form)


# -- after the rally: "I got home safe" / "I need help" ----------------------------------------
# The link's token proves who answers (no account, no cookie): these forms carry no CSRF token,
# and the rate limit counts per link, never per network (people detained together share one).


def _per_link() -> str:
    return "safety:" + str((request.view_args or {}).get("token", ""))[:512]


def _safety_limit():
    return limiter.limit(
        lambda: current_app.config["RATELIMIT_SAFETY"], key_func=_per_link, methods=["POST"]
    )


@bp.route("/safe/<token>")
def safety(token: str):
    """The check-in page of one person's link: "I got home safe" or "I need help"."""
    person = safety_checkins.person_for(token)
    return render_template(
        "signups/safety.html",
        person=person,
        rally=person.rally,
        answer=safety_checkins.answer_of(person),
        form=SafetyForm(),
        lang=reader_language(),
    )


@bp.route("/safe/<token>/safe", methods=["POST"])
@csrf.exempt
@_safety_limit()
def safety_safe(token: str):
    """Record "I got home safe"."""
    person = safety_checkins.person_for(token)
    safety_checkins.say_safe(person)
    flash(_("Thank you. We are glad you are home safe."), "success")
    return redirect(url_for("signups.safety", token=token, lang=reader_language()))


@bp.route("/safe/<token>/help", methods=["GET", "POST"])
@csrf.exempt
@_safety_limit()
def safety_help(token: str):
    """The country's legal-aid and emergency contacts, first; then what HQ has been told, and
    a form to tell HQ more. A POST records "I need help" and raises the incident."""
    person = safety_checkins.person_for(token)
    form = HelpForm()
    if form.validate_on_submit():
        ref = safety_checkins.ask_for_help(
            person, message=form.message.data, contact=form.contact.data, ref=form.ref.data
        )
        return redirect(
            url_for("signups.safety_help", token=token, ref=ref or None, lang=reader_language())
        )
    incident = safety_checkins.incident_from(person, request.args.get("ref") or form.ref.data)
    if incident is None:
        form.submit.label.text = _("Tell HQ I need help")
    elif not form.is_submitted():
        form.ref.data = request.args.get("ref")
        form.message.data, form.contact.data = incident.message, incident.contact
    return render_template(
        "signups/safety_help.html",
        person=person,
        rally=person.rally,
        contact=contact_for(person.rally.country_code),
        incident=incident,
        answer=safety_checkins.answer_of(person),
        form=form,
        lang=reader_language(),
    ), form_status(form)
