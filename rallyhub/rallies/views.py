"""Rally pages: register, edit, cancel, co-organize, the public page and its calendar."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required
from wtforms import SelectChoice

from rallyhub.campaigns.services import get_campaign_by_slug, list_campaigns
from rallyhub.errors import RallyhubError
from rallyhub.extensions import limiter
from rallyhub.forms import ActionForm, form_status, show_error
from rallyhub.places.services import PlaceAmbiguous, label_place, resolve_place
from rallyhub.rallies import coorganizers, services
from rallyhub.rallies.calendar import build_calendar
from rallyhub.rallies.forms import CancelForm, CoorganizerForm, RallyForm
from rallyhub.rallies.models import Rally, RallyStatus, Visibility
from rallyhub.signals import organizer_dashboard_shown, values_from_signal
from rallyhub.urls import external_url

bp = Blueprint("rallies", __name__, url_prefix="/rallies")
# A campaign's rallies, under the campaign's address.
campaign_bp = Blueprint("campaign_rallies", __name__, url_prefix="/campaigns")


def _rally_form(rally: Rally | None = None) -> RallyForm:
    """The rally form with the campaigns an organizer may choose."""
    form = RallyForm(obj=rally)
    campaigns = list_campaigns(active_only=True)
    if rally is not None and rally.campaign not in campaigns:
        campaigns.append(rally.campaign)
    form.campaign_id.choices = [SelectChoice(c.id, f"{c.hashtag} — {c.name}") for c in campaigns]
    if rally is not None and not form.is_submitted():
        form.starts_at.data = services.utc_to_local(rally.start_dt, rally.timezone)
        form.ends_at.data = services.utc_to_local(rally.end_dt, rally.timezone)
        form.language.data = rally.languages
        form.visibility.data = rally.visibility.value
        form.place_id.data = rally.place_id
    return form


def _input_from(form: RallyForm) -> services.RallyInput:
    """Resolve the city and collect the form's values for the service."""
    place = resolve_place(form.city.data, form.place_id.data)
    return services.RallyInput(
        campaign_id=form.campaign_id.data,
        title=form.title.data,
        description=form.description.data or "",
        place=place,
        meeting_point=form.meeting_point.data,
        latitude=form.latitude.data,
        longitude=form.longitude.data,
        starts_local=form.starts_at.data,
        ends_local=form.ends_at.data,
        capacity=form.capacity.data,
        language=form.language.data,
        visibility=Visibility(form.visibility.data),
        asks_phone=form.asks_phone.data,
    )


def _show_error(form: RallyForm, error: RallyhubError) -> None:
    """Put a service's error next to its field (or above the form)."""
    if isinstance(error, PlaceAmbiguous):
        form.place_id.choices = [
            SelectChoice(p.geonameid, label_place(p)) for p in error.candidates
        ]
        form.place_id.data = error.candidates[0].geonameid
    show_error(form, error)


def _render_form(form: RallyForm, rally: Rally | None):
    return render_template("rallies/edit.html", form=form, rally=rally), form_status(form)


@bp.route("/mine")
@login_required
def mine():
    """The organizer's dashboard: their rallies by status."""
    rallies = services.rallies_of(current_user)
    groups = {status: [r for r in rallies if r.status is status] for status in RallyStatus}
    return render_template(
        "rallies/mine.html",
        groups=groups,
        **{
            "signup_counts": {},
            **values_from_signal(
                organizer_dashboard_shown, current_user._get_current_object(), rallies=rallies
            ),
        },
    )


@bp.route("/new", methods=["GET", "POST"])
@login_required
def create():
    """Register a rally; it waits for HQ's review. ``?copy=<id>`` starts from one of the
    organizer's own rallies, without its dates."""
    form = _rally_form()
    copy_id = request.args.get("copy", type=int)
    if copy_id and not form.is_submitted():
        source = services.get_rally_or_404(copy_id, for_edit=True)
        for name, value in services.copy_of(source).items():
            form[name].data = value
    if form.validate_on_submit():
        try:
            rally = services.create_rally(current_user, _input_from(form))
        except RallyhubError as error:
            _show_error(form, error)
        else:
            flash(_("Thank you! HQ will review your rally soon."), "success")
            return redirect(url_for("rallies.detail", rally_id=rally.id))
    return _render_form(form, None)


@bp.route("/<int:rally_id>")
def detail(rally_id: int):
    """The rally's page: public details, or everything for its organizers and HQ."""
    rally = services.get_rally_or_404(rally_id)
    return render_template("rallies/detail.html", **services.page_context(rally))


@bp.route("/<int:rally_id>/edit", methods=["GET", "POST"])
@login_required
def edit(rally_id: int):
    """Change a rally; a change of place, time or visibility sends it back to review."""
    rally = services.get_rally_or_404(rally_id, for_edit=True)
    form = _rally_form(rally)
    if form.validate_on_submit():
        try:
            back_to_review = services.update_rally(current_user, rally, _input_from(form))
        except RallyhubError as error:
            _show_error(form, error)
        else:
            flash(
                _("Saved. The change goes back to HQ for review.")
                if back_to_review
                else _("Saved."),
                "success",
            )
            return redirect(url_for("rallies.detail", rally_id=rally.id))
    return _render_form(form, rally)


@bp.route("/<int:rally_id>/manage")
@login_required
def manage(rally_id: int):
    """Cancel the rally and manage its co-organizers."""
    rally = services.get_rally_or_404(rally_id, for_edit=True)
    return _manage_page(rally)


def _manage_page(rally: Rally, *, cancel_form=None, coorganizer_form=None):
    """The manage page, with a form shown again with its errors if there is one."""
    return render_template(
        "rallies/manage.html",
        rally=rally,
        cancel_form=cancel_form or CancelForm(),
        coorganizer_form=coorganizer_form or CoorganizerForm(),
        action_form=ActionForm(),
        invited=coorganizers.pending_invites(rally),
    ), 400 if cancel_form or coorganizer_form else 200


@bp.route("/<int:rally_id>/cancel", methods=["POST"])
@login_required
def cancel(rally_id: int):
    """Cancel the rally with a message for the people who signed up."""
    rally = services.get_rally_or_404(rally_id, for_edit=True)
    form = CancelForm()
    if not form.validate_on_submit():
        return _manage_page(rally, cancel_form=form)
    services.cancel_rally(current_user, rally, form.note.data)
    flash(_("The rally is cancelled."), "success")
    return redirect(url_for("rallies.detail", rally_id=rally.id))


def _per_account() -> str:
    """Rate-limit key: the signed-in account (the route needs one), else the address."""
    if current_user.is_authenticated:
        return f"account:{current_user.id}"
    return get_remote_address()


@bp.route("/<int:rally_id>/coorganizers", methods=["POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_COORGANIZER"], key_func=_per_account)
@login_required
def add_coorganizer(rally_id: int):
    """Invite a co-organizer by e-mail (the same answer whether or not they have an account)."""
    rally = services.get_rally_or_404(rally_id, for_edit=True)
    form = CoorganizerForm()
    if not form.validate_on_submit():
        return _manage_page(rally, coorganizer_form=form)
    invite = coorganizers.invite_coorganizer(current_user, rally, form.email.data)
    flash(
        _(
            "We have sent an invitation to %(email)s. They become a co-organizer once they "
            "accept it.",
            email=invite.email,
        ),
        "success",
    )
    return redirect(url_for("rallies.manage", rally_id=rally.id))


@bp.route("/<int:rally_id>/invites/<int:invite_id>/withdraw", methods=["POST"])
@login_required
def withdraw_invite(rally_id: int, invite_id: int):
    """Withdraw a co-organizer invitation; its link stops working."""
    rally = services.get_rally_or_404(rally_id, for_edit=True)
    coorganizers.withdraw_invite(current_user, rally, invite_id)
    flash(_("The invitation is withdrawn."), "success")
    return redirect(url_for("rallies.manage", rally_id=rally.id))


@bp.route("/<int:rally_id>/coorganizers/<int:user_id>/remove", methods=["POST"])
@login_required
def remove_coorganizer(rally_id: int, user_id: int):
    """Take a co-organizer's rights away."""
    rally = services.get_rally_or_404(rally_id, for_edit=True)
    coorganizers.remove_coorganizer(current_user, rally, user_id)
    flash(_("The co-organizer has been removed."), "success")
    return redirect(url_for("rallies.manage", rally_id=rally.id))


@bp.route("/invites/<token>", methods=["GET", "POST"])
def accept_invite(token: str):
    """An invitation to co-organize: its rally, and a button to accept it."""
    invite = coorganizers.open_invite(token)
    form = ActionForm()
    if form.validate_on_submit():
        rally = coorganizers.accept_invite(current_user, token)
        flash(_("You are now a co-organizer of “%(title)s”.", title=rally.title), "success")
        return redirect(url_for("rallies.manage", rally_id=rally.id))
    return render_template("rallies/accept_invite.html", rally=invite.rally, form=form, token=token)


@bp.route("/<int:rally_id>.ics")
def calendar(rally_id: int):
    """The rally as an iCalendar file (public details only)."""
    rally = services.get_rally_or_404(rally_id)
    body = build_calendar(
        [rally], lambda r: external_url("rallies.detail", rally_id=r.id), rally.title
    )
    return Response(
        body,
        mimetype="text/calendar",
        headers={"Content-Disposition": f'attachment; filename="rally-{rally.id}.ics"'},
    )


@campaign_bp.route("/<slug>/rallies.ics")
def campaign_calendar(slug: str):
    """Every public rally of the campaign as one calendar; cancelled ones say so."""
    campaign = get_campaign_by_slug(slug)
    body = build_calendar(
        services.calendar_rallies(campaign.id),
        lambda r: external_url("rallies.detail", rally_id=r.id),
        campaign.hashtag,
    )
    return Response(
        body,
        mimetype="text/calendar",
        headers={"Content-Disposition": f'attachment; filename="{campaign.slug}.ics"'},
    )
