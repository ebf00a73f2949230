"""Account pages: register, confirm, sign in and out, passwords."""

from __future__ import annotations

import re

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
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from rallyhub.auth import services
from rallyhub.auth.forms import (
    ChangePasswordForm,
    ConfirmForm,
    LoginForm,
    RegistrationForm,
    ResetPasswordForm,
    ResetRequestForm,
)
from rallyhub.errors import RallyhubError
from rallyhub.extensions import csrf, limiter
from rallyhub.forms import ActionForm, form_status, show_error
from rallyhub.security import SESSION_ID_KEY, start_session

bp = Blueprint("auth", __name__, url_prefix="/auth")


def _limit(key: str):
    return limiter.limit(lambda: current_app.config[key], methods=["POST"])


# A path on this site: one slash, then no second slash or backslash (browsers read "//host",
# "/\\host" and "////host" as another site), and no spaces or control characters (browsers drop
# tabs and line breaks, and a CR/LF would split the Location header).
_LOCAL_PATH = re.compile(r"/(?![/\\])[^\\\x00-\x20\x7f]*")


def _safe_next(target: str | None) -> str:
    """Only follow ``next`` to a path on this site."""
    if target and len(target) <= 2000 and _LOCAL_PATH.fullmatch(target):
        return target
    return url_for("map.index")


def _sign_in(user) -> None:
    """Start a fresh session for ``user``, recorded on the server."""
    start_session(services.open_session(user))
    login_user(user)


@bp.route("/register", methods=["GET", "POST"])
@_limit("RATELIMIT_REGISTER")
def register():
    """Open an organizer account."""
    form = RegistrationForm()
    if form.validate_on_submit():
        services.register_account(
            form.name.data, form.email.data, form.password.data, language=str(get_locale())
        )
        return redirect(url_for("auth.check_inbox"))
    return render_template("auth/register.html", form=form), form_status(form)


@bp.route("/check-inbox")
def check_inbox():
    """Tell the person to look for our e-mail (whatever happened)."""
    return render_template("auth/check_inbox.html")


@bp.route("/confirm/<token>", methods=["GET", "POST"])
def confirm(token: str):
    """Confirm an e-mail address with the button on this page."""
    form = ConfirmForm()
    if form.validate_on_submit():
        services.confirm_email(token)
        flash(_("Your e-mail is confirmed. You can sign in now."), "success")
        return redirect(url_for("auth.login"))
    return render_template("auth/confirm.html", form=form)


@bp.route("/login", methods=["GET", "POST"])
@_limit("RATELIMIT_LOGIN")
def login():
    """Sign in with e-mail and password."""
    if current_user.is_authenticated:
        return redirect(url_for("map.index"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = services.authenticate(form.email.data, form.password.data)
        except RallyhubError as error:
            show_error(form, error)
            status = error.status
        else:
            _sign_in(user)
            return redirect(_safe_next(request.args.get("next")))
    elif form.errors:
        status = 400
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
def logout():
    """Sign out (a POST, checked for CSRF by the app, so no link can sign anyone out)."""
    services.close_session(session.get(SESSION_ID_KEY))
    logout_user()
    start_session()
    flash(_("You are signed out."), "success")
    return redirect(url_for("map.index"))


@bp.route("/logout-everywhere", methods=["POST"])
@login_required
def logout_everywhere():
    """End every session of this account, on every device (a lost or seized phone)."""
    if not ActionForm().validate_on_submit():
        return redirect(url_for("auth.change_password"))
    services.close_all_sessions(current_user)
    logout_user()
    start_session()
    flash(_("You are signed out on every device."), "success")
    return redirect(url_for("auth.login"))


@bp.route("/password", methods=["GET", "POST"])
@login_required
def change_password():
    """Change the signed-in account's password."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            services.change_password(current_user, form.current_password.data, form.password.data)
        except RallyhubError as error:
            show_error(form, error, "current_password")
        else:
            # The new password ended every session, this one included: start a fresh one.
            _sign_in(current_user._get_current_object())
            flash(_("Your password has been changed."), "success")
            return redirect(url_for("map.index"))
    return render_template(
        "auth/change_password.html", form=form, everywhere_form=ActionForm()
    ), form_status(form)


@bp.route("/reset", methods=["GET", "POST"])
@_limit("RATELIMIT_LOGIN")
def request_reset():
    """Ask for a password reset link."""
    form = ResetRequestForm()
    if form.validate_on_submit():
        services.request_password_reset(form.email.data)
        return redirect(url_for("auth.check_inbox"))
    return render_template("auth/reset_request.html", form=form), form_status(form)


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    """Choose a new password through the link from the e-mail."""
    services.user_for_reset_token(token)
    form = ResetPasswordForm()
    if form.validate_on_submit():
        services.reset_password(token, form.password.data)
        flash(_("Your password has been set. You can sign in now."), "success")
        return redirect(url_for("auth.login"))
    return render_template("auth/reset_password.html", form=form), form_status(form)


@bp.route("/digests/off/<token>", methods=["GET", "POST"])
@csrf.exempt
def digests_off(token: str):
    """Turn an organizer's daily digests off: RFC 8058's one-click POST from a mail program
    (the signed link proves the address), or the button the GET shows."""
    user = services.user_for_digests_token(token)
    if request.method == "POST":
        services.turn_digests_off(user)
        if request.form.get("List-Unsubscribe") == "One-Click":
            return "", 204
        flash(_("You get no more daily digests of new sign-ups."), "success")
        return redirect(url_for("map.index"))
    return render_template("auth/digests_off.html", off=user.digests_off_dt is not None)
