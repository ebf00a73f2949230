"""Backups: a restore drill (rows and file bytes back as they were) and the refusals."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, select, text

from rallyhub.auth.models import Role
from rallyhub.caching import public_data_version
from rallyhub.extensions import db
from rallyhub.signups.models import Signup, SignupStatus
from rallyhub.toolkits.models import ToolkitItem
from tests.conftest import _empty_tables
from tests.test_toolkits import png_with_text, upload


@pytest.fixture
def deployment(app, client, users, auth, campaigns, rallies):
    """A campaign, two rallies, three sign-ups and a toolkit item with its uploaded file."""
    users(email="hq@example.org", role=Role.HQ)
    auth.login("hq@example.org")
    campaign = campaigns(slug="cecenia", name="Giustizia per la Cecenia")
    first = rallies(campaign_id=campaign, title="Göteborg", city="Göteborg")
    second = rallies(campaign_id=campaign, title="Москва", city="Москва", country_code="RU")
    with app.app_context():
        db.session.add_all(
            [
                Signup(rally_id=first, name="Ana", email="ana@example.org"),
                Signup(rally_id=first, name="Ülkü", email="ulku@example.org", phone="+46 70"),
                Signup(
                    rally_id=second,
                    name="Арман",
                    email="arman@example.org",
                    status=SignupStatus.WAITLISTED,
                ),
            ]
        )
        db.session.commit()
    response = upload(client, campaign, "sign.png", png_with_text(), title="Sign")
    assert response.status_code == 302, response.get_data(as_text=True)
    return app


def table_rows(app) -> dict[str, list[tuple]]:
    """Every row of every table (Alembic's too), in primary-key order, read with plain SQL."""
    with app.app_context(), db.engine.connect() as connection:
        found = {}
        for name in sorted(inspect(connection).get_table_names()):
            columns = inspect(connection).get_pk_constraint(name)["constrained_columns"]
            order = ", ".join(columns) or "1"
            query = text(f"SELECT * FROM {name} ORDER BY {order}")  # noqa: S608 - our names
            found[name] = [tuple(row) for row in connection.execute(query)]
        # A restore draws the public version a new epoch on purpose (see the first test).
        found["content_versions"] = [(n, v) for n, _epoch, v in found["content_versions"]]
        return found


def upload_files(app) -> dict[str, bytes]:
    """The bytes of every file in the upload directory, by name."""
    directory = Path(app.config["UPLOAD_DIR"])
    if not directory.exists():
        return {}
    return {path.name: path.read_bytes() for path in sorted(directory.rglob("*")) if path.is_file()}


def wipe(app) -> None:
    """Delete every row the app made and every uploaded file, as a lost server would."""
    _empty_tables(app.config["SQLALCHEMY_DATABASE_URI"])
    for path in Path(app.config["UPLOAD_DIR"]).iterdir():
        path.unlink()


def backup(runner, path: Path):
    return runner.invoke(args=["rallyhub", "backup", str(path)])


def restore(runner, path: Path, *extra: str):
    return runner.invoke(args=["rallyhub", "restore", str(path), *extra])


def repack(source: Path, target: Path, *, manifest=None, rename=None, drop=()) -> None:
    """Copy an archive, changing its manifest, renaming or leaving out members."""
    with tarfile.open(source) as old, tarfile.open(target, "w:gz") as new:
        for member in old.getmembers():
            data = old.extractfile(member).read()
            if member.name in drop:
                continue
            if member.name == "manifest.json" and manifest:
                data = json.dumps(manifest(json.loads(data))).encode()
            info = tarfile.TarInfo((rename or {}).get(member.name, member.name))
            info.size = len(data)
            new.addfile(info, io.BytesIO(data))


def test_a_wiped_deployment_comes_back_whole(deployment, runner, client, rallies, tmp_path):
    app = deployment
    rows, files = table_rows(app), upload_files(app)
    assert len(rows["rallies"]) == 2 and len(rows["signups"]) == 3
    assert len(rows["toolkit_items"]) == 1 and len(files) == 1

    result = backup(runner, tmp_path / "rallyhub.tar.gz")
    assert result.exit_code == 0, result.output
    assert f"{len(rows)}/{len(rows)} tables" in result.output
    assert "1/1 files" in result.output
    app_rows = sum(len(found) for name, found in rows.items() if name != "alembic_version")
    assert f"rows: {app_rows}, files: 1;" in result.output

    wipe(app)
    assert upload_files(app) == {}
    assert all(not found for name, found in table_rows(app).items() if name != "alembic_version")

    with app.app_context():
        version_before = public_data_version()
    result = restore(runner, tmp_path / "rallyhub.tar.gz")
    assert result.exit_code == 0, result.output
    assert table_rows(app) == rows
    assert upload_files(app) == files
    # The public data went back in time: its version starts a new epoch, so that no process
    # answers from what it built for the same counter before.
    with app.app_context():
        assert public_data_version() not in (version_before, "0")

    # The restored app serves the file, and new rows get ids of their own (sequences came too).
    with app.app_context():
        item_id = db.session.scalar(select(ToolkitItem.id))
    download = client.get(f"/toolkits/{item_id}/download")
    assert download.get_data() == next(iter(files.values()))
    download.close()
    rally = rallies(title="After the restore")
    assert rally not in {row[0] for row in rows["rallies"]}


def test_the_archive_holds_the_database_and_the_files(deployment, runner, tmp_path):
    app = deployment
    files = upload_files(app)
    with app.app_context():
        revision = db.session.scalar(text("SELECT version_num FROM alembic_version"))
        dialect = db.engine.dialect.name
    assert backup(runner, tmp_path / "b.tar.gz").exit_code == 0

    with tarfile.open(tmp_path / "b.tar.gz") as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("manifest.json").read())
        stored = {
            name.removeprefix("uploads/"): tar.extractfile(name).read()
            for name in names
            if name.startswith("uploads/")
        }
    database = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}[dialect]
    assert sorted(names) == sorted([database, "manifest.json", *(f"uploads/{n}" for n in files)])
    assert names[-1] == "manifest.json"
    assert stored == files
    assert manifest["dialect"] == dialect
    assert manifest["alembic_revision"] == revision
    assert manifest["file_count"] == 1
    assert manifest["tables"]["signups"] == 3


def test_a_backup_holds_only_what_was_committed(deployment, runner, tmp_path):
    app = deployment
    rows = table_rows(app)
    other = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    with other.connect() as connection:
        connection.execute(
            text(
                "INSERT INTO campaigns (slug, name, hashtag, description, start_date, is_active,"
                " created_dt) SELECT 'half', 'Half', '#Half', '', start_date, is_active,"
                " created_dt FROM campaigns"
            )
        )
        # Still open, never committed, while the backup runs.
        result = backup(runner, tmp_path / "b.tar.gz")
        connection.rollback()
    other.dispose()
    assert result.exit_code == 0, result.output

    wipe(app)
    assert restore(runner, tmp_path / "b.tar.gz").exit_code == 0
    assert table_rows(app) == rows


def test_a_backup_never_overwrites_a_file(app, runner, tmp_path):
    target = tmp_path / "exists.tar.gz"
    target.write_bytes(b"an older backup")
    result = backup(runner, target)
    assert result.exit_code != 0
    assert "exists already" in result.output
    assert target.read_bytes() == b"an older backup"


@pytest.fixture
def archive(deployment, runner, tmp_path):
    """A good backup of the deployment."""
    path = tmp_path / "good.tar.gz"
    result = backup(runner, path)
    assert result.exit_code == 0, result.output
    return path


def _other_dialect(app) -> str:
    with app.app_context():
        return "postgresql" if db.engine.dialect.name == "sqlite" else "sqlite"


def _bad_archives(app, archive: Path, tmp_path: Path) -> dict[str, Path]:
    data = archive.read_bytes()
    made = {
        "not an archive": b"PK\x03\x04 a zip, or anything else",
        "cut short": data[: len(data) // 2],
    }
    paths = {}
    for name, content in made.items():
        paths[name] = tmp_path / f"{name}.tar.gz"
        paths[name].write_bytes(content)
    paths["no manifest"] = tmp_path / "no-manifest.tar.gz"
    repack(archive, paths["no manifest"], drop={"manifest.json"})
    paths["a newer format"] = tmp_path / "newer.tar.gz"
    repack(archive, paths["a newer format"], manifest=lambda m: {**m, "version": 2})
    paths["a file missing"] = tmp_path / "missing.tar.gz"
    with tarfile.open(archive) as tar:
        upload_member = next(n for n in tar.getnames() if n.startswith("uploads/"))
    repack(archive, paths["a file missing"], drop={upload_member})
    paths["a path outside"] = tmp_path / "outside.tar.gz"
    repack(archive, paths["a path outside"], rename={upload_member: "uploads/../../escaped"})
    return paths


def test_restore_refuses_a_damaged_archive_and_changes_nothing(
    deployment, archive, runner, tmp_path
):
    app = deployment
    rows, files = table_rows(app), upload_files(app)
    for case, path in _bad_archives(app, archive, tmp_path).items():
        result = restore(runner, path, "--force")
        assert result.exit_code != 0, case
        assert "not a rallyhub backup, or it is damaged" in result.output, case
        assert table_rows(app) == rows, case
        assert upload_files(app) == files, case
    assert not list(tmp_path.parent.rglob("escaped"))


def test_restore_refuses_a_backup_of_the_other_database(deployment, archive, runner, tmp_path):
    app = deployment
    other = _other_dialect(app)
    members = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
    with tarfile.open(archive) as tar:
        ours = next(name for name in tar.getnames() if name.startswith("database."))
    foreign = tmp_path / "foreign.tar.gz"
    repack(
        archive,
        foreign,
        manifest=lambda m: {**m, "dialect": other},
        rename={ours: members[other]},
    )
    wipe(app)
    rows = table_rows(app)

    result = restore(runner, foreign, "--force")
    assert result.exit_code != 0
    assert f"a backup of a {other} database" in result.output
    assert table_rows(app) == rows
    assert upload_files(app) == {}


def test_restore_replaces_rows_only_when_forced(deployment, archive, runner, campaigns):
    app = deployment
    rows, files = table_rows(app), upload_files(app)
    campaigns(slug="after-the-backup")
    upload_dir = Path(app.config["UPLOAD_DIR"])
    (upload_dir / "later.txt").write_bytes(b"uploaded after the backup")
    changed = table_rows(app)

    refused = restore(runner, archive)
    assert refused.exit_code != 0
    assert "Restore with --force" in refused.output
    assert table_rows(app) == changed
    assert upload_files(app) == {**files, "later.txt": b"uploaded after the backup"}

    forced = restore(runner, archive, "--force")
    assert forced.exit_code == 0, forced.output
    assert table_rows(app) == rows
    # Files of the backup are back; one it never held is left alone.
    assert upload_files(app) == {**files, "later.txt": b"uploaded after the backup"}
