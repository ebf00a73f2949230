"""Configuration: safe defaults, environment overrides, production checks."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ENVIRONMENTS = ("development", "production", "testing")


class ConfigError(RuntimeError):
    """The configuration is unsafe or incomplete; the app refuses to start."""


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def defaults(instance_path: Path, env: str) -> dict[str, Any]:
    """Return the settings every environment starts from."""
    development = env != "production"
    return {
        "RALLYHUB_ENV": env,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance_path / 'rallyhub.db'}",
        "SQLITE_BUSY_TIMEOUT_S": 15.0,
        "ALLOW_SQLITE_IN_PRODUCTION": False,
        "REDIS_URL": None,
        # Production runs several processes: without Redis their rate limits would not add up.
        # True declares a deployment of exactly one process, which may keep limits in memory.
        "SINGLE_PROCESS": False,
        # The canonical origin (``https://rallies.example.org``) that every link people receive
        # is built from; required in production. Requests for any other host are refused.
        "BASE_URL": None,
        "TRUSTED_HOSTS": None,
        # Where people using the site can get its source (AGPL section 13), linked in the footer.
        "SOURCE_URL": None,
        # The site's onion service (e.g. "abc…xyz.onion"): Tor Browser offers it to visitors
        # through the Onion-Location header.
        "ONION_ADDRESS": None,
        # How many reverse proxies in front of the app set X-Forwarded-For/-Proto/-Host/-Port.
        # 0 (the default) trusts none of these headers: a client could forge them.
        "TRUSTED_PROXY_HOPS": 0,
        "TILE_URL": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        "TILE_ATTRIBUTION": "© OpenStreetMap contributors",
        "SMTP_URL": None,
        "SMTP_TIMEOUT_S": 10,
        # After a commit, mail goes to the RQ workers ("queue": production with Redis), a
        # thread of the process ("background"), or out within the commit in tests
        # ("immediate"), so that a test reads it when the request returns. None: chosen by
        # the environment and REDIS_URL.
        "MAIL_DELIVERY": None,
        # The RQ queue of mail and the sweep (one per deployment sharing a Redis).
        "MAIL_QUEUE": "rallyhub-mail",
        # A sender holds a message this long while it sends it; one that dies frees it then.
        "MAIL_LEASE_SECONDS": 300,
        # Delivered messages keep their address and text this long (then only key and kind).
        "MAIL_KEEP_SENT_HOURS": 24,
        # Reminders, in the rally's own zone, at the hours each campaign sets; a rally from
        # this hour on is an evening one, reminded this many hours before its start.
        "REMINDER_EVENING_FROM_HOUR": 17,
        # The organizers' daily digest of new sign-ups goes out at this hour, rally's zone.
        "DIGEST_HOUR": 18,
        # After a rally with safety check-ins, the link to say "I got home safe" or "I need
        # help" is mailed at its end and works for this many hours.
        "SAFETY_CHECKIN_HOURS": 72,
        "REMINDER_EVENING_HOURS_BEFORE": 3,
        "MAIL_SENDER": "rallyhub <no-reply@localhost>",
        "OUTBOX_DIR": str(instance_path / "outbox"),
        "UPLOAD_DIR": str(instance_path / "uploads"),
        "TOOLKIT_MAX_BYTES": 10 * 1024 * 1024,
        # An online geocoder for public meeting points ("nominatim"); off: offline only.
        "ONLINE_GEOCODER": None,
        "GEOCODER_USER_AGENT": "rallyhub",
        "GEOCODER_TIMEOUT_S": 3,
        # Written by `flask rallyhub import-places`; the bundled cities are used without it.
        "PLACES_FILE": str(instance_path / "places.json"),
        "PERSONAL_DATA_RETENTION_DAYS": 30,
        # The interface's languages; adding one is three steps (README, "Adding a language").
        "LANGUAGES": ["en", "it", "ru", "es", "sv", "hy", "de", "pt_BR", "tr"],
        "BABEL_DEFAULT_LOCALE": "en",
        "BABEL_DEFAULT_TIMEZONE": "UTC",
        "MAX_CONTENT_LENGTH": 12 * 1024 * 1024,
        "MAX_FORM_MEMORY_SIZE": 512 * 1024,
        # Sessions: idle lifetime via a permanent session refreshed on each request,
        # absolute lifetime checked against the login time kept in the session.
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=2),
        "SESSION_ABSOLUTE_LIFETIME": timedelta(hours=12),
        "SESSION_COOKIE_NAME": "rallyhub_session",
        "SESSION_COOKIE_SECURE": not development,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_DURATION": timedelta(days=1),
        "REMEMBER_COOKIE_SECURE": True,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "WTF_CSRF_TIME_LIMIT": 8 * 3600,
        "HSTS_ENABLED": not development,
        "TOKEN_MAX_AGE_S": 48 * 3600,
        # OWASP's argon2id minimum: 19 MiB, 2 iterations, 1 lane.
        "ARGON2_TIME_COST": 2,
        "ARGON2_MEMORY_COST_KIB": 19 * 1024,
        "ARGON2_PARALLELISM": 1,
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_STORAGE_URI": "memory://",
        "RATELIMIT_HEADERS_ENABLED": True,
        "RATELIMIT_LOGIN": "10 per minute;50 per hour",
        "RATELIMIT_REGISTER": "5 per minute;20 per hour",
        "RATELIMIT_SIGNUP": "10 per minute;100 per hour",
        "RATELIMIT_COORGANIZER": "10 per hour",
        # Codes of the second sign-in step, its set-up and turning it off: per address and,
        # separately, per account (someone with the password may come from many addresses).
        "RATELIMIT_TWO_FACTOR": "5 per minute;30 per hour",
        # The name authenticator apps show beside an account's codes.
        "TOTP_ISSUER": "rallyhub",
        # How long, after the password, the code may be given before signing in starts over.
        "TWO_FACTOR_PENDING_S": 600,
        # Per check-in link, never per address: people arrested together share a network.
        "RATELIMIT_SAFETY": "30 per hour",
        # Operators' metrics at /metrics (Prometheus text), answered only to requests with
        # "Authorization: Bearer <METRICS_TOKEN>" (in production at least 32 characters);
        # 404 while off. Under gunicorn, set PROMETHEUS_MULTIPROC_DIR too (rallyhub.metrics).
        "METRICS_ENABLED": False,
        "METRICS_TOKEN": None,
        # "text": a line a record; "json": one JSON object a line, and one line a request.
        "LOG_FORMAT": "text",
        # /healthz/ready (and /healthz) answer 503 while the oldest e-mail waiting in the
        # outbox is older than this; 0 (the default) leaves the outbox out of readiness: every
        # instance shares one outbox, so a mail server down for a while would take them all
        # out of the load balancer at once. Alert on the queue's age (/metrics) instead.
        "READY_MAX_QUEUE_AGE_S": 0,
    }


def _from_environment() -> dict[str, Any]:
    """Read the documented environment variables that are set."""
    env = os.environ
    found: dict[str, Any] = {}
    mapping = {
        "DATABASE_URL": "SQLALCHEMY_DATABASE_URI",
        "SECRET_KEY": "SECRET_KEY",
        "REDIS_URL": "REDIS_URL",
        "TILE_URL": "TILE_URL",
        "TILE_ATTRIBUTION": "TILE_ATTRIBUTION",
        "SMTP_URL": "SMTP_URL",
        "UPLOAD_DIR": "UPLOAD_DIR",
        "BASE_URL": "BASE_URL",
        "SOURCE_URL": "SOURCE_URL",
        "ONION_ADDRESS": "ONION_ADDRESS",
        "METRICS_TOKEN": "METRICS_TOKEN",
    }
    for var, key in mapping.items():
        if env.get(var):
            found[key] = env[var]
    if env.get("PERSONAL_DATA_RETENTION_DAYS"):
        found["PERSONAL_DATA_RETENTION_DAYS"] = int(env["PERSONAL_DATA_RETENTION_DAYS"])
    if env.get("LOG_FORMAT"):
        found["LOG_FORMAT"] = env["LOG_FORMAT"].strip().lower()
    for flag in ("ALLOW_SQLITE_IN_PRODUCTION", "SINGLE_PROCESS", "METRICS_ENABLED"):
        if flag in env:
            found[flag] = _truthy(env[flag])
    if env.get("TRUSTED_PROXY_HOPS"):
        try:
            found["TRUSTED_PROXY_HOPS"] = int(env["TRUSTED_PROXY_HOPS"])
        except ValueError:
            raise ConfigError(
                "TRUSTED_PROXY_HOPS must be a whole number (0 to turn it off)."
            ) from None
    if env.get("READY_MAX_QUEUE_AGE_S"):
        try:
            found["READY_MAX_QUEUE_AGE_S"] = int(env["READY_MAX_QUEUE_AGE_S"])
        except ValueError:
            raise ConfigError(
                "READY_MAX_QUEUE_AGE_S must be a whole number of seconds (0 to leave the "
                "outbox out of readiness)."
            ) from None
    if env.get("TRUSTED_HOSTS"):
        found["TRUSTED_HOSTS"] = [h.strip() for h in env["TRUSTED_HOSTS"].split(",") if h.strip()]
    return found


def normalize_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs given in the common short forms."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def secret_key_from_instance(instance_path: Path) -> str:
    """Return the instance's generated secret key, creating it once if absent."""
    path = instance_path / "secret_key"
    if not path.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        # O_EXCL so that two processes starting together agree on one key.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
    return path.read_text().strip()


def load(app, overrides: dict[str, Any] | None = None) -> None:
    """Fill ``app.config`` from defaults, the environment and ``overrides``; check it."""
    overrides = dict(overrides or {})
    env = overrides.get("RALLYHUB_ENV") or os.environ.get("RALLYHUB_ENV") or "production"
    if env not in ENVIRONMENTS:
        raise ConfigError(f"RALLYHUB_ENV must be one of {', '.join(ENVIRONMENTS)}, not {env!r}")
    instance_path = Path(app.instance_path)
    app.config.update(defaults(instance_path, env))
    app.config.update(_from_environment())
    # Any Flask or extension setting as RALLYHUB_<KEY>, values parsed as JSON when they can be.
    app.config.from_prefixed_env("RALLYHUB")
    app.config.update(overrides)
    app.config["RALLYHUB_ENV"] = env

    config = app.config
    config["SQLALCHEMY_DATABASE_URI"] = normalize_database_url(config["SQLALCHEMY_DATABASE_URI"])
    if config.get("REDIS_URL") and config["RATELIMIT_STORAGE_URI"] == "memory://":
        config["RATELIMIT_STORAGE_URI"] = config["REDIS_URL"]
    config["TILE_HOST"] = tile_origin(config["TILE_URL"])
    if config.get("MAIL_DELIVERY") is None:
        if env == "testing":
            config["MAIL_DELIVERY"] = "immediate"
        else:
            config["MAIL_DELIVERY"] = "queue" if config.get("REDIS_URL") else "background"
    _configure_origin(config, env)
    if config["LOG_FORMAT"] not in ("text", "json"):
        raise ConfigError(f"LOG_FORMAT must be 'text' or 'json', not {config['LOG_FORMAT']!r}.")

    if env == "production":
        _check_production(config)
    elif not config.get("SECRET_KEY"):
        config["SECRET_KEY"] = secret_key_from_instance(instance_path)


def tile_origin(tile_url: str) -> str | None:
    """Return ``scheme://host[:port]`` of the tile URL, or None for same-origin tiles."""
    parts = urlsplit(tile_url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


# Where a developer's browser and the test client reach the app when no BASE_URL is set.
LOCAL_HOSTS = ["localhost", "127.0.0.1"]


def _configure_origin(config, env: str) -> None:
    """Check ``BASE_URL`` and derive the hosts requests may name from it."""
    base_url = config.get("BASE_URL")
    if base_url:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"BASE_URL must look like https://rallies.example.org, not {base_url!r}."
            )
        if parts.path.strip("/") or parts.query or parts.fragment:
            raise ConfigError("BASE_URL must be an origin only, without a path.")
        config["BASE_URL"] = f"{parts.scheme}://{parts.netloc}"
        config["PREFERRED_URL_SCHEME"] = parts.scheme
    if config.get("TRUSTED_HOSTS") is None:
        if base_url:
            config["TRUSTED_HOSTS"] = [urlsplit(config["BASE_URL"]).hostname]
        elif env != "production":
            config["TRUSTED_HOSTS"] = list(LOCAL_HOSTS)
    hops = config.get("TRUSTED_PROXY_HOPS")
    if not isinstance(hops, int) or isinstance(hops, bool) or not 0 <= hops <= 5:
        raise ConfigError("TRUSTED_PROXY_HOPS must be a number of proxies from 0 to 5.")


def _check_production(config) -> None:
    """Refuse settings that are only safe on a developer's machine."""
    if not config.get("SECRET_KEY") or len(str(config["SECRET_KEY"])) < 32:
        raise ConfigError("SECRET_KEY must be set to at least 32 random characters in production.")
    if (
        config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")
        and not config["ALLOW_SQLITE_IN_PRODUCTION"]
    ):
        raise ConfigError(
            "Production needs DATABASE_URL pointing at PostgreSQL; "
            "set ALLOW_SQLITE_IN_PRODUCTION=true to run a single instance on SQLite."
        )
    if not config.get("BASE_URL"):
        raise ConfigError(
            "BASE_URL must be set in production (e.g. https://rallies.example.org): links in "
            "e-mails are built from it, and requests for other hosts are refused."
        )
    if not config["BASE_URL"].startswith("https://"):
        raise ConfigError("BASE_URL must be an https:// address in production.")
    if not config.get("REDIS_URL") and not config.get("SINGLE_PROCESS"):
        raise ConfigError(
            "Production needs REDIS_URL, so that rate limits hold across workers and instances; "
            "set SINGLE_PROCESS=true only if exactly one process serves the site."
        )
    if config.get("METRICS_ENABLED") and len(str(config.get("METRICS_TOKEN") or "")) < 32:
        raise ConfigError(
            "METRICS_ENABLED needs METRICS_TOKEN set to at least 32 random characters in "
            "production: it is all that keeps the metrics to the operators."
        )
