"""Supporters sign up on a rally page and manage their sign-up through a private link."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    session,
    url_for,
)
from flask_babel import gettext as _

from rallyhub.errors import UserError
from rallyhub.extensions import limiter
from rallyhub.forms import ActionForm
from rallyhub.rallies import services as rallies
from rallyhub.signups import services
from rallyhub.signups.forms import ManageSignupForm, signup_form_for

bp = Blueprint("signups", __name__)

# Rallies this browser signed up for, so the confirmation page can show a protected meeting
# point to the person who just signed up and to nobody else.
SESSION_KEY = "signed_up"


@bp.route("/rallies/<int:rally_id>/signup", methods=["POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_SIGNUP"])
def create(rally_id: int):
    """Sign up; the answer is the same whether or not the e-mail had signed up before."""
    rally = rallies.get_rally_or_404(rally_id)
    form = signup_form_for(rally)
    if not rallies.accepts_signups(rally):
        raise UserError(_("Sign-ups for this rally are closed."))
    if not form.validate_on_submit():
        return render_template("rallies/detail.html", **rallies.page_context(rally, form)), 400
    services.sign_up(
        rally.id,
        services.SignupDetails(
            name=form.name.data,
            email=form.email.data,
            phone=(form.phone.data or None) if "phone" in form else None,
            consent=form.consent.data,
        ),
    )
    session[SESSION_KEY] = [rally.id, *session.get(SESSION_KEY, [])][:20]
    return redirect(url_for("signups.thanks", rally_id=rally.id))


@bp.route("/rallies/<int:rally_id>/signed-up")
def thanks(rally_id: int):
    """The confirmation page: check your inbox, and the meeting point if it is protected."""
    rally = rallies.get_rally_or_404(rally_id)
    if rally_id not in session.get(SESSION_KEY, []):
        return redirect(url_for("rallies.detail", rally_id=rally.id))
    return render_template(
        "signups/thanks.html",
        rally=rally,
        meeting_point=services.meeting_point_for_supporters(rally),
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
        meeting_point=services.meeting_point_for_supporters(signup.rally)
        if services.sees_meeting_point(signup)
        else None,
    ), 400 if form.errors else 200


@bp.route("/s/<token>/cancel", methods=["POST"])
def cancel(token: str):
    """Cancel one's own sign-up; a waiting person gets the place."""
    services.cancel(token)
    flash(_("Your sign-up is cancelled. Thank you for letting the organizers know."), "success")
    return redirect(url_for("signups.manage", token=token))
