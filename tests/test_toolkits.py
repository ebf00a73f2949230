"""Toolkits: uploads decided by content and cleaned of metadata, access by audience, HQ only."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from PIL import Image
from pypdf import PdfReader, PdfWriter
from sqlalchemy import select

from rallyhub.auth.audit import AuditRecord
from rallyhub.auth.models import Role
from rallyhub.extensions import db
from rallyhub.toolkits.models import Audience, ToolkitItem
from tests.conftest import csrf_from, post_form
from tests.factories import DEFAULT_PASSWORD


def jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (8, 8), "purple")
    exif = Image.Exif()
    exif[0x010F] = "SpyCam Inc"  # Make
    exif[0x013B] = "Aram Sargsyan"  # Artist
    exif[0x8825] = {1: "N", 2: (40.0, 10.0, 40.0), 3: "E", 4: (44.0, 30.0, 49.0)}  # GPS
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def png_with_text() -> bytes:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Author", "Aram Sargsyan")
    info.add_text("Location", "40.1777,44.5126")
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "pink").save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def pdf_with_author() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.add_metadata({"/Author": "Aram Sargsyan", "/Creator": "Laptop of Aram"})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def office_with_author(kind: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        if kind == "odt":
            archive.writestr(
                "mimetype", "application/vnd.oasis.opendocument.text", zipfile.ZIP_STORED
            )
            archive.writestr("content.xml", "<office:document-content/>")
            archive.writestr("meta.xml", "<meta><dc:creator>Aram Sargsyan</dc:creator></meta>")
        else:
            archive.writestr("[Content_Types].xml", "<Types/>")
            archive.writestr("word/document.xml", "<w:document/>")
            archive.writestr(
                "docProps/core.xml",
                "<cp:coreProperties><dc:creator>Aram Sargsyan</dc:creator>"
                "<cp:lastModifiedBy>Aram Sargsyan</cp:lastModifiedBy>"
                "</cp:coreProperties>",
            )
            archive.writestr(
                "docProps/app.xml", "<Properties><Company>Secret Org</Company></Properties>"
            )
    return out.getvalue()


@pytest.fixture
def hq(users, auth):
    users(email="hq@example.org", role=Role.HQ)
    auth.login("hq@example.org")


@pytest.fixture
def campaign(campaigns):
    return campaigns(slug="cecenia")


def upload(client, campaign, name, data, **fields):
    page = client.get("/hq/toolkits/new").get_data(as_text=True)
    form = {
        "csrf_token": csrf_from(page),
        "campaign_id": str(campaign),
        "title": "Sign",
        "kind": "sign",
        "language": "en",
        "audience": "public",
        "description": "",
        "body": "",
        "translation_of": "",
        **fields,
    }
    if name is not None:
        form["file"] = (io.BytesIO(data), name)
    return client.post("/hq/toolkits/new", data=form, content_type="multipart/form-data")


def stored(app):
    with app.app_context():
        item = db.session.scalars(select(ToolkitItem).order_by(ToolkitItem.id.desc())).first()
        if item is None:
            return None, None
        path = Path(app.config["UPLOAD_DIR"]) / item.stored_name if item.stored_name else None
        return item, path


@pytest.mark.parametrize(
    ("name", "maker", "content_type", "secrets"),
    [
        ("sign.jpg", jpeg_with_gps, "image/jpeg", [b"SpyCam", b"Aram"]),
        ("sign.png", png_with_text, "image/png", [b"Aram", b"40.1777"]),
        ("sign.pdf", pdf_with_author, "application/pdf", [b"Aram", b"Laptop"]),
        (
            "kit.docx",
            lambda: office_with_author("docx"),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            [b"Aram", b"Secret Org"],
        ),
        (
            "kit.odt",
            lambda: office_with_author("odt"),
            "application/vnd.oasis.opendocument.text",
            [b"Aram"],
        ),
    ],
)
def test_uploads_lose_identifying_metadata(
    app, client, hq, campaign, name, maker, content_type, secrets
):
    original = maker()
    assert all(secret in original or secret in _unzipped(original) for secret in secrets)
    response = upload(client, campaign, name, original)
    assert response.status_code == 302, response.get_data(as_text=True)
    item, path = stored(app)
    assert item.content_type == content_type
    assert item.stored_name != name and name not in str(path)
    data = path.read_bytes()
    for secret in secrets:
        assert secret not in data and secret not in _unzipped(data)
    if name.endswith(".jpg"):
        with Image.open(io.BytesIO(data)) as image:
            assert dict(image.getexif()) == {}
    if name.endswith(".pdf"):
        assert "/Author" not in (PdfReader(io.BytesIO(data)).metadata or {})


def _unzipped(data: bytes) -> bytes:
    if not data.startswith(b"PK"):
        return b""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return b"".join(archive.read(name) for name in archive.namelist())


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("empty.pdf", b"", "The file is empty"),
        (
            "logo.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "cannot be shared here",
        ),
        ("page.html", b"<!doctype html><html><body>hi</body></html>", "cannot be shared here"),
        ("sign.pdf", b"<html><script>alert(1)</script></html>", "cannot be shared here"),
        ("tool.exe", b"MZ\x90\x00\x03\x00\x00\x00", "cannot be shared here"),
        ("sign.pdf.html", b"%PDF-1.4\n%%EOF", "The name ends in .html"),
        ("x" * 250 + ".pdf", b"%PDF-1.4\n%%EOF", "too long"),
        ("broken.pdf", b"%PDF-1.4 garbage", "seems damaged"),
        ("binary.txt", b"abc\x00def", "cannot be shared here"),
    ],
)
def test_refused_uploads_say_why_and_leave_nothing(app, client, hq, campaign, name, data, message):
    response = upload(client, campaign, name, data)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert stored(app) == (None, None)
    upload_dir = Path(app.config["UPLOAD_DIR"])
    assert not upload_dir.exists() or list(upload_dir.iterdir()) == []


def test_names_with_folders_or_nuls_are_refused(app, client, hq, campaign):
    from rallyhub.errors import UserError
    from rallyhub.toolkits.files import check_filename

    for name in ("../../etc/passwd.txt", "a\\b.txt", "a\x00.txt"):
        with pytest.raises(UserError, match="folders or control"):
            check_filename(name)


def test_oversized_upload_is_refused(make_app, users, campaigns):
    app = make_app(TOOLKIT_MAX_BYTES=1000)
    users(email="boss@example.org", role=Role.HQ)
    client = app.test_client()
    post_form(client, "/auth/login", {"email": "boss@example.org", "password": DEFAULT_PASSWORD})
    response = upload(client, campaigns(), "big.txt", b"a" * 2000)
    assert response.status_code == 400
    assert "larger than" in response.get_data(as_text=True)


def test_text_items_and_language_versions(app, client, hq, campaign):
    assert (
        upload(
            client,
            campaign,
            None,
            b"",
            title="Safety",
            kind="safety_guide",
            body="Stay with your group.\nhttps://example.org",
        ).status_code
        == 302
    )
    original, _ = stored(app)
    assert (
        upload(
            client,
            campaign,
            None,
            b"",
            title="Sicurezza",
            kind="safety_guide",
            language="it",
            body="Resta con il tuo gruppo.",
            translation_of=str(original.id),
        ).status_code
        == 302
    )
    page = client.get("/campaigns/cecenia/toolkit?language=").get_data(as_text=True)
    assert "Also in: Italiano" in page and "Also in: English" in page
    italian = client.get("/campaigns/cecenia/toolkit?language=it").get_data(as_text=True)
    assert "<strong>Sicurezza</strong>" in italian and "<strong>Safety</strong>" not in italian
    item_page = client.get(f"/toolkits/{original.id}").get_data(as_text=True)
    assert "Stay with your group.<br>" in item_page and 'data-copy="toolkit-body"' in item_page


def test_edit_replace_and_archive_are_audited(app, client, hq, campaign):
    upload(client, campaign, "a.txt", b"first version")
    item, first_path = stored(app)
    page = client.get(f"/toolkits/{item.id}")
    assert page.status_code == 200
    form = {
        "csrf_token": csrf_from(client.get(f"/hq/toolkits/{item.id}/edit").get_data(as_text=True)),
        "campaign_id": str(campaign),
        "title": "Renamed",
        "kind": "sign",
        "language": "en",
        "audience": "public",
        "file": (io.BytesIO(b"second"), "b.txt"),
    }
    response = client.post(
        f"/hq/toolkits/{item.id}/edit", data=form, content_type="multipart/form-data"
    )
    assert response.status_code == 302
    item, second_path = stored(app)
    assert item.title == "Renamed" and second_path.read_bytes() == b"second"
    assert not first_path.exists(), "the replaced file is removed"
    post_form(client, f"/hq/toolkits/{item.id}/archive", {}, page="/hq/toolkits")
    assert app.test_client().get(f"/toolkits/{item.id}").status_code == 404
    with app.app_context():
        actions = db.session.scalars(
            select(AuditRecord.action)
            .where(AuditRecord.target_type == "toolkit_item")
            .order_by(AuditRecord.id)
        ).all()
    assert actions == ["toolkit.create", "toolkit.update", "toolkit.archive"]


def _item(app, campaign, audience, **fields):
    with app.app_context():
        from flask import current_app

        directory = Path(current_app.config["UPLOAD_DIR"])
        directory.mkdir(parents=True, exist_ok=True)
        name = "ab" * 16
        (directory / name).write_bytes(b"%PDF-1.4 test")
        item = ToolkitItem(
            campaign_id=campaign,
            title=f"{audience.value} item",
            kind="sign",
            language="en",
            group_key=audience.value,
            audience=audience,
            stored_name=name if audience is Audience.PUBLIC else "cd" * 16,
            **{"original_filename": "sign.pdf", "content_type": "application/pdf", **fields},
        )
        (directory / item.stored_name).write_bytes(b"%PDF-1.4 test")
        db.session.add(item)
        db.session.commit()
        return item.id


@pytest.mark.parametrize(
    ("who", "public", "organizers"),
    [("anonymous", 200, 404), ("organizer", 200, 200), ("hq", 200, 200)],
)
def test_access_by_audience(app, users, campaign, who, public, organizers):
    public_id = _item(app, campaign, Audience.PUBLIC)
    private_id = _item(app, campaign, Audience.ORGANIZERS)
    client = app.test_client()
    if who != "anonymous":
        users(email="p@example.org", role=Role.HQ if who == "hq" else Role.ORGANIZER)
        post_form(client, "/auth/login", {"email": "p@example.org", "password": DEFAULT_PASSWORD})
    for item_id, expected in ((public_id, public), (private_id, organizers)):
        assert client.get(f"/toolkits/{item_id}").status_code == expected
        download = client.get(f"/toolkits/{item_id}/download")
        download.close()
        assert download.status_code == expected
        if expected == 200:
            assert download.headers["Content-Disposition"].startswith("attachment")
            assert download.headers["X-Content-Type-Options"] == "nosniff"
            assert download.mimetype == "application/pdf"
    listing = client.get("/campaigns/cecenia/toolkit?language=").get_data(as_text=True)
    assert ("organizers item" in listing) == (organizers == 200)
    hq_pages = [client.get("/hq/toolkits").status_code, client.get("/hq/toolkits/new").status_code]
    assert hq_pages == (
        [200, 200] if who == "hq" else [302, 302] if who == "anonymous" else [403, 403]
    )


def test_downloads_are_counted_and_shown_only_to_hq(app, client, users, campaign):
    item_id = _item(app, campaign, Audience.PUBLIC)
    anonymous = app.test_client()
    anonymous.get(f"/toolkits/{item_id}/download").close()
    anonymous.get(f"/toolkits/{item_id}/download").close()
    assert "downloads" not in anonymous.get("/campaigns/cecenia/toolkit?language=").get_data(
        as_text=True
    )
    users(email="hq@example.org", role=Role.HQ)
    post_form(client, "/auth/login", {"email": "hq@example.org", "password": DEFAULT_PASSWORD})
    assert "2 downloads" in client.get("/campaigns/cecenia/toolkit?language=").get_data(
        as_text=True
    )


def test_stored_files_are_unreachable_except_through_the_view(app, client, campaign):
    item_id = _item(app, campaign, Audience.PUBLIC)
    with app.app_context():
        name = db.session.get(ToolkitItem, item_id).stored_name
    for path in (
        f"/static/{name}",
        f"/uploads/{name}",
        f"/instance/uploads/{name}",
        f"/static/../instance/uploads/{name}",
        f"/toolkits/{name}",
    ):
        assert client.get(path).status_code == 404, path
    response = client.get(f"/toolkits/{item_id}/download")
    response.close()
    assert response.status_code == 200


def test_only_hq_may_change_toolkits(app, users, auth, client, campaign):
    item_id = _item(app, campaign, Audience.PUBLIC)
    users(email="org@example.org")
    auth.login("org@example.org")
    for url in (
        f"/hq/toolkits/{item_id}/edit",
        f"/hq/toolkits/{item_id}/archive",
        "/hq/toolkits/new",
    ):
        assert post_form(client, url, {"title": "x"}, page="/").status_code == 403
    with app.app_context():
        item = db.session.get(ToolkitItem, item_id)
        assert item.title == "public item" and item.archived_dt is None


def test_images_get_an_inline_preview_other_files_do_not(app, client, hq, campaign):
    upload(client, campaign, "sign.png", png_with_text(), title="Image sign")
    image, _ = stored(app)
    upload(client, campaign, "sign.pdf", pdf_with_author(), title="Pdf sign")
    pdf, _ = stored(app)
    page = client.get("/campaigns/cecenia/toolkit?language=").get_data(as_text=True)
    assert f"/toolkits/{image.id}/preview" in page and f"/toolkits/{pdf.id}/preview" not in page
    response = client.get(f"/toolkits/{image.id}/preview")
    response.close()
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert "attachment" not in response.headers.get("Content-Disposition", "")
    assert client.get(f"/toolkits/{pdf.id}/preview").status_code == 404
    with app.app_context():
        assert db.session.get(ToolkitItem, image.id).download_count == 0


def test_text_downloads_name_their_charset_once(app, client, campaign):
    item_id = _item(
        app,
        campaign,
        Audience.PUBLIC,
        content_type="text/plain; charset=utf-8",
        original_filename="chants.txt",
    )
    download = client.get(f"/toolkits/{item_id}/download")
    download.close()
    assert download.headers["Content-Type"] == "text/plain; charset=utf-8"


def _titles(client, path, language):
    page = client.get(path, headers={"Accept-Language": language})
    assert page.status_code == 200
    html = BeautifulSoup(page.data, "html.parser")
    return [strong.get_text() for strong in html.select("ul.toolkit li strong")]


def test_each_item_shows_once_in_the_readers_language_first(app, client, hq, campaign):
    upload(client, campaign, None, b"", title="Safety", kind="safety_guide", body="Stay close.")
    original, _ = stored(app)
    upload(client, campaign, None, b"", title="Checklist", kind="safety_guide", body="Water.")
    upload(
        client,
        campaign,
        None,
        b"",
        title="Sicurezza",
        kind="safety_guide",
        language="it",
        body="Resta vicino.",
        translation_of=str(original.id),
    )
    path = "/campaigns/cecenia/toolkit"
    # Nothing is hidden for want of a translation; the reader's own version comes first.
    assert _titles(client, path, "it") == ["Sicurezza", "Checklist"]
    assert _titles(client, path, "en") == ["Checklist", "Safety"]
    assert _titles(client, path + "?language=auto", "ru") == ["Checklist", "Safety"]
    assert _titles(client, path + "?language=", "it") == ["Checklist", "Safety", "Sicurezza"]
    assert _titles(client, path + "?language=it", "en") == ["Sicurezza"]
