"""Toolkit pages: a campaign's toolkit, downloads through an access check, HQ curation."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user
from wtforms import SelectChoice

from rallyhub.auth.access import hq_required
from rallyhub.campaigns.services import get_campaign_by_slug, list_campaigns
from rallyhub.errors import RallyhubError, UserError
from rallyhub.extensions import writes_on_get
from rallyhub.forms import ActionForm, form_status, show_error
from rallyhub.i18n import reader_language
from rallyhub.signals import organizer_dashboard_shown
from rallyhub.toolkits import services
from rallyhub.toolkits.forms import KIND_LABELS, ToolkitItemForm
from rallyhub.toolkits.models import Audience, ToolkitKind

bp = Blueprint("toolkits", __name__)


@organizer_dashboard_shown.connect
def _checklist_on_the_dashboard(user, **_extra) -> dict:
    """The organizer's dashboard lists the campaign's steps, each with its toolkit item."""
    return {"checklist": services.organizer_checklist(user)}


@bp.context_processor
def _labels():
    return {"toolkit_kinds": KIND_LABELS}


@bp.route("/campaigns/<slug>/toolkit")
def campaign_toolkit(slug: str):
    """The campaign's toolkit, by kind and language (the visitor's language first)."""
    campaign = get_campaign_by_slug(slug)
    kind = request.args.get("kind") or None
    if kind and kind not in KIND_LABELS:
        raise UserError(_("Unknown kind of item."), field="kind")
    # No choice ("auto"): one version of each item, the reader's language first; "" is every
    # version; a code, only that language.
    language = request.args.get("language")
    if language == "auto":
        language = None
    every = services.visible_items(campaign.id, current_user)  # one read for list and links
    versions = services.languages_by_group(every)
    items = [
        item
        for item in every
        if (not kind or item.kind.value == kind) and (not language or item.language == language)
    ]
    if language is None:
        items = services.reader_first(items, reader_language())
    return render_template(
        "toolkits/campaign.html",
        campaign=campaign,
        kind=kind,
        language=language,
        offered=sorted({code for codes in versions.values() for code in codes}),
        items=items,
        versions=versions,
        show_counts=current_user.is_authenticated and current_user.is_hq,
    )


@bp.route("/toolkits/<int:item_id>")
def item(item_id: int):
    """One item: its text with a copy button, or its file to download."""
    return render_template(
        "toolkits/item.html", item=services.get_item_or_404(item_id, current_user)
    )


@bp.route("/toolkits/<int:item_id>/download")
@writes_on_get
def download(item_id: int):
    """The item's file, as an attachment, with its checked type and no sniffing."""
    item = services.get_item_or_404(item_id, current_user)
    path = services.download_path(item)
    response = send_file(
        path,
        mimetype=item.content_type,
        as_attachment=True,
        download_name=item.original_filename or path.name,
        max_age=0,
    )
    # The stored type already names its charset; send_file's mimetype would add another.
    response.content_type = item.content_type
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/toolkits/<int:item_id>/preview")
def preview(item_id: int):
    """An image item shown inline (other kinds have no preview)."""
    item = services.get_item_or_404(item_id, current_user)
    path = services.preview_path(item)
    response = send_file(path, mimetype=item.content_type, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def _item_form(item=None) -> ToolkitItemForm:
    form = ToolkitItemForm(obj=item)
    campaigns = list_campaigns()
    form.campaign_id.choices = [SelectChoice(c.id, c.hashtag) for c in campaigns]
    form.translation_of.choices = [SelectChoice("", _("— none —"))] + [
        SelectChoice(str(other.id), f"{other.title} ({other.language})")
        for other in services.all_items()
        if item is None or other.id != item.id
    ]
    if item is not None and not form.is_submitted():
        form.kind.data = item.kind.value
        form.audience.data = item.audience.value
    return form


def _save(form: ToolkitItemForm, item=None):
    upload = None
    if form.file.data and form.file.data.filename:
        upload = services.Upload(form.file.data.filename, form.file.data.read())
    data = services.ItemInput(
        campaign_id=form.campaign_id.data,
        title=form.title.data,
        kind=ToolkitKind(form.kind.data),
        language=form.language.data,
        description=form.description.data or "",
        body=form.body.data or None,
        audience=Audience(form.audience.data),
        translation_of=form.translation_of_id(),
    )
    return services.save_item(current_user, item, data, upload)


def _edit_page(form, item):
    try:
        if form.validate_on_submit():
            _save(form, item)
            flash(_("The toolkit item has been saved."), "success")
            return redirect(url_for("toolkits.manage"))
    except RallyhubError as error:
        show_error(form, error, "file")
    return render_template("toolkits/edit.html", form=form, item=item), form_status(form)


@bp.route("/hq/toolkits")
@hq_required
def manage():
    """Every item, with its downloads; new, edit, archive."""
    return render_template(
        "toolkits/manage.html", items=services.all_items(), action_form=ActionForm()
    )


@bp.route("/hq/toolkits/new", methods=["GET", "POST"])
@hq_required
def create():
    """Add an item: a file or a text."""
    return _edit_page(_item_form(), None)


@bp.route("/hq/toolkits/<int:item_id>/edit", methods=["GET", "POST"])
@hq_required
def edit(item_id: int):
    """Change an item or replace its file."""
    item = services.get_item_or_404(item_id, current_user)
    return _edit_page(_item_form(item), item)


@bp.route("/hq/toolkits/<int:item_id>/archive", methods=["POST"])
@hq_required
def archive(item_id: int):
    """Take an item off the toolkit."""
    services.archive_item(current_user, services.get_item_or_404(item_id, current_user))
    flash(_("The item is archived."), "success")
    return redirect(url_for("toolkits.manage"))
