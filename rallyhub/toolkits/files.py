"""Uploaded toolkit files: their type decided by content, metadata stripped, stored safely."""

from __future__ import annotations

import io
import re
import secrets
import zipfile
from dataclasses import dataclass
from pathlib import Path

from flask_babel import gettext as _

from rallyhub.errors import UserError

MAX_NAME_LENGTH = 200


@dataclass(frozen=True)
class FileKind:
    """An allowed kind of file."""

    content_type: str
    extension: str


PDF = FileKind("application/pdf", "pdf")
PNG = FileKind("image/png", "png")
JPEG = FileKind("image/jpeg", "jpg")
DOCX = FileKind("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx")
ODT = FileKind("application/vnd.oasis.opendocument.text", "odt")
TEXT = FileKind("text/plain; charset=utf-8", "txt")
EXTENSIONS = {
    "pdf": PDF,
    "png": PNG,
    "jpg": JPEG,
    "jpeg": JPEG,
    "docx": DOCX,
    "odt": ODT,
    "txt": TEXT,
    "text": TEXT,
    "md": TEXT,
}
_MARKUP = re.compile(rb"<\s*(!doctype|html|svg|script|body|head|iframe|\?xml)", re.IGNORECASE)


def allowed_message() -> str:
    """What may be uploaded, for error messages."""
    return _("Allowed are PDF, PNG, JPEG, DOCX, ODT and plain text files.")


def check_filename(name: str) -> str:
    """The name as given, when it is one a person can be told about; else a clear refusal."""
    if not name or not name.strip():
        raise UserError(_("The file has no name."), field="file")
    if "\x00" in name or "/" in name or "\\" in name:
        raise UserError(
            _("The file name must not contain folders or control characters."), field="file"
        )
    if len(name) > MAX_NAME_LENGTH:
        raise UserError(
            _("The file name is too long (at most %(max)d characters).", max=MAX_NAME_LENGTH),
            field="file",
        )
    return name.strip()


def sniff(data: bytes) -> FileKind:
    """The kind of file ``data`` is, by its content; refuse anything else."""
    if data.startswith(b"%PDF-"):
        return PDF
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = set(archive.namelist())
                if "word/document.xml" in names and "[Content_Types].xml" in names:
                    return DOCX
                if (
                    "mimetype" in names
                    and archive.read("mimetype").strip() == ODT.content_type.encode()
                ):
                    return ODT
        except zipfile.BadZipFile:
            pass
    elif b"\x00" not in data and not _MARKUP.search(data[:4096]):
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            return TEXT
    raise UserError(
        _("This kind of file cannot be shared here.") + " " + allowed_message(), field="file"
    )


def check_extension(name: str, kind: FileKind) -> None:
    """The name's last extension must not claim another type (say, sign.pdf.html)."""
    extension = name.rsplit(".", 1)[1].lower() if "." in name else ""
    if extension and EXTENSIONS.get(extension) is not kind:
        raise UserError(
            _(
                "The name ends in .%(ext)s, but the file is a %(kind)s file. Please rename it.",
                ext=extension,
                kind=kind.extension.upper(),
            ),
            field="file",
        )


def strip_metadata(data: bytes, kind: FileKind) -> bytes:
    """Remove what can identify or locate people: EXIF and text chunks, document authors."""
    try:
        if kind in (PNG, JPEG):
            return _strip_image(data, kind)
        if kind is PDF:
            return _strip_pdf(data)
        if kind in (DOCX, ODT):
            return _strip_office(data)
    except UserError:
        raise
    except Exception:
        raise UserError(
            _("The file seems damaged and could not be checked. Please export it again and retry."),
            field="file",
        ) from None
    return data


def _strip_image(data: bytes, kind: FileKind) -> bytes:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        image.load()
        clean = image.copy()
        clean.info.clear()
        output = io.BytesIO()
        if kind is JPEG:
            clean.save(output, format="JPEG", quality=92, exif=b"")
        else:
            clean.save(output, format="PNG")
    return output.getvalue()


def _strip_pdf(data: bytes) -> bytes:
    from pypdf import PdfReader, PdfWriter

    reader = PdfReader(io.BytesIO(data))
    writer = PdfWriter()
    for page in reader.pages:
        writer.add_page(page)
    # The writer starts with no document information and no XMP; say only what made it.
    writer.add_metadata({"/Producer": "rallyhub"})
    output = io.BytesIO()
    writer.write(output)
    return output.getvalue()


_CORE_XML = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/'
    b'metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/"/>'
)
_APP_XML = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/'
    b'extended-properties"/>'
)
_META_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<office:document-meta xmlns:office="urn:oasis:names:tc:opendocument:xmlns:'
    b'office:1.0" office:version="1.2"><office:meta/></office:document-meta>'
)
_REPLACEMENTS = {
    "docProps/core.xml": _CORE_XML,
    "docProps/app.xml": _APP_XML,
    "docProps/custom.xml": None,
    "meta.xml": _META_XML,
}


def _strip_office(data: bytes) -> bytes:
    output = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(output, "w") as target:
        for item in source.infolist():
            if item.filename in _REPLACEMENTS:
                replacement = _REPLACEMENTS[item.filename]
                if replacement is not None:
                    target.writestr(item.filename, replacement, zipfile.ZIP_DEFLATED)
                continue
            body = source.read(item)
            # ODF wants its mimetype entry first and uncompressed; keep each entry's method.
            target.writestr(item, body, item.compress_type)
    return output.getvalue()


def store(data: bytes, upload_dir: str) -> tuple[Path, str]:
    """Write ``data`` under a random name, as a temporary file; return it and the final name."""
    directory = Path(upload_dir)
    directory.mkdir(parents=True, exist_ok=True)
    name = secrets.token_hex(16)
    partial = directory / f".{name}.partial"
    partial.write_bytes(data)
    return partial, name


def path_of(upload_dir: str, stored_name: str) -> Path:
    """Where a stored file lives; stored names are ours (hex), never a person's."""
    if not re.fullmatch(r"[0-9a-f]{32}", stored_name or ""):
        raise ValueError("not a stored name")
    return Path(upload_dir) / stored_name
