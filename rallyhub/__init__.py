"""rallyhub: coordinate the rallies of a global campaign across many cities."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from rallyhub.routing import CONVERTERS

ROOT = Path(__file__).resolve().parent.parent


class RallyhubFlask(Flask):
    """Flask with one commit per request, at its boundary."""

    def dispatch_request(self):
        """Run the view, then commit its work if it succeeded, or roll it back."""
        from rallyhub.extensions import db

        response = self.make_response(super().dispatch_request())
        # Inside dispatch, so a failed commit (a lock timeout, say) reaches the error handlers.
        if response.status_code < 400:
            db.session.commit()
        else:
            db.session.rollback()
        return response


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the application: configuration, extensions, blueprints, errors, CLI."""
    app = RallyhubFlask(
        "rallyhub",
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=str((config or {}).get("INSTANCE_PATH") or ROOT / "instance"),
        instance_relative_config=True,
    )
    app.url_map.converters.update(CONVERTERS)
    from rallyhub import config as settings

    settings.load(app, config)
    # Keys in the order the code writes them: readable, and no sorting on every response.
    app.json.sort_keys = False
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    from rallyhub.logs import init_logs
    from rallyhub.metrics import init_metrics

    # Before the extensions, so that a request their hooks refuse (a rate limit) is still
    # timed, counted and logged.
    init_logs(app)
    init_metrics(app)
    _init_extensions(app)
    from rallyhub.assets import init_assets
    from rallyhub.caching import init_caching

    init_caching(app)
    init_assets(app)
    from rallyhub.places import gazetteer

    gazetteer.configure(app.instance_path, app.config["PLACES_FILE"])
    _register_blueprints(app)

    from rallyhub.errors import register_error_handlers
    from rallyhub.security import init_security

    register_error_handlers(app)
    init_security(app)

    from rallyhub.cli import cli

    app.cli.add_command(cli)
    return app


def _init_extensions(app: Flask) -> None:
    from flask import session
    from flask_babel import get_locale
    from flask_babel import lazy_gettext as _l

    from rallyhub.auth.services import load_session_user
    from rallyhub.delivery import init_mail
    from rallyhub.extensions import (
        babel,
        configure_sqlite,
        csrf,
        db,
        limiter,
        login_manager,
        migrate,
    )
    from rallyhub.i18n import (
        country_name,
        current_address_without_language,
        format_count,
        format_km,
        format_local,
        format_local_range,
        language_names,
        local_city,
        own_name,
        remember_language,
        select_locale,
        text_direction,
        zone_name,
    )
    from rallyhub.security import SESSION_ID_KEY
    from rallyhub.text import plain_text

    _import_models()
    db.init_app(app)
    init_mail(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            configure_sqlite(db.engine, app.config["SQLITE_BUSY_TIMEOUT_S"])
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    limiter.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please sign in to see this page.")
    login_manager.login_message_category = "info"
    # Flask-Login's IP/agent binding rewrites every anonymous session and signs people out
    # when a phone changes networks; sessions here end instead through the nonce in the user
    # id (new password, disabled account) and the absolute lifetime.
    login_manager.session_protection = None

    @login_manager.user_loader
    def _load_user(session_id: str):
        return load_session_user(session_id, session.get(SESSION_ID_KEY))

    app.jinja_env.globals.update(
        country_name=country_name,
        format_local=format_local,
        format_local_range=format_local_range,
        format_count=format_count,
        format_km=format_km,
        zone_name=zone_name,
        language_names=language_names,
        own_name=own_name,
        local_city=local_city,
        current_address_without_language=current_address_without_language,
        text_direction=text_direction,
        get_locale=get_locale,
    )
    app.after_request(remember_language)
    app.jinja_env.filters["plain_text"] = plain_text

    @app.context_processor
    def _tiles():
        # Every page with a map (home, rally, HQ's dashboard) draws the configured tiles.
        return {
            "tile_url": app.config["TILE_URL"],
            "tile_attribution": app.config["TILE_ATTRIBUTION"],
        }


def _import_models() -> None:
    """Import every area's models so the metadata (and Alembic) sees all tables."""
    import rallyhub.auth.audit
    import rallyhub.auth.models
    import rallyhub.caching
    import rallyhub.campaigns.models
    import rallyhub.mail
    import rallyhub.places.models
    import rallyhub.rallies.models
    import rallyhub.signups.models
    import rallyhub.toolkits.models  # noqa: F401


def _register_blueprints(app: Flask) -> None:
    from rallyhub.api.views import bp as api_bp
    from rallyhub.auth.views import bp as auth_bp
    from rallyhub.campaigns.views import bp as campaigns_bp
    from rallyhub.health import bp as health_bp
    from rallyhub.hq.views import bp as hq_bp
    from rallyhub.i18n import bp as i18n_bp
    from rallyhub.map.views import bp as map_bp
    from rallyhub.rallies.views import bp as rallies_bp
    from rallyhub.rallies.views import campaign_bp as campaign_rallies_bp
    from rallyhub.signups.views import bp as signups_bp
    from rallyhub.toolkits.views import bp as toolkits_bp

    for blueprint in (
        api_bp,
        auth_bp,
        campaigns_bp,
        health_bp,
        hq_bp,
        i18n_bp,
        map_bp,
        rallies_bp,
        campaign_rallies_bp,
        signups_bp,
        toolkits_bp,
    ):
        app.register_blueprint(blueprint)
