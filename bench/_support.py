"""Shared pieces of the benchmarks: throwaway databases, a gunicorn server, percentiles."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def percentile(values: list[float], share: float) -> float:
    """The value below which ``share`` of the sorted values fall (nearest rank)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))
    return ordered[index]


@contextmanager
def database(kind: str):
    """A fresh, migrated database: ``sqlite`` in a temp dir, or ``postgresql`` in a new schema."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{folder}/bench.db"
            _migrate(url, folder)
            yield url, folder
        return
    base = os.environ["TEST_DATABASE_URL"]
    schema = f"rh_bench_{secrets.token_hex(4)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    url = url.render_as_string(hide_password=False)
    try:
        with tempfile.TemporaryDirectory() as folder:
            _migrate(url, folder)
            yield url, folder
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def backends() -> list[str]:
    """SQLite always; PostgreSQL when TEST_DATABASE_URL points at one."""
    return ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])


def app_env(url: str, folder: str) -> dict[str, str]:
    """Environment for the app under benchmark."""
    return {
        **os.environ,
        "RALLYHUB_ENV": "development",
        "DATABASE_URL": url,
        "SECRET_KEY": "bench-" + "k" * 40,
        "RALLYHUB_RATELIMIT_ENABLED": "false",
        "RALLYHUB_OUTBOX_DIR": f"{folder}/outbox",
    }


def _migrate(url: str, folder: str) -> None:
    subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env=app_env(url, folder),
        check=True,
        capture_output=True,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def gunicorn(url: str, folder: str, workers: int):
    """Serve the app with gunicorn on a free loopback port; yield the port."""
    port = free_port()
    process = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--preload",
            "--log-level",
            "warning",
            "wsgi:app",
        ],
        cwd=ROOT,
        env=app_env(url, folder),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("gunicorn did not start")
        yield port
    finally:
        process.terminate()
        process.wait(timeout=20)
