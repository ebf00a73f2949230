"""Account pages: register, confirm, sign in (with a second factor) and out, passwords,
display name, two-factor sign-in, sessions."""

from __future__ import annotations

import logging
import re
import time

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import format_timedelta, get_locale, ngettext
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy.exc import SQLAlchemyError

from rallyhub.auth import services, two_factor
from rallyhub.auth.devices import describe_device, device_label
from rallyhub.auth.forms import (
    ChangePasswordForm,
    ConfirmForm,
    DisableTwoFactorForm,
    DisplayNameForm,
    EndSessionForm,
    EnrolForm,
    LoginForm,
    RegistrationForm,
    RenewRecoveryCodesForm,
    ResetPasswordForm,
    ResetRequestForm,
    SecondStepForm,
)
from rallyhub.auth.models import User
from rallyhub.errors import NotAllowed, RallyhubError, UserError
from rallyhub.extensions import SAFE_METHODS, csrf, db, limiter, writes_on_get
from rallyhub.forms import ActionForm, confirmation_page, confirmed, form_status, show_error
from rallyhub.models import utcnow
from rallyhub.security import SESSION_ID_KEY, start_session

log = logging.getLogger(__name__)

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
    """Start a fresh session for ``user``, recorded on the server with a coarse device name."""
    device = describe_device(request.user_agent.string)
    start_session(services.open_session(user, device))
    login_user(user)


# Between the password and the code, the session names the account it is for, but is not
# signed in: Flask-Login knows nothing of it, so no page treats it as anyone.
PENDING_USER = "_2fa_uid"
PENDING_NONCE = "_2fa_nonce"
PENDING_SINCE = "_2fa_ts"
PENDING_NEXT = "_2fa_next"
# The second step's form is sent to the sign-in page; this field tells it from the password's.
SECOND_STEP_FIELD = "code"


def _hold_for_second_step(user: User, target: str) -> None:
    """Remember, in a fresh session, whose password was right and where they were going."""
    start_session()
    session[PENDING_USER] = user.id
    session[PENDING_NONCE] = user.session_nonce
    session[PENDING_SINCE] = time.time()
    session[PENDING_NEXT] = target


def _pending_user() -> User | None:
    """The account whose password this session gave, if that was recent enough."""
    since = session.get(PENDING_SINCE)
    if not isinstance(since, int | float):
        return None
    if not 0 <= time.time() - since <= current_app.config["TWO_FACTOR_PENDING_S"]:
        return None
    return services.user_for_second_step(session.get(PENDING_USER), session.get(PENDING_NONCE))


def _start_over():
    flash(_("Please sign in again."), "info")
    return redirect(url_for("auth.login"))


def _two_factor_key() -> str:
    """Rate-limit key for codes: the account they are for (signed in or half-way), else the
    address."""
    if current_user.is_authenticated:
        return f"two-factor:{current_user.id}"
    pending = session.get(PENDING_USER)
    return f"two-factor:{pending}" if isinstance(pending, int) else get_remote_address()


def _no_code_sent() -> bool:
    form = request.form
    return SECOND_STEP_FIELD not in form and not any(k.endswith("-code") for k in form)


def _limit_codes(view):
    """Codes are limited per address on each page and, across all pages, per account (the
    sign-in page's password attempts have their own limit)."""
    per_address = limiter.limit(
        lambda: current_app.config["RATELIMIT_TWO_FACTOR"],
        methods=["POST"],
        exempt_when=_no_code_sent,
    )
    per_account = limiter.shared_limit(
        lambda: current_app.config["RATELIMIT_TWO_FACTOR"],
        scope="two-factor-account",
        key_func=_two_factor_key,
        methods=["POST"],
        exempt_when=_no_code_sent,
    )
    return per_address(per_account(view))


# What an account that must set up two-factor sign-in may still open until it has.
OPEN_BEFORE_ENROLMENT = frozenset({"auth.two_factor_setup", "auth.logout", "i18n.choose"})


@bp.before_app_request
def _before_request():
    """Keep sessions' activity, and hold accounts that must enrol to the enrolment page."""
    if request.endpoint == "static" or not current_user.is_authenticated:
        return None
    secret = session.get(SESSION_ID_KEY)
    if services.session_is_stale(secret):
        g.stale_session = secret
    if two_factor.must_enrol(current_user) and request.endpoint not in OPEN_BEFORE_ENROLMENT:
        if request.method in SAFE_METHODS:
            return redirect(url_for("auth.two_factor_setup"))
        raise NotAllowed(_("Please set up two-factor sign-in first."))
    return None


@bp.after_app_request
def _note_activity(response):
    """Stamp the session's last activity, in its own small transaction after the request's
    (a page view reads without a write lock; the stamp is written at most every few minutes)."""
    secret = g.pop("stale_session", None)
    if secret:
        try:
            services.note_activity(secret)
            db.session.commit()
        except SQLAlchemyError:
            db.session.rollback()
            log.warning("could not record a session's activity")
    return response


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
@_limit_codes
def login():
    """Sign in with e-mail and password; the code page's form comes back here with its code."""
    if current_user.is_authenticated:
        return redirect(url_for("map.index"))
    if request.method == "POST" and SECOND_STEP_FIELD in request.form:
        return _second_step()
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = services.authenticate(form.email.data, form.password.data)
        except RallyhubError as error:
            show_error(form, error)
            status = error.status
        else:
            target = _safe_next(request.args.get("next"))
            if user.two_factor_enabled or two_factor.must_enrol(user):
                _hold_for_second_step(user, target)
                step = "auth.login_code" if user.two_factor_enabled else "auth.two_factor_setup"
                return redirect(url_for(step))
            _sign_in(user)
            return redirect(target)
    elif form.errors:
        status = 400
    return render_template("auth/login.html", form=form), status


@bp.route("/login/code")
def login_code():
    """The second sign-in step's page: a code from the authenticator app, or a recovery
    code (its form is sent to the sign-in page, like the password's)."""
    if current_user.is_authenticated:
        return redirect(url_for("map.index"))
    user = _pending_user()
    if user is None or not user.two_factor_enabled:
        return _start_over()
    return render_template("auth/login_code.html", form=SecondStepForm())


def _second_step():
    """Check the code of a sign-in whose password was right; sign in when it is good."""
    user = _pending_user()
    if user is None or not user.two_factor_enabled:
        return _start_over()
    form = SecondStepForm()
    if form.validate_on_submit():
        try:
            used_recovery_code = two_factor.check_second_factor(user, form.code.data)
        except RallyhubError as error:
            show_error(form, error, "code")
        else:
            target = _safe_next(session.get(PENDING_NEXT))
            _sign_in(user)
            if used_recovery_code:
                _warn_recovery_codes_left(user)
            return redirect(target)
    return render_template("auth/login_code.html", form=form), form_status(form)


def _warn_recovery_codes_left(user: User) -> None:
    left = two_factor.recovery_codes_left(user)
    flash(
        ngettext(
            "You signed in with a recovery code. %(num)d is left.",
            "You signed in with a recovery code. %(num)d are left.",
            left,
        ),
        "warning",
    )


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
        return redirect(url_for("auth.sessions"))
    if not confirmed():
        return confirmation_page(
            question=_("Log out everywhere?"),
            explanation=_(
                "Every session of your account ends, this one included: on every phone and "
                "computer, you will have to sign in again."
            ),
            action=url_for("auth.logout_everywhere"),
            confirm_label=_("Yes, log out everywhere"),
            back_url=url_for("auth.sessions"),
            back_label=_("No, back to my sessions"),
        )
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


# -- the account: display name, two-factor sign-in, sessions ---------------------------------


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    """The account's public display name, and the ways in to its security settings."""
    form = DisplayNameForm()
    if request.method == "GET":
        form.name.data = current_user.name
    if form.validate_on_submit():
        services.change_display_name(current_user, form.name.data)
        flash(_("Your display name is saved."), "success")
        return redirect(url_for("auth.account"))
    return render_template("auth/account.html", form=form), form_status(form)


@bp.route("/two-factor", methods=["GET", "POST"])
@login_required
@_limit_codes
def two_factor_settings():
    """Whether two-factor sign-in is on and the recovery codes left; with a code, new
    recovery codes or turning it off (whichever button sent the page's forms)."""
    renew_form = RenewRecoveryCodesForm(prefix="renew")
    off_form = DisableTwoFactorForm(prefix="off")
    if renew_form.submit.data:
        return _renew_recovery_codes(renew_form, off_form)
    if off_form.submit.data:
        return _turn_two_factor_off(renew_form, off_form)
    if request.method == "POST":
        raise UserError(_("Please use one of the forms on the page."))
    return _two_factor_page(renew_form, off_form)


def _two_factor_page(renew_form, off_form, status: int = 200):
    return render_template(
        "auth/two_factor.html",
        codes_left=two_factor.recovery_codes_left(current_user),
        renew_form=renew_form,
        off_form=off_form,
    ), status


def _renew_recovery_codes(renew_form, off_form):
    if renew_form.validate_on_submit():
        try:
            codes = two_factor.renew_recovery_codes(current_user, renew_form.code.data)
        except UserError as error:
            show_error(renew_form, error, "code")
        else:
            target = url_for("auth.two_factor_settings")
            return render_template("auth/recovery_codes.html", codes=codes, target=target)
    return _two_factor_page(renew_form, off_form, 400)


def _turn_two_factor_off(renew_form, off_form):
    if off_form.validate_on_submit():
        try:
            two_factor.disable_two_factor(current_user, off_form.code.data)
        except UserError as error:
            show_error(off_form, error, "code")
        else:
            flash(_("Two-factor sign-in is off."), "success")
            return redirect(url_for("auth.two_factor_settings"))
    return _two_factor_page(renew_form, off_form, 400)


@bp.route("/two-factor/setup", methods=["GET", "POST"])
@writes_on_get
@_limit_codes
def two_factor_setup():
    """Set up the authenticator app: its QR code and secret, then a first code to confirm.

    Signed in, for anyone turning it on; half-way through signing in, for an account that must
    use it and has not set it up (HQ): confirming it then finishes the sign-in.
    """
    signed_in = current_user.is_authenticated
    user = current_user._get_current_object() if signed_in else _pending_user()
    if user is None or not (signed_in or two_factor.must_enrol(user)):
        return _start_over()
    if user.two_factor_enabled:
        return redirect(url_for("auth.two_factor_settings"))
    enrolment = two_factor.start_enrolment(user)
    form = EnrolForm()
    if form.validate_on_submit():
        try:
            codes = two_factor.confirm_enrolment(user, form.code.data)
        except RallyhubError as error:
            show_error(form, error, "code")
        else:
            target = url_for("auth.two_factor_settings")
            if not signed_in:
                target = _safe_next(session.get(PENDING_NEXT))
                _sign_in(user)
            return render_template(
                "auth/recovery_codes.html", codes=codes, target=target, turned_on=True
            )
    return render_template(
        "auth/two_factor_setup.html", form=form, enrolment=enrolment, required=not signed_in
    ), form_status(form)


def _rough_age(dt) -> str:
    """A coarse "3 days ago", in the reader's language."""
    return format_timedelta(dt - utcnow(), add_direction=True, threshold=0.9)


@bp.route("/sessions")
@login_required
def sessions():
    """The account's signed-in sessions: a coarse device name and age, no address."""
    listed = services.list_sessions(current_user, session.get(SESSION_ID_KEY))
    return render_template(
        "auth/sessions.html",
        sessions=listed,
        device_label=device_label,
        rough_age=_rough_age,
        active_now=lambda dt: utcnow() - dt < services.ACTIVITY_RESOLUTION,
        end_form=EndSessionForm(),
        everywhere_form=ActionForm(),
    )


@bp.route("/sessions/end", methods=["POST"])
@login_required
def end_session():
    """Log one of the account's sessions out (the one in a lost phone, say)."""
    form = EndSessionForm()
    if not form.validate_on_submit():
        raise UserError(_("Please choose a session from the list."))
    if services.end_session(current_user, form.session.data, session.get(SESSION_ID_KEY)):
        logout_user()
        start_session()
        flash(_("You are signed out."), "success")
        return redirect(url_for("map.index"))
    flash(_("That session is logged out."), "success")
    return redirect(url_for("auth.sessions"))
