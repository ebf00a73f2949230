"""Toolkit rules: who sees which item, uploads checked and cleaned, every change audited."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from rallyhub.auth.audit import record_audit
from rallyhub.campaigns.models import Campaign
from rallyhub.errors import NotAllowed, NotFound, UserError
from rallyhub.extensions import db
from rallyhub.i18n import same_language
from rallyhub.models import utcnow
from rallyhub.toolkits import files
from rallyhub.toolkits.models import Audience, ToolkitItem, ToolkitKind


@dataclass(frozen=True)
class ItemInput:
    """What HQ gives for an item, as plain values."""

    campaign_id: int
    title: str
    kind: ToolkitKind
    language: str
    description: str
    body: str | None
    audience: Audience
    translation_of: int | None = None


@dataclass(frozen=True)
class Upload:
    """A file as received: its name and bytes."""

    filename: str
    data: bytes


def sees_organizer_items(user) -> bool:
    """Organizers-only items are for signed-in accounts (organizers and HQ)."""
    return bool(user is not None and user.is_authenticated)


def get_item_or_404(item_id: int, user) -> ToolkitItem:
    """Load an item the person may see; anything else is 404 (its existence stays hidden)."""
    item = db.session.get(ToolkitItem, item_id)
    if item is None:
        raise NotFound()
    if user is not None and user.is_authenticated and user.is_hq:
        return item
    if item.archived_dt is not None:
        raise NotFound()
    if item.audience is Audience.ORGANIZERS and not sees_organizer_items(user):
        raise NotFound()
    return item


def visible_items(campaign_id: int, user) -> list[ToolkitItem]:
    """A campaign's current items this person may see, by kind and title."""
    query = select(ToolkitItem).where(
        ToolkitItem.campaign_id == campaign_id, ToolkitItem.archived_dt.is_(None)
    )
    if not sees_organizer_items(user):
        query = query.where(ToolkitItem.audience == Audience.PUBLIC)
    return list(
        db.session.scalars(query.order_by(ToolkitItem.kind, ToolkitItem.title, ToolkitItem.id))
    )


def reader_first(items: list[ToolkitItem], reader: str) -> list[ToolkitItem]:
    """One version of each group of ``items``: the one in the reader's language if there is
    one, else the group's original (first uploaded); the reader's language comes first, each
    part in the order given."""
    originals: dict[str, ToolkitItem] = {}
    mine: dict[str, ToolkitItem] = {}
    for item in items:
        if item.group_key not in originals or item.id < originals[item.group_key].id:
            originals[item.group_key] = item
        if same_language(item.language, reader):
            mine.setdefault(item.group_key, item)
    chosen = {id(mine.get(key) or original) for key, original in originals.items()}
    shown = [item for item in items if id(item) in chosen]
    return sorted(shown, key=lambda item: not same_language(item.language, reader))


def languages_by_group(items: list[ToolkitItem]) -> dict[str, list[str]]:
    """For each group of versions among ``items``, the languages it exists in ("also in")."""
    groups: dict[str, list[str]] = {}
    for item in items:
        groups.setdefault(item.group_key, []).append(item.language)
    return {key: sorted(set(languages)) for key, languages in groups.items()}


def all_items() -> list[ToolkitItem]:
    """Every item, for HQ: current first, then archived."""
    return list(
        db.session.scalars(
            select(ToolkitItem).order_by(
                ToolkitItem.archived_dt.is_not(None), ToolkitItem.campaign_id, ToolkitItem.title
            )
        )
    )


def _checked_file(upload: Upload) -> tuple[bytes, files.FileKind, str]:
    name = files.check_filename(upload.filename)
    limit = current_app.config["TOOLKIT_MAX_BYTES"]
    if not upload.data:
        raise UserError(_("The file is empty."), field="file")
    if len(upload.data) > limit:
        raise UserError(_("The file is larger than %(mb)d MB.", mb=limit // 2**20), field="file")
    kind = files.sniff(upload.data)
    files.check_extension(name, kind)
    return files.strip_metadata(upload.data, kind), kind, name


def save_item(
    actor, item: ToolkitItem | None, data: ItemInput, upload: Upload | None
) -> ToolkitItem:
    """Create or change an item; a new file replaces the old one, which is then removed."""
    if not actor.is_hq:
        raise NotAllowed()
    campaign = db.session.get(Campaign, data.campaign_id)
    if campaign is None:
        raise UserError(_("Please choose a campaign."), field="campaign_id")
    if upload is not None and data.body:
        raise UserError(_("Give a file or a text, not both."), field="body")
    has_content = upload is not None or data.body or (item is not None and item.stored_name)
    if not has_content:
        raise UserError(_("Give a file or a text."), field="file")
    prepared = _checked_file(upload) if upload is not None else None
    original = None
    if data.translation_of:
        original = db.session.get(ToolkitItem, data.translation_of)
        if original is None or original.campaign_id != data.campaign_id:
            raise UserError(_("Pick an item of the same campaign."), field="translation_of")
    created = item is None
    if item is None:
        item = ToolkitItem(uploaded_by_id=actor.id, group_key=secrets.token_hex(8))
    if original is not None:
        item.group_key = original.group_key
    item.campaign_id = data.campaign_id
    item.title = data.title
    item.kind = data.kind
    item.language = data.language
    item.description = data.description or ""
    item.audience = data.audience
    db.session.add(item)
    old_file = item.stored_name
    upload_dir = current_app.config["UPLOAD_DIR"]
    if prepared is not None:
        content, kind, name = prepared
        # Stored under a temporary name and moved into place only when the request's commit
        # succeeds; a rollback deletes it, so no file is left without its row.
        partial, stored_name = files.store(content, upload_dir)
        files.place_on_commit(db.session, partial, files.path_of(upload_dir, stored_name))
        item.stored_name, item.original_filename = stored_name, name
        item.content_type, item.size_bytes = kind.content_type, len(content)
        item.body = None
    elif data.body:
        item.body = data.body
        item.stored_name = item.original_filename = item.content_type = None
        item.size_bytes = None
    db.session.flush()
    if old_file and old_file != item.stored_name:
        files.remove_on_commit(db.session, files.path_of(upload_dir, old_file))
    record_audit(actor, "toolkit.create" if created else "toolkit.update", "toolkit_item", item.id)
    return item


def clean_uploads(max_age_s: float = 3600) -> int:
    """Finish or remove uploads a crashed request left half-stored; return how many went."""
    stored = set(
        db.session.scalars(
            select(ToolkitItem.stored_name).where(ToolkitItem.stored_name.is_not(None))
        )
    )
    return files.remove_stale_partials(current_app.config["UPLOAD_DIR"], stored, max_age_s)


def archive_item(actor, item: ToolkitItem) -> None:
    """Take an item off the toolkit pages (HQ still sees it)."""
    if not actor.is_hq:
        raise NotAllowed()
    item.archived_dt = utcnow()
    record_audit(actor, "toolkit.archive", "toolkit_item", item.id)


def download_path(item: ToolkitItem) -> Path:
    """The stored file of an item, counting the download (a number only, never who)."""
    if not item.stored_name:
        raise NotFound()
    db.session.execute(
        update(ToolkitItem)
        .where(ToolkitItem.id == item.id)
        .values(download_count=ToolkitItem.download_count + 1)
    )
    path = files.path_of(current_app.config["UPLOAD_DIR"], item.stored_name)
    if not path.exists():
        raise NotFound()
    return path


PREVIEWABLE = ("image/png", "image/jpeg")


def preview_path(item: ToolkitItem) -> Path:
    """The stored image of an image item, for an inline preview (not counted as a download)."""
    if not item.stored_name or item.content_type not in PREVIEWABLE:
        raise NotFound()
    path = files.path_of(current_app.config["UPLOAD_DIR"], item.stored_name)
    if not path.exists():
        raise NotFound()
    return path


CHECKLIST = {
    ToolkitKind.SIGN: _l("Print the signs"),
    ToolkitKind.PRESS_RELEASE: _l("Send the press release to local media"),
    ToolkitKind.SAFETY_GUIDE: _l("Read the safety guide and share it with your team"),
    ToolkitKind.CHANT_SHEET: _l("Print the chant sheet"),
    ToolkitKind.SOCIAL_MEDIA: _l("Post the campaign's social media kit"),
}


def organizer_checklist(user) -> list[tuple[str, ToolkitItem]]:
    """The organizers-only items of running campaigns, each with the step it helps with."""
    if not sees_organizer_items(user):
        return []
    items = db.session.scalars(
        select(ToolkitItem)
        .join(Campaign, Campaign.id == ToolkitItem.campaign_id)
        .where(
            Campaign.is_active,
            ToolkitItem.archived_dt.is_(None),
            ToolkitItem.audience == Audience.ORGANIZERS,
        )
        .order_by(ToolkitItem.kind, ToolkitItem.title)
    )
    return [(str(CHECKLIST.get(item.kind, item.title)), item) for item in items]
