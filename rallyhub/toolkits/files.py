"""Uploaded toolkit files: their type decided by content, metadata stripped, stored safely."""

from __future__ import annotations

import io
import logging
import re
import secrets
import threading
import time
import zipfile
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from flask_babel import gettext as _
from sqlalchemy import event
from sqlalchemy.orm import Session

from rallyhub.errors import UserError

log = logging.getLogger(__name__)

MAX_NAME_LENGTH = 200
# What an upload may unpack to in memory. A 10 MB DOCX of text unpacks to well under this;
# a 0.5 MB zip of zeros declares gigabytes.
MAX_UNPACKED_BYTES = 64 * 2**20
# Members above this size must not have compressed better than MAX_RATIO : 1 (XML and text
# reach 5-20 : 1, zeros 1000 : 1).
RATIO_CHECK_FROM_BYTES = 2**20
MAX_RATIO = 100
MAX_MEMBERS = 2000
# What pypdf may decode from one stream and from the whole document. Cleaning copies pages
# without decoding their content; it decodes only object and cross-reference streams, which
# are small in real files (tens of kB), while pypdf parses them at ~3 MB/s.
MAX_PDF_STREAM_BYTES = 2 * 2**20
MAX_PDF_DECODED_BYTES = 8 * 2**20
MAX_IMAGE_PIXELS = 50_000_000
_CHUNK = 64 * 1024


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


def _unpacks_too_large() -> UserError:
    return UserError(
        _(
            "The file would unpack to far more data than it holds, more than can be checked "
            "safely. Please export it again from the program that made it and retry."
        ),
        field="file",
    )


def _open_zip(data: bytes) -> zipfile.ZipFile:
    """Open an archive whose declared sizes stay within the bounds; nothing is unpacked yet."""
    # Every member costs a ZipInfo (~0.5 kB) as soon as the directory is parsed: count the
    # directory's signatures first.
    if data.count(b"PK\x01\x02") > MAX_MEMBERS:
        raise _unpacks_too_large()
    archive = zipfile.ZipFile(io.BytesIO(data))
    total = 0
    for item in archive.infolist():
        total += item.file_size
        ratio_too_high = (
            item.file_size > RATIO_CHECK_FROM_BYTES
            and item.file_size > MAX_RATIO * max(item.compress_size, 1)
        )
        if ratio_too_high or total > MAX_UNPACKED_BYTES:
            archive.close()
            raise _unpacks_too_large()
    return archive


def _read_member(archive: zipfile.ZipFile, item: zipfile.ZipInfo, limit: int):
    """Yield a member's bytes in chunks, refusing more than it declared or than ``limit``."""
    allowed = min(item.file_size, limit)
    seen = 0
    with archive.open(item) as member:
        # Never trust the header: stop reading as soon as the member outgrows it.
        while chunk := member.read(min(_CHUNK, allowed - seen + 1)):
            seen += len(chunk)
            if seen > allowed:
                raise _unpacks_too_large()
            yield chunk


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
            with _open_zip(data) as archive:
                names = set(archive.namelist())
                if "word/document.xml" in names and "[Content_Types].xml" in names:
                    return DOCX
                if "mimetype" in names:
                    mimetype = b"".join(
                        _read_member(archive, archive.getinfo("mimetype"), limit=200)
                    )
                    if mimetype.strip() == ODT.content_type.encode():
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
        # Opening reads the header only; the pixels are decoded by load().
        if image.width * image.height > MAX_IMAGE_PIXELS:
            raise UserError(
                _(
                    "The image has more than %(mp)d million pixels. Please make it smaller.",
                    mp=MAX_IMAGE_PIXELS // 1_000_000,
                ),
                field="file",
            )
        image.load()
        clean = image.copy()
        clean.info.clear()
        output = io.BytesIO()
        if kind is JPEG:
            clean.save(output, format="JPEG", quality=92, exif=b"")
        else:
            clean.save(output, format="PNG")
    return output.getvalue()


# Bytes pypdf may still decode for the document being cleaned in this context; None: no bound.
_pdf_budget: ContextVar[list[int] | None] = ContextVar("rallyhub_pdf_budget", default=None)
_pdf_budget_lock = threading.Lock()


def _budget_pdf_decoding() -> None:
    """Make pypdf count what it decodes against the current document's budget (once)."""
    import pypdf.filters
    from pypdf.errors import LimitReachedError

    with _pdf_budget_lock:
        original = pypdf.filters.decode_stream_data
        if getattr(original, "rallyhub_budgeted", False):
            return

        # pypdf bounds each stream but not their sum: a 0.3 MB file of object streams made it
        # hold 360 MB. Its stream objects look this function up on every decode.
        def decode_stream_data(stream):
            data = original(stream)
            budget = _pdf_budget.get()
            if budget is not None:
                budget[0] -= len(data)
                if budget[0] < 0:
                    raise LimitReachedError("the document decodes to more than its budget")
            return data

        decode_stream_data.rallyhub_budgeted = True  # type: ignore[attr-defined]
        pypdf.filters.decode_stream_data = decode_stream_data


def _strip_pdf(data: bytes) -> bytes:
    from pypdf import PdfReader, PdfWriter, apply_configuration
    from pypdf.errors import LimitReachedError

    _budget_pdf_decoding()
    per_stream = MAX_PDF_STREAM_BYTES
    token = _pdf_budget.set([MAX_PDF_DECODED_BYTES])
    try:
        with apply_configuration(
            zlib_maximum_output_length=per_stream,
            lzw_maximum_output_length=per_stream,
            run_length_maximum_output_length=per_stream,
            brotli_maximum_output_length=per_stream,
            jbig2_maximum_output_length=per_stream,
            array_based_stream_maximum_output_length=per_stream,
            image_maximum_buffer_size=per_stream,
            stream_decoding_work_maximum_length=4 * per_stream,
            xmp_maximum_input_length=per_stream,
        ):
            reader = PdfReader(io.BytesIO(data))
            writer = PdfWriter()
            for page in reader.pages:
                writer.add_page(page)
            # The writer starts with no document information and no XMP; say only what made it.
            writer.add_metadata({"/Producer": "rallyhub"})
            output = io.BytesIO()
            writer.write(output)
    except LimitReachedError:
        raise _unpacks_too_large() from None
    finally:
        _pdf_budget.reset(token)
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
    budget = MAX_UNPACKED_BYTES
    with _open_zip(data) as source, zipfile.ZipFile(output, "w") as target:
        for item in source.infolist():
            if item.filename in _REPLACEMENTS:
                replacement = _REPLACEMENTS[item.filename]
                if replacement is not None:
                    target.writestr(item.filename, replacement, zipfile.ZIP_DEFLATED)
                continue
            # Copied a chunk at a time: memory holds the packed output, never a whole member.
            # ODF wants its mimetype entry first and uncompressed; keep each entry's method.
            entry = zipfile.ZipInfo(item.filename, item.date_time)
            entry.compress_type, entry.external_attr = item.compress_type, item.external_attr
            with target.open(entry, "w") as copy:
                for chunk in _read_member(source, item, budget):
                    budget -= len(chunk)
                    copy.write(chunk)
    return output.getvalue()


def store(data: bytes, upload_dir: str) -> tuple[Path, str]:
    """Write ``data`` under a random name, as a temporary file; return it and the final name."""
    directory = Path(upload_dir)
    directory.mkdir(parents=True, exist_ok=True)
    name = secrets.token_hex(16)
    partial = directory / f".{name}.partial"
    partial.write_bytes(data)
    return partial, name


# File moves waiting for the transaction that refers to them: (partial, final) to place,
# (path, None) to remove.
_PENDING = "rallyhub.toolkit_files"


def place_on_commit(session, partial: Path, final: Path) -> None:
    """Move a stored file into place once the transaction commits; delete it if it does not."""
    session.info.setdefault(_PENDING, []).append((partial, final))


def remove_on_commit(session, path: Path) -> None:
    """Delete a replaced file once the transaction commits; keep it if it does not."""
    session.info.setdefault(_PENDING, []).append((path, None))


@event.listens_for(Session, "after_commit")
def _apply_file_moves(session) -> None:
    if session.get_nested_transaction() is not None:
        return  # a savepoint was released; the transaction may still roll back
    for path, final in session.info.pop(_PENDING, []):
        try:
            if final is not None:
                path.replace(final)
            else:
                path.unlink(missing_ok=True)
        except OSError:
            # Committed already: say so in the log; remove_stale_partials() finishes a move.
            log.exception("toolkit file %s could not be moved after commit", path.name)


@event.listens_for(Session, "after_transaction_end")
def _drop_uncommitted_files(session, transaction) -> None:
    if transaction.parent is not None:
        return
    # Rolled back or closed without a commit: new files go, replaced ones stay.
    for path, final in session.info.pop(_PENDING, []):
        if final is not None:
            path.unlink(missing_ok=True)


def remove_stale_partials(upload_dir: str, stored_names: set[str], max_age_s: float) -> int:
    """After a crash: finish moves whose row was committed, delete other old partial files."""
    directory = Path(upload_dir)
    if not directory.exists():
        return 0
    removed = 0
    now = time.time()
    for partial in directory.glob(".*.partial"):
        name = partial.name[1:].removesuffix(".partial")
        final = directory / name
        if name in stored_names and not final.exists():
            partial.replace(final)
        elif now - partial.stat().st_mtime > max_age_s:
            partial.unlink(missing_ok=True)
            removed += 1
    return removed


def path_of(upload_dir: str, stored_name: str) -> Path:
    """Where a stored file lives; stored names are ours (hex), never a person's."""
    if not re.fullmatch(r"[0-9a-f]{32}", stored_name or ""):
        raise ValueError("not a stored name")
    return Path(upload_dir) / stored_name
