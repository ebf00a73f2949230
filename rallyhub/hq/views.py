"""HQ pages: account management (more arrives with reviews and exports)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from rallyhub.auth import services as accounts
from rallyhub.auth.access import hq_required
from rallyhub.auth.forms import ActionForm, RoleForm
from rallyhub.auth.models import Role, User
from rallyhub.errors import UserError
from rallyhub.extensions import db

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
