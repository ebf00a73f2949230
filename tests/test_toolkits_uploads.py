"""Toolkit uploads under attack and failure: bombs refused unexpanded, no orphan files, locks."""

from __future__ import annotations

import io
import os
import sqlite3
import struct
import threading
import time
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import pytest
from flask_sqlalchemy.session import Session as FlaskSession
from PIL import Image
from sqlalchemy import create_engine, select, text

from rallyhub.auth.audit import AuditRecord
from rallyhub.auth.models import Role
from rallyhub.extensions import db
from rallyhub.toolkits import files
from rallyhub.toolkits.models import Audience, ToolkitItem
from tests.conftest import csrf_from
from tests.test_toolkits import _item, office_with_author, stored, upload

MB = 2**20
# Far below any bomb's unpacked size, well above what checking a small file costs.
MEMORY_CEILING = 24 * MB


@pytest.fixture
def hq(users, auth):
    users(email="hq@example.org", role=Role.HQ)
    auth.login("hq@example.org")


@pytest.fixture
def campaign(campaigns):
    return campaigns(slug="cecenia")


def upload_dir_contents(app) -> list[str]:
    directory = Path(app.config["UPLOAD_DIR"])
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def peak_memory_of(call):
    """Run ``call``; return its result and the peak of Python memory allocated meanwhile."""
    tracemalloc.start()
    try:
        result = call()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# --- generated bombs, built once per run, a chunk at a time -------------------------------


def _deflated_zeros(size: int) -> tuple[bytes, int]:
    """Raw deflate of ``size`` zero bytes and their CRC-32, in well under a second."""
    # After a full flush the compressor starts afresh, so one megabyte's output repeats.
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(bytes(MB)) + compressor.flush(zlib.Z_FULL_FLUSH)
    crc, zero = 0, bytes(MB)
    for _ in range(size // MB):
        crc = zlib.crc32(zero, crc)
    return block * (size // MB) + compressor.flush(), crc


def _zip_of(members: list[tuple[str, bytes | tuple[bytes, int, int]]]) -> bytes:
    """A zip of (name, bytes) members, or (name, (deflated, size, crc)) for ready-packed ones."""
    out, central = io.BytesIO(), []
    for name, data in members:
        if isinstance(data, tuple):
            (packed, size, crc), method = data, zipfile.ZIP_DEFLATED
        elif name == "mimetype":  # ODF: stored, uncompressed
            packed, size, crc, method = data, len(data), zlib.crc32(data), zipfile.ZIP_STORED
        else:
            compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
            packed = compressor.compress(data) + compressor.flush()
            size, crc, method = len(data), zlib.crc32(data), zipfile.ZIP_DEFLATED
        offset, encoded = out.tell(), name.encode()
        out.write(
            struct.pack(
                "<4s5H3I2H",
                b"PK\x03\x04",
                20,
                0,
                method,
                0,
                0x21,
                crc,
                len(packed),
                size,
                len(encoded),
                0,
            )
        )
        out.write(encoded + packed)
        central.append(
            struct.pack(
                "<4s6H3I5H2I",
                b"PK\x01\x02",
                20,
                20,
                0,
                method,
                0,
                0x21,
                crc,
                len(packed),
                size,
                len(encoded),
                0,
                0,
                0,
                0,
                0,
                offset,
            )
            + encoded
        )
    start = out.tell()
    out.write(b"".join(central))
    end = struct.pack(
        "<4s4H2IH", b"PK\x05\x06", 0, 0, len(central), len(central), out.tell() - start, start, 0
    )
    out.write(end)
    return out.getvalue()


def _zip_with_zeros(kind: str, zeros: int) -> bytes:
    """A DOCX or ODT whose one extra member is ``zeros`` zero bytes (packs ~1000 : 1)."""
    packed, crc = _deflated_zeros(zeros)
    if kind == "odt":
        head = [("mimetype", files.ODT.content_type.encode()), ("content.xml", b"<c/>")]
    else:
        head = [("[Content_Types].xml", b"<Types/>"), ("word/document.xml", b"<w:document/>")]
    return _zip_of([*head, ("bulk.xml", (packed, zeros, crc))])


_BOMB: list[bytes] = []


def bomb() -> bytes:
    """A DOCX with a 200 MB member of zeros: ~200 kB, built once per run."""
    if not _BOMB:
        _BOMB.append(_zip_with_zeros("docx", 200 * MB))
    return _BOMB[0]


def declared_unpacked(data: bytes) -> int:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return sum(item.file_size for item in archive.infolist())


def with_declared_size(data: bytes, member: str, size: int, crc: int | None = None) -> bytes:
    """``data`` with its central directory claiming ``size`` bytes (and ``crc``) for a member."""
    patched = bytearray(data)
    entry = patched.index(b"PK\x01\x02")
    while patched[entry + 46 : entry + 46 + len(member)] != member.encode():
        entry = patched.index(b"PK\x01\x02", entry + 4)
    # Central directory entry: CRC-32 at +16, uncompressed size at +24.
    if crc is not None:
        struct.pack_into("<I", patched, entry + 16, crc)
    struct.pack_into("<I", patched, entry + 24, size)
    with zipfile.ZipFile(io.BytesIO(bytes(patched))) as archive:
        assert archive.getinfo(member).file_size == size
    return bytes(patched)


def lying_docx(truthful: int = 1000) -> bytes:
    """The DOCX bomb claiming ``truthful`` bytes for its 200 MB member, with their CRC-32."""
    # With the right CRC a reader that trusts the header finds nothing wrong.
    return with_declared_size(bomb(), "bulk.xml", truthful, zlib.crc32(bytes(truthful)))


def odt_declaring_a_gigabyte() -> bytes:
    """A small ODT whose member claims to unpack to 4 GB: refused on the claim alone."""
    return with_declared_size(_zip_with_zeros("odt", MB), "bulk.xml", 2**32 - 1)


def _flate(data: bytes, padding_mb: int) -> bytes:
    """A zlib stream of ``data`` and ``padding_mb`` megabytes of spaces, built without them."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed = compressor.compress(data) + compressor.flush(zlib.Z_FULL_FLUSH)
    spaces = b" " * MB
    block = compressor.compress(spaces) + compressor.flush(zlib.Z_FULL_FLUSH)
    checksum = zlib.adler32(data)
    for _ in range(padding_mb):
        checksum = zlib.adler32(spaces, checksum)
    return (
        b"\x78\xda" + packed + block * padding_mb + compressor.flush() + struct.pack(">I", checksum)
    )


def objstm_pdf(streams: int, padding_mb: int) -> bytes:
    """A PDF whose catalog and page live in an object stream, and ``streams`` padded ones."""
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    refs = " ".join(f"/R{n} {200 + n} 0 R" for n in range(streams))
    bodies = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] "
        f"/Resources << /Properties << {refs} >> >> >>".encode(),
    }
    groups = [(100, [1, 2, 3], 0)] + [(101 + n, [200 + n], padding_mb) for n in range(streams)]
    entries: dict[int, tuple[int, int, int]] = {}
    for number, members, pad in groups:
        header, body = [], b""
        for member in members:
            header.append(f"{member} {len(body)}")
            body += bodies.get(member, b"<< /X 1 >>") + b"\n"
        first = (" ".join(header) + "\n").encode()
        packed = _flate(first + body, padding_mb=pad)
        entries[number] = (1, out.tell(), 0)
        out.write(
            f"{number} 0 obj\n<< /Type /ObjStm /N {len(members)} /First {len(first)} "
            f"/Filter /FlateDecode /Length {len(packed)} >>\nstream\n".encode()
        )
        out.write(packed + b"\nendstream\nendobj\n")
        for index, member in enumerate(members):
            entries[member] = (2, number, index)
    xref = 999
    entries[xref] = (1, out.tell(), 0)
    rows = b"".join(struct.pack(">BIH", *entries.get(n, (0, 0, 0))) for n in range(xref + 1))
    packed = zlib.compress(rows)
    out.write(
        f"{xref} 0 obj\n<< /Type /XRef /Size {xref + 1} /W [1 4 2] /Root 1 0 R "
        f"/Filter /FlateDecode /Length {len(packed)} >>\nstream\n".encode()
    )
    out.write(packed + b"\nendstream\nendobj\n")
    out.write(f"startxref\n{entries[xref][1]}\n%%EOF\n".encode())
    return out.getvalue()


# --- translation_of ----------------------------------------------------------------------


@pytest.mark.parametrize("value", ["abc", "1.5", "-1", "0", "99999999999999999999", "²"])
def test_translation_of_that_is_not_an_item_id_is_a_field_error(app, client, hq, campaign, value):
    response = upload(client, campaign, None, b"", body="Some text", translation_of=value)
    assert response.status_code == 400
    assert "Pick an item from the list." in response.get_data(as_text=True)
    assert stored(app) == (None, None)


def test_translation_of_an_unknown_item_is_a_field_error(app, client, hq, campaign):
    response = upload(client, campaign, None, b"", body="Some text", translation_of="424242")
    assert response.status_code == 400
    assert "Pick an item of the same campaign." in response.get_data(as_text=True)


# --- bombs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "make", "unpacked"),
    [("kit.docx", bomb, 200 * MB), ("kit.odt", odt_declaring_a_gigabyte, 2**32 - 1)],
)
def test_zip_bomb_is_refused_before_it_is_unpacked(app, client, hq, campaign, name, make, unpacked):
    data = make()
    assert len(data) < 250_000 and declared_unpacked(data) >= unpacked
    response, peak = peak_memory_of(lambda: upload(client, campaign, name, data))
    assert response.status_code == 400
    assert "would unpack to far more data" in response.get_data(as_text=True)
    assert peak < MEMORY_CEILING, f"{peak / MB:.1f} MB allocated for a refused upload"
    assert stored(app) == (None, None) and upload_dir_contents(app) == []


def test_a_lying_size_header_cannot_unpack_more_than_it_declared(app, client, hq, campaign):
    data = lying_docx(truthful=1000)
    response, peak = peak_memory_of(lambda: upload(client, campaign, "kit.docx", data))
    assert peak < MEMORY_CEILING, f"{peak / MB:.1f} MB allocated"
    if response.status_code == 302:
        # Accepted only as what it declared: the rest of the stream was never inflated.
        _item_row, path = stored(app)
        with zipfile.ZipFile(path) as archive:
            assert archive.getinfo("bulk.xml").file_size == 1000
    else:
        assert response.status_code == 400


def test_a_zip_of_too_many_members_is_refused(app, client, hq, campaign):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
        for n in range(files.MAX_MEMBERS):
            archive.writestr(f"word/m{n}.xml", "")
    response = upload(client, campaign, "kit.docx", out.getvalue())
    assert response.status_code == 400
    assert "would unpack to far more data" in response.get_data(as_text=True)


def test_ordinary_office_files_still_pass_the_bounds(app, client, hq, campaign):
    response = upload(client, campaign, "kit.docx", office_with_author("docx"))
    assert response.status_code == 302


def test_pdf_stream_that_inflates_beyond_the_bound_is_refused(app, client, hq, campaign):
    data = objstm_pdf(streams=1, padding_mb=100)
    assert len(data) < 200_000
    response, peak = peak_memory_of(lambda: upload(client, campaign, "sign.pdf", data))
    assert response.status_code == 400
    assert "would unpack to far more data" in response.get_data(as_text=True)
    assert peak < MEMORY_CEILING, f"{peak / MB:.1f} MB allocated for a 100 MB stream"
    assert upload_dir_contents(app) == []


def test_pdf_of_many_small_streams_is_bounded_in_sum(app, client, hq, campaign, monkeypatch):
    # Each stream stays under the per-stream bound; together they pass the document's.
    # Bounds scaled down so that the test takes a second, not ten.
    monkeypatch.setattr(files, "MAX_PDF_DECODED_BYTES", 3 * MB)
    data = objstm_pdf(streams=30, padding_mb=1)
    response, peak = peak_memory_of(lambda: upload(client, campaign, "sign.pdf", data))
    assert response.status_code == 400
    assert "would unpack to far more data" in response.get_data(as_text=True)
    assert peak < 12 * MB, f"{peak / MB:.1f} MB allocated for 30 MB of streams"


def test_pdf_with_object_streams_is_still_cleaned(app, client, hq, campaign):
    response = upload(client, campaign, "sign.pdf", objstm_pdf(streams=2, padding_mb=0))
    assert response.status_code == 302
    _item_row, path = stored(app)
    assert path.read_bytes().startswith(b"%PDF-")


def test_image_with_too_many_pixels_is_refused_before_decoding(app, client, hq, campaign):
    out = io.BytesIO()
    Image.new("1", (8000, 8000)).save(out, format="PNG")  # 64 MP, a few kB packed
    data = out.getvalue()
    response, peak = peak_memory_of(lambda: upload(client, campaign, "sign.png", data))
    assert response.status_code == 400
    assert "more than 50 million pixels" in response.get_data(as_text=True)
    assert peak < MEMORY_CEILING


# --- no orphan files ----------------------------------------------------------------------


def _failing_commit(self, *args, **kwargs):
    raise RuntimeError("the disk went away during commit")


def test_upload_whose_commit_fails_leaves_no_file(app, client, hq, campaign, monkeypatch):
    monkeypatch.setattr(FlaskSession, "commit", _failing_commit)
    response = upload(client, campaign, "sign.txt", b"words on a sign")
    assert response.status_code == 500
    monkeypatch.undo()
    assert stored(app) == (None, None)
    assert upload_dir_contents(app) == [], "neither the file nor its temporary copy remains"


def test_replacing_a_file_whose_commit_fails_keeps_the_old_file(
    app, client, hq, campaign, monkeypatch
):
    assert upload(client, campaign, "a.txt", b"first version").status_code == 302
    item, first_path = stored(app)
    monkeypatch.setattr(FlaskSession, "commit", _failing_commit)
    response = upload_edit(client, item.id, campaign, b"second version")
    assert response.status_code == 500
    monkeypatch.undo()
    item_after, path_after = stored(app)
    assert item_after.stored_name == item.stored_name
    assert path_after.read_bytes() == b"first version"
    assert upload_dir_contents(app) == [first_path.name]


def test_a_file_moves_into_place_only_when_the_commit_succeeds(app, client, hq, campaign):
    assert upload(client, campaign, "a.txt", b"first").status_code == 302
    item, first_path = stored(app)
    assert upload_edit(client, item.id, campaign, b"second").status_code == 302
    _item_row, second_path = stored(app)
    assert upload_dir_contents(app) == [second_path.name]
    assert second_path.read_bytes() == b"second" and not first_path.exists()


def upload_edit(client, item_id, campaign, data):
    page = client.get(f"/hq/toolkits/{item_id}/edit").get_data(as_text=True)
    form = {
        "csrf_token": csrf_from(page),
        "campaign_id": str(campaign),
        "title": "Renamed",
        "kind": "sign",
        "language": "en",
        "audience": "public",
        "file": (io.BytesIO(data), "b.txt"),
    }
    return client.post(
        f"/hq/toolkits/{item_id}/edit", data=form, content_type="multipart/form-data"
    )


def test_cleanup_finishes_committed_moves_and_removes_stale_partials(app_ctx, campaign):
    directory = Path(app_ctx.config["UPLOAD_DIR"])
    directory.mkdir(parents=True)
    committed, stale, fresh = "a" * 32, "b" * 32, "c" * 32
    db.session.add(
        ToolkitItem(
            campaign_id=campaign,
            title="Crashed after commit",
            kind="sign",
            language="en",
            group_key="g",
            stored_name=committed,
            content_type="text/plain; charset=utf-8",
        )
    )
    db.session.commit()
    for name in (committed, stale, fresh):
        (directory / f".{name}.partial").write_bytes(name.encode())
    hour_ago = time.time() - 3700
    os.utime(directory / f".{stale}.partial", (hour_ago, hour_ago))
    result = app_ctx.test_cli_runner().invoke(args=["rallyhub", "clean-uploads"])
    assert result.exit_code == 0, result.output
    assert "Cleaned 1 half-stored uploads." in result.output
    assert sorted(p.name for p in directory.iterdir()) == [f".{fresh}.partial", committed]
    assert (directory / committed).read_bytes() == committed.encode()


# --- GET routes that write, under write load ----------------------------------------------


def _hold_lock(app, item_id: int | None, seconds: float):
    """Hold the database's write lock (SQLite) or the item's row lock (PostgreSQL)."""
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    taken = threading.Event()

    def hold():
        if url.startswith("sqlite"):
            blocker = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
            blocker.execute("BEGIN IMMEDIATE")
            taken.set()
            time.sleep(seconds)
            blocker.execute("ROLLBACK")
            blocker.close()
        else:
            engine = create_engine(url)
            with engine.connect() as connection:
                connection.execute(
                    text("SELECT id FROM toolkit_items WHERE id = :id FOR UPDATE"), {"id": item_id}
                )
                taken.set()
                time.sleep(seconds)
                connection.rollback()
            engine.dispose()

    thread = threading.Thread(target=hold)
    thread.start()
    assert taken.wait(5)
    return thread


def test_download_waits_for_a_busy_database_instead_of_failing(app, campaign):
    item_id = _item(app, campaign, Audience.PUBLIC)
    client = app.test_client()
    holder = _hold_lock(app, item_id, seconds=1.0)
    started = time.monotonic()
    response = client.get(f"/toolkits/{item_id}/download")
    elapsed = time.monotonic() - started
    response.close()
    holder.join()
    assert response.status_code == 200
    assert elapsed > 0.5, "the lock was held while the download ran"
    with app.app_context():
        assert db.session.get(ToolkitItem, item_id).download_count == 1


def test_attendee_export_waits_for_the_lock_and_is_audited(app, client, users, rallies, auth):
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("an audit insert takes no row lock on PostgreSQL")
    organizer = users(email="org@example.org")
    rally_id = rallies(organizer_id=organizer)
    auth.login("org@example.org")
    holder = _hold_lock(app, None, seconds=1.0)
    response = client.get(f"/rallies/{rally_id}/attendees.csv")
    body = response.data.decode("utf-8-sig")
    holder.join()
    assert response.status_code == 200 and body.startswith("name,email")
    with app.app_context():
        actions = db.session.scalars(
            select(AuditRecord.action).where(AuditRecord.target_id == rally_id)
        ).all()
    assert actions == ["attendees.export"]


def test_hq_exports_only_read_and_need_no_lock(app, client, users, auth, rallies):
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("SQLite locking only")
    rallies()
    users(email="hq@example.org", role=Role.HQ)
    auth.login("hq@example.org")
    holder = _hold_lock(app, None, seconds=1.0)
    started = time.monotonic()
    answers = []
    for path in ("/hq/exports/attendance.csv", "/hq/exports/countries.csv"):
        response = client.get(path)
        answers.append((response.status_code, response.data.decode("utf-8-sig")))
    elapsed = time.monotonic() - started
    holder.join()
    assert [status for status, _body in answers] == [200, 200]
    assert answers[0][1].startswith("rally_id") and answers[1][1]
    assert elapsed < 0.9, "a read does not wait for the write lock"
