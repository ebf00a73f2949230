"""Backups of a whole deployment: the database and the uploaded files in one archive.

An archive is a gzipped tar holding the database (``database.sqlite3``, a copy made with
SQLite's online backup API, or ``database.pgdump``, ``pg_dump --format=custom`` of the app's
schema), the upload directory's files under ``uploads/`` and, last, ``manifest.json``. The
manifest comes last so that an archive cut short is refused as incomplete.

The database is copied first, from one snapshot; the files are read after it, so every file a
backed-up row names is in the archive unless it was deleted meanwhile (a replaced toolkit file).
Restore checks the whole archive before it changes anything, then replaces the database in one
transaction and puts the files in place. Stop the app (web and workers) while restoring.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from flask_babel import gettext as _
from sqlalchemy import Connection, Engine, func, inspect, select, table, text
from sqlalchemy.engine import URL, create_engine
from sqlalchemy.pool import NullPool

from rallyhub.caching import new_public_epoch
from rallyhub.errors import UserError

FORMAT = "rallyhub-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
UPLOADS = "uploads"
DATABASE_MEMBERS = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
# Alembic's own table: a freshly migrated database holds its one row and is still empty.
BOOKKEEPING_TABLES = frozenset({"alembic_version"})
# Where restore stages the files it unpacks, inside the upload directory (same file system,
# so putting them in place is a rename); backups never include it.
STAGING_PREFIX = ".restore-"
TABLES_PER_REPORT = 10
FILES_PER_REPORT = 100
# How long a restore waits for the app's connections to let go of its tables.
LOCK_TIMEOUT = "30s"

Progress = Callable[[str, int, int], None]
"""``progress(what, done, total)``; ``what`` is ``"tables"`` or ``"files"``."""


@dataclass(frozen=True)
class Manifest:
    """What an archive holds, read before anything is restored."""

    dialect: str
    alembic_revision: str | None
    created_dt: str
    tables: dict[str, int]
    file_count: int
    schema: str | None = None
    format: str = FORMAT
    version: int = FORMAT_VERSION
    database: str = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "database", DATABASE_MEMBERS[self.dialect])

    @property
    def rows(self) -> int:
        """The rows of the app's tables (Alembic's own left out)."""
        return sum(n for name, n in self.tables.items() if name not in BOOKKEEPING_TABLES)

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        """The manifest in ``data``; ValueError when it is not one this code can restore."""
        raw = json.loads(data)
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise ValueError("not a rallyhub manifest")
        if raw.get("version") != FORMAT_VERSION:
            raise ValueError(f"format version {raw.get('version')!r}")
        if raw.get("dialect") not in DATABASE_MEMBERS:
            raise ValueError(f"dialect {raw.get('dialect')!r}")
        tables, files = raw.get("tables"), raw.get("file_count")
        if not isinstance(tables, dict) or not all(
            isinstance(count, int) for count in tables.values()
        ):
            raise ValueError("table counts")
        if not isinstance(files, int) or files < 0:
            raise ValueError("file count")
        return cls(
            dialect=raw["dialect"],
            alembic_revision=raw.get("alembic_revision"),
            created_dt=str(raw.get("created_dt", "")),
            tables=tables,
            file_count=files,
            schema=raw.get("schema"),
        )


def _no_progress(_what: str, _done: int, _total: int) -> None:
    pass


def _every(step: int, done: int, total: int) -> bool:
    return done == total or done % step == 0


# --- backup -----------------------------------------------------------------------------------


def create_backup(
    engine: Engine, upload_dir: str | Path, target: str | Path, *, progress: Progress | None = None
) -> Manifest:
    """Write the database behind ``engine`` and the files of ``upload_dir`` to ``target``."""
    progress = progress or _no_progress
    target, upload_dir = Path(target), Path(upload_dir)
    if target.exists():
        raise UserError(
            _("%(path)s exists already: choose another name or remove it first.", path=target)
        )
    if target.resolve().is_relative_to(upload_dir.resolve()):
        raise UserError(_("Write the backup outside the upload directory %(dir)s.", dir=upload_dir))
    if not target.parent.is_dir():
        raise UserError(_("There is no directory %(dir)s.", dir=target.parent))
    dialect = engine.dialect.name
    if dialect not in DATABASE_MEMBERS:
        raise UserError(_("Backups support SQLite and PostgreSQL, not %(name)s.", name=dialect))

    # Beside the target: the archive is renamed into place only once it is complete.
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".rallyhub-backup-") as work:
        work_dir = Path(work)
        database = work_dir / DATABASE_MEMBERS[dialect]
        if dialect == "sqlite":
            revision, tables = _copy_sqlite(engine, database, progress)
            schema = None
        else:
            revision, tables, schema = _dump_postgresql(engine, database, progress)
        archive = work_dir / "archive.tar.gz"
        with tarfile.open(archive, "w:gz", compresslevel=6) as tar:
            tar.add(database, arcname=database.name)
            file_count = _add_uploads(tar, upload_dir, progress)
            manifest = Manifest(
                dialect=dialect,
                alembic_revision=revision,
                created_dt=datetime.now(UTC).isoformat(timespec="seconds"),
                tables=tables,
                file_count=file_count,
                schema=schema,
            )
            _add_bytes(tar, MANIFEST, manifest.to_json())
        os.replace(archive, target)
    return manifest


def _count_rows(connection: Connection, progress: Progress) -> dict[str, int]:
    """Rows per table of the connection's schema, reporting as it goes."""
    names = sorted(inspect(connection).get_table_names())
    counts = {}
    for done, name in enumerate(names, start=1):
        counts[name] = connection.scalar(select(func.count()).select_from(table(name)))
        if _every(TABLES_PER_REPORT, done, len(names)):
            progress("tables", done, len(names))
    return counts


def _alembic_revision(connection: Connection) -> str | None:
    """The schema's Alembic revision (heads joined by spaces), or None before any migration."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    heads = connection.scalars(text("SELECT version_num FROM alembic_version")).all()
    return " ".join(sorted(heads)) or None


def _copy_sqlite(engine: Engine, copy: Path, progress: Progress) -> tuple[str | None, dict]:
    """Copy the live database with SQLite's backup API; its revision and rows, read in the copy."""
    live = engine.raw_connection()
    try:
        with sqlite3.connect(copy) as destination:
            # All pages in one step: the copy is one consistent state, whatever writes meanwhile.
            live.driver_connection.backup(destination)
            # One self-contained file, without the -wal and -shm files WAL mode would add.
            destination.execute("PRAGMA journal_mode = DELETE")
        destination.close()
    finally:
        live.close()
    reader = create_engine(f"sqlite:///{copy}", poolclass=NullPool)
    try:
        with reader.connect() as connection:
            return _alembic_revision(connection), _count_rows(connection, progress)
    finally:
        reader.dispose()


def _dump_postgresql(
    engine: Engine, dump: Path, progress: Progress
) -> tuple[str | None, dict, str]:
    """``pg_dump`` the app's schema from the snapshot its revision and row counts are read in."""
    pg_dump = _tool("pg_dump")
    conninfo, env = _libpq(engine.url)
    with engine.connect().execution_options(
        isolation_level="REPEATABLE READ", postgresql_readonly=True
    ) as connection:
        # pg_dump reads the snapshot this transaction exports while the transaction is open.
        snapshot = connection.scalar(text("SELECT pg_export_snapshot()"))
        schema = connection.scalar(text("SELECT current_schema()"))
        if schema is None:
            raise UserError(_("The database has no schema on its search path to back up."))
        revision = _alembic_revision(connection)
        tables = _count_rows(connection, progress)
        _run(
            [
                pg_dump,
                "--format=custom",
                f"--schema={_pattern(schema)}",
                f"--snapshot={snapshot}",
                "--no-password",
                f"--file={dump}",
                f"--dbname={conninfo}",
            ],
            env,
        )
    return revision, tables, schema


def _upload_files(upload_dir: Path) -> list[Path]:
    """The regular files under the upload directory, outside restore's staging directories."""
    if not upload_dir.is_dir():
        return []
    found = []
    for root, dirs, names in os.walk(upload_dir):
        if Path(root) == upload_dir:
            dirs[:] = [name for name in dirs if not name.startswith(STAGING_PREFIX)]
        dirs.sort()
        found += [Path(root) / name for name in sorted(names)]
    return [path for path in found if path.is_file() and not path.is_symlink()]


def _add_uploads(tar: tarfile.TarFile, upload_dir: Path, progress: Progress) -> int:
    """Add the upload directory's files under ``uploads/``; return how many were added."""
    paths = _upload_files(upload_dir)
    added = 0
    for done, path in enumerate(paths, start=1):
        name = f"{UPLOADS}/{path.relative_to(upload_dir).as_posix()}"
        try:
            with path.open("rb") as handle:
                info = tar.gettarinfo(arcname=name, fileobj=handle)
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                tar.addfile(info, handle)
            added += 1
        except FileNotFoundError:
            pass  # deleted since it was listed, as a replaced toolkit file is
        if _every(FILES_PER_REPORT, done, len(paths)):
            progress("files", done, len(paths))
    return added


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), int(datetime.now(UTC).timestamp()), 0o644
    tar.addfile(info, io.BytesIO(data))


# --- restore ----------------------------------------------------------------------------------


def restore_backup(
    engine: Engine,
    upload_dir: str | Path,
    source: str | Path,
    *,
    force: bool = False,
    progress: Progress | None = None,
) -> Manifest:
    """Replace the database and put back the files of the archive ``source``.

    Refuses, changing nothing, when the archive is unreadable, of another database, or the
    database holds rows or the upload directory files (unless ``force``).
    """
    progress = progress or _no_progress
    source, upload_dir = Path(source), Path(upload_dir)
    dialect = engine.dialect.name
    try:
        with tarfile.open(source, "r:*") as tar:
            manifest = _read_manifest(tar, source)
            if manifest.dialect != dialect:
                raise UserError(
                    _(
                        "%(path)s is a backup of a %(archive)s database; this deployment runs "
                        "on %(here)s.",
                        path=source.name,
                        archive=manifest.dialect,
                        here=dialect,
                    )
                )
            if not force:
                _refuse_unless_empty(engine, upload_dir)
            created_upload_dir = not upload_dir.exists()
            staging = upload_dir / f"{STAGING_PREFIX}{secrets.token_hex(8)}"
            try:
                with tempfile.TemporaryDirectory(prefix="rallyhub-restore-") as work:
                    database = Path(work) / manifest.database
                    files = _unpack(tar, database, staging, progress)
                    _check_database_payload(manifest, database, source)
                    if dialect == "sqlite":
                        _restore_sqlite(engine, database)
                    else:
                        _restore_postgresql(engine, database, manifest)
                    with engine.begin() as connection:
                        new_public_epoch(connection)
                    progress("tables", len(manifest.tables), len(manifest.tables))
                    _place_files(files, upload_dir)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
                if created_upload_dir and upload_dir.is_dir() and not any(upload_dir.iterdir()):
                    upload_dir.rmdir()
    except (tarfile.TarError, EOFError, zlib.error) as error:
        raise _damaged(source, error.__class__.__name__) from None
    return manifest


def _damaged(source: Path, detail: object) -> UserError:
    return UserError(
        _(
            "%(path)s is not a rallyhub backup, or it is damaged (%(detail)s); nothing was "
            "restored.",
            path=source.name,
            detail=detail,
        )
    )


def _upload_path(name: str) -> PurePosixPath | None:
    """The path under the upload directory an archive member names, if it is a safe one."""
    path = PurePosixPath(name)
    parts = path.parts
    if len(parts) < 2 or parts[0] != UPLOADS or path.is_absolute():
        return None
    if any(part in ("", ".", "..") for part in parts) or parts[1].startswith(STAGING_PREFIX):
        return None
    return PurePosixPath(*parts[1:])


def _read_manifest(tar: tarfile.TarFile, source: Path) -> Manifest:
    """Read the archive through once: every member must be expected, and agree with the
    manifest (the last member, so an archive cut short has none)."""
    names, manifest_data = set(), None
    try:
        for member in tar:
            if member.name in names or not member.isfile():
                raise _damaged(source, member.name)
            names.add(member.name)
            if member.name == MANIFEST:
                manifest_data = tar.extractfile(member).read()
            elif member.name not in DATABASE_MEMBERS.values() and not _upload_path(member.name):
                raise _damaged(source, member.name)
    except OSError as error:  # gzip's own errors (BadGzipFile) among them
        raise _damaged(source, error.__class__.__name__) from None
    if manifest_data is None:
        raise _damaged(source, _("no manifest"))
    try:
        manifest = Manifest.from_json(manifest_data)
    except (ValueError, TypeError) as error:
        raise _damaged(source, error) from None
    databases = names & set(DATABASE_MEMBERS.values())
    files = sum(1 for name in names if _upload_path(name))
    if databases != {manifest.database} or files != manifest.file_count:
        raise _damaged(source, _("its contents differ from its manifest"))
    return manifest


def _unpack(
    tar: tarfile.TarFile, database: Path, staging: Path, progress: Progress
) -> list[tuple[Path, PurePosixPath]]:
    """Write the database copy to ``database`` and the files into ``staging``; return the
    staged files with their paths under the upload directory."""
    files = []
    total = sum(1 for member in tar.getmembers() if _upload_path(member.name))
    for member in tar.getmembers():
        if member.name == database.name:
            _extract(tar, member, database)
        elif (relative := _upload_path(member.name)) is not None:
            staged = staging.joinpath(*relative.parts)
            _extract(tar, member, staged)
            files.append((staged, relative))
            if _every(FILES_PER_REPORT, len(files), total):
                progress("files", len(files), total)
    return files


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tar.extractfile(member) as data, target.open("xb") as out:
        shutil.copyfileobj(data, out)
    os.utime(target, (member.mtime, member.mtime))


def _check_database_payload(manifest: Manifest, database: Path, source: Path) -> None:
    """Refuse a database copy that does not open or is not whole."""
    if manifest.dialect == "sqlite":
        try:
            with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
                verdict = connection.execute("PRAGMA quick_check").fetchone()[0]
            connection.close()
        except sqlite3.DatabaseError as error:
            raise _damaged(source, error) from None
        if verdict != "ok":
            raise _damaged(source, verdict)
    else:
        try:
            _run([_tool("pg_restore"), "--list", str(database)], os.environ.copy())
        except UserError:
            raise _damaged(source, _("pg_restore cannot read its database")) from None


def _refuse_unless_empty(engine: Engine, upload_dir: Path) -> None:
    with engine.connect() as connection:
        counts = _count_rows(connection, _no_progress)
    rows = sum(count for name, count in counts.items() if name not in BOOKKEEPING_TABLES)
    files = len(_upload_files(upload_dir))
    if rows or files:
        raise UserError(
            _(
                "The database or the upload directory is not empty (rows: %(rows)d, files: "
                "%(files)d); nothing was restored. Restore with --force to replace them.",
                rows=rows,
                files=files,
            )
        )


def _restore_sqlite(engine: Engine, database: Path) -> None:
    """Replace the live database's pages with the copy's, in one step of the backup API."""
    live = engine.raw_connection()
    try:
        with sqlite3.connect(database) as copy:
            copy.backup(live.driver_connection)
        copy.close()
    finally:
        live.close()
    # Pooled connections may cache the old schema; new ones read the restored one.
    engine.dispose()


def _restore_postgresql(engine: Engine, dump: Path, manifest: Manifest) -> None:
    """Empty the app's schema and load the dump into it, all in one transaction (psql -1)."""
    pg_restore, psql = _tool("pg_restore"), _tool("psql")
    conninfo, env = _libpq(engine.url)
    with engine.connect() as connection:
        target = connection.scalar(text("SELECT current_schema()"))
        dumped = manifest.schema or target
        clash = connection.scalar(
            text("SELECT count(*) FROM pg_namespace WHERE nspname = :name"), {"name": dumped}
        )
    if target is None:
        raise UserError(_("The database has no schema on its search path to restore into."))
    if dumped != target and clash:
        raise UserError(
            _(
                "The backup's schema %(dumped)s exists beside %(target)s in this database; "
                "nothing was restored. Rename or drop it first.",
                dumped=dumped,
                target=target,
            )
        )
    work = dump.parent
    # The schema itself stays (its owner and grants): restore replaces what is inside it.
    listing = _run([pg_restore, "--list", str(dump)], env)
    (work / "list").write_text(
        "".join(
            f";{line}" if re.match(r"\d+; \d+ \d+ (COMMENT - )?SCHEMA ", line) else line
            for line in listing.splitlines(keepends=True)
        )
    )
    _run(
        [
            pg_restore,
            "--no-owner",
            "--no-privileges",
            f"--use-list={work / 'list'}",
            f"--file={work / 'restore.sql'}",
            str(dump),
        ],
        env,
    )
    # The dump names its objects by the schema they were dumped from: restore under that
    # name, then give the schema its name here back.
    before = [f"SET lock_timeout = '{LOCK_TIMEOUT}';"]
    after = []
    if dumped != target:
        before.append(f"ALTER SCHEMA {_identifier(target)} RENAME TO {_identifier(dumped)};")
        after.append(f"ALTER SCHEMA {_identifier(dumped)} RENAME TO {_identifier(target)};")
    before.append(_EMPTY_SCHEMA.replace(":schema", _literal(dumped)))
    (work / "before.sql").write_text("\n".join(before) + "\n")
    (work / "after.sql").write_text("\n".join(after) + "\n")
    _run(
        [
            psql,
            "--no-psqlrc",
            "--quiet",
            "--single-transaction",
            "--set=ON_ERROR_STOP=1",
            "--no-password",
            f"--dbname={conninfo}",
            f"--file={work / 'before.sql'}",
            f"--file={work / 'restore.sql'}",
            f"--file={work / 'after.sql'}",
        ],
        env,
    )
    # Cached statements and type lookups refer to the objects just replaced.
    engine.dispose()


# Drops every table, view, sequence, type and routine of the schema (not an extension's).
_EMPTY_SCHEMA = """\
DO $rallyhub$
DECLARE
    target name := :schema;
    statement text;
BEGIN
    FOR statement IN
        SELECT format('DROP %s IF EXISTS %I.%I CASCADE',
                      CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                                     WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE'
                                     WHEN 'c' THEN 'TYPE' ELSE 'TABLE' END,
                      target, c.relname)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = target AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c')
          AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                          AND d.objid = c.oid AND d.deptype = 'e')
        UNION ALL
        SELECT format('DROP TYPE IF EXISTS %I.%I CASCADE', target, t.typname)
        FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = target AND t.typtype IN ('e', 'd', 'r')
          AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_type'::regclass
                          AND d.objid = t.oid AND d.deptype = 'e')
        UNION ALL
        SELECT format('DROP ROUTINE IF EXISTS %s CASCADE', p.oid::regprocedure)
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = target
          AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                          AND d.objid = p.oid AND d.deptype = 'e')
    LOOP
        EXECUTE statement;
    END LOOP;
END
$rallyhub$;"""


def _place_files(files: list[tuple[Path, PurePosixPath]], upload_dir: Path) -> None:
    """Move the staged files to their places (a rename each: the same file system)."""
    for staged, relative in files:
        final = upload_dir.joinpath(*relative.parts)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, final)


# --- PostgreSQL's client tools ----------------------------------------------------------------


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise UserError(_("%(tool)s was not found: install PostgreSQL's client tools.", tool=name))
    return found


def _run(command: list[str], env: dict[str, str]) -> str:
    """Run a client tool; its output, or a UserError with what it said on failure."""
    # A list of arguments, no shell: the tools found on PATH, with paths and names of ours.
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        said = result.stderr.strip().splitlines() or [str(result.returncode)]
        # The line that says what went wrong, not the context printed after it.
        error = next((line for line in said if "ERROR:" in line or "error:" in line), said[-1])
        raise UserError(
            _("%(tool)s failed: %(error)s", tool=Path(command[0]).name, error=error.strip())
        )
    return result.stdout


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq connection string for ``url``, and an environment holding its password."""
    parameters = {
        "host": url.host,
        "port": url.port,
        "user": url.username,
        "dbname": url.database,
    }
    for key, value in url.query.items():
        # psycopg passes the URL's query to libpq: sslmode, options (the search_path), ….
        parameters[key] = value[-1] if isinstance(value, tuple) else value
    conninfo = " ".join(
        f"{key}={_libpq_value(str(value))}"
        for key, value in parameters.items()
        if value not in (None, "")
    )
    env = os.environ.copy()
    if url.password:
        # Not on the command line, where every user of the machine could read it.
        env["PGPASSWORD"] = url.password
    return conninfo, env


def _libpq_value(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _pattern(schema: str) -> str:
    """A pg_dump pattern matching exactly ``schema`` (quoted: no wildcards, case kept)."""
    return _identifier(schema)
