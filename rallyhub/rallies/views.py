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

from rallyhub.caching import (
    built_once,
    if_unchanged,
    public,
    public_data_version,
    time_bucket,
    validator,
)
from rallyhub.campaigns.services import get_campaign_by_slug, list_campaigns
from rallyhub.errors import NotFound, RallyhubError, UserError
from rallyhub.extensions import limiter
from rallyhub.forms import ActionForm, confirmation_page, confirmed, form_status, show_error
from rallyhub.i18n import own_name, reader_language, supported_language
from rallyhub.places.services import PlaceAmbiguous, label_places, resolve_place
from rallyhub.rallies import coorganizers, services, takedown
from rallyhub.rallies import translations as translated
from rallyhub.rallies.calendar import build_calendar
from rallyhub.rallies.forms import (
    CancelForm,
    CoorganizerForm,
    RallyForm,
    RallyTranslationForm,
    TakeDownForm,
)
from rallyhub.rallies.models import Rally, RallyStatus, Visibility
from rallyhub.rallies.risk import public_organizer_name
from rallyhub.rallies.texts import rally_text, spoken_languages
from rallyhub.signals import organizer_dashboard_shown, values_from_signal
from rallyhub.urls import external_url

bp = Blueprint("rallies", __name__, url_prefix="/rallies")
# A campaign's rallies, under the campaign's address.
campaign_bp = Blueprint("campaign_rallies", __name__, url_prefix="/campaigns")
# Every template shows a rally's words through the one rule (rallyhub.rallies.texts).
bp.add_app_template_global(rally_text, "rally_text")
bp.add_app_template_global(public_organizer_name, "public_organizer_name")


def _rally_form(rally: Rally | None = None) -> RallyForm:
    """The rally form with the campaigns an organizer may choose."""
    form = RallyForm(obj=rally)
    campaigns = list_campaigns(active_only=True)
    if rally is not None and rally.campaign not in campaigns:
        campaigns.append(rally.campaign)
    form.campaign_id.choices = [SelectChoice(c.id, f"{c.hashtag} — {c.name}") for c in campaigns]
    if rally is None and len(campaigns) == 1 and not form.is_submitted():
        form.campaign_id.data = campaigns[0].id
    elif rally is None and len(campaigns) > 1:
        # With several campaigns running, the organizer chooses: no silent default.
        form.campaign_id.choices.insert(0, SelectChoice("", _("Choose a campaign…")))
    if rally is not None and not form.is_submitted():
        form.starts_at.data = services.utc_to_local(rally.start_dt, rally.timezone)
        form.ends_at.data = services.utc_to_local(rally.end_dt, rally.timezone)
        spoken = spoken_languages(rally)
        form.language.data = spoken[0] if spoken else None
        form.also_spoken.data = spoken[1:]
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
        language=",".join(dict.fromkeys([form.language.data, *(form.also_spoken.data or [])])),
        visibility=Visibility(form.visibility.data),
        asks_phone=form.asks_phone.data,
        safety_checkins=form.safety_checkins.data,
        approval_required=form.approval_required.data,
        hold_hours=form.hold_hours.data,
    )


def _show_error(form: RallyForm, error: RallyhubError) -> None:
    """Put a service's error next to its field (or above the form)."""
    if isinstance(error, PlaceAmbiguous):
        # Nothing is preselected: the organizer picks, or the form asks again.
        form.place_id.choices = [
            SelectChoice(place.geonameid, label) for place, label in label_places(error.candidates)
        ]
        form.place_id.data = None
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


def _public_page_state(rally_id: int) -> tuple:
    return services.public_page_state(services.get_rally_or_404(rally_id))


@bp.route("/<int:rally_id>")
@public(validate=_public_page_state)
def detail(rally_id: int):
    """The rally's page: public details, or everything for its organizers and HQ."""
    rally = services.get_rally_or_404(rally_id)
    # ``?text=xx``: the rally in that one of its versions ("also in" links), the rest of the
    # page in the reader's language.
    context = services.page_context(rally, language=request.args.get("text", type=str))
    return render_template("rallies/detail.html", **context)


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


@bp.route("/<int:rally_id>/translations", methods=["GET", "POST"])
@login_required
def translations(rally_id: int):
    """The rally's title, description and meeting point in the other interface languages."""
    rally = services.get_rally_or_404(rally_id, for_edit=True)
    form = RallyTranslationForm()
    offered = translated.translatable_languages(rally)
    form.language.choices = [SelectChoice(code, own_name(code)) for code in offered]
    if not form.is_submitted():
        chosen = request.args.get("language")
        existing = next((t for t in rally.translations if t.language == chosen), None)
        if existing is not None:
            form.process(obj=existing)
    elif form.validate():
        try:
            back_to_review = translated.save_translation(
                current_user,
                rally,
                form.language.data,
                form.title.data,
                form.description.data or "",
                form.meeting_point.data or "",
            )
        except RallyhubError as error:
            show_error(form, error)
        else:
            flash(
                _("Translation saved. The change goes back to HQ for review.")
                if back_to_review
                else _("Translation saved."),
                "success",
            )
            return redirect(url_for("rallies.translations", rally_id=rally.id))
    return render_template(
        "rallies/translations.html", rally=rally, form=form, action_form=ActionForm()
    ), form_status(form)


@bp.route("/<int:rally_id>/translations/<language>/delete", methods=["POST"])
@login_required
def delete_translation(rally_id: int, language: str):
    """Remove one translation, once confirmed."""
    rally = services.get_rally_or_404(rally_id, for_edit=True)
    if supported_language(language) != language:
        raise NotFound()
    if not confirmed():
        return confirmation_page(
            question=_("Remove the %(language)s translation?", language=own_name(language)),
            explanation=_("Readers of that language will see the rally in its main language."),
            action=url_for("rallies.delete_translation", rally_id=rally.id, language=language),
            confirm_label=_("Yes, remove it"),
            back_url=url_for("rallies.translations", rally_id=rally.id),
            back_label=_("No, keep it"),
        )
    translated.delete_translation(current_user, rally, language)
    flash(_("Translation removed."), "success")
    return redirect(url_for("rallies.translations", rally_id=rally.id))


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
        takedown_form=TakeDownForm(),
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
    if not confirmed():
        return confirmation_page(
            question=_("Cancel “%(title)s”?", title=rally.title),
            explanation=_(
                "This cannot be undone. Everyone who signed up gets this message, and the "
                "rally page shows it:"
            ),
            quote=form.note.data,
            fields={"note": form.note.data},
            action=url_for("rallies.cancel", rally_id=rally.id),
            confirm_label=_("Yes, cancel the rally"),
            back_url=url_for("rallies.manage", rally_id=rally.id),
            back_label=_("No, keep it"),
        )
    services.cancel_rally(current_user, rally, form.note.data)
    flash(_("The rally is cancelled."), "success")
    return redirect(url_for("rallies.detail", rally_id=rally.id))


@bp.route("/<int:rally_id>/take-down", methods=["POST"])
@login_required
def take_down(rally_id: int):
    """Emergency take-down, once confirmed: the rally is hidden from everyone but its
    organizers and HQ, and the personal data of its sign-ups is wiped."""
    rally = services.get_rally_or_404(rally_id, for_edit=True)
    if not TakeDownForm().validate_on_submit():
        raise UserError(_("Please try again from the rally's manage page."))
    if not confirmed():
        return confirmation_page(
            question=_("Take “%(title)s” down now?", title=rally.title),
            explanation=_(
                "It disappears at once from the map, the lists, the feeds and its own page, "
                "for everyone but its organizers and HQ. The names, e-mail addresses and "
                "phone numbers of everyone who signed up are deleted, and each of them gets "
                "one short message that names neither the rally nor the campaign. This "
                "cannot be undone."
            ),
            action=url_for("rallies.take_down", rally_id=rally.id),
            confirm_label=_("Yes, take it down now"),
            back_url=url_for("rallies.manage", rally_id=rally.id),
            back_label=_("No, keep it"),
        )
    takedown.take_down_rally(current_user, rally)
    flash(_("The rally is taken down. Only its organizers and HQ can still see it."), "success")
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
    """Take a co-organizer's rights away, once confirmed."""
    rally = services.get_rally_or_404(rally_id, for_edit=True)
    person = next((user for user in rally.coorganizers if user.id == user_id), None)
    if person is not None and not confirmed():
        return confirmation_page(
            question=_("Remove %(name)s as a co-organizer?", name=person.name),
            explanation=_(
                "They can no longer change this rally or see who signed up. You can invite "
                "them again later."
            ),
            action=url_for("rallies.remove_coorganizer", rally_id=rally.id, user_id=user_id),
            confirm_label=_("Yes, remove %(name)s", name=person.name),
            back_url=url_for("rallies.manage", rally_id=rally.id),
            back_label=_("No, back to the rally"),
        )
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
@public()
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


# Rallies leave the campaign's calendar when they end: its answer is rebuilt at least this often.
CALENDAR_WINDOW_S = 60


@campaign_bp.route("/<slug>/rallies.ics")
@public()
def campaign_calendar(slug: str):
    """Every public rally of the campaign as one calendar; cancelled ones say so.

    Built once per change of the public data (and minute) in each process, and validated
    without reading a rally.
    """
    campaign = get_campaign_by_slug(slug)
    etag = validator(
        "campaign.ics",
        campaign.id,
        public_data_version(),
        time_bucket(CALENDAR_WINDOW_S),
        reader_language(),
        request.host,
    )
    if unchanged := if_unchanged(etag):
        return unchanged
    body = built_once(
        etag,
        lambda: build_calendar(
            services.calendar_rallies(campaign.id),
            lambda r: external_url("rallies.detail", rally_id=r.id),
            campaign.hashtag,
        ),
    )
    response = Response(
        body,
        mimetype="text/calendar",
        headers={"Content-Disposition": f'attachment; filename="{campaign.slug}.ics"'},
    )
    response.set_etag(etag)
    return response
