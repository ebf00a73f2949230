"""``flask rallyhub …`` commands; each one calls a service and commits once."""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import click
from email_validator import EmailNotValidError, validate_email
from flask.cli import AppGroup
from flask_babel import force_locale
from flask_babel import gettext as _

from rallyhub.extensions import db
from rallyhub.i18n import language_from_environment


class OperatorGroup(AppGroup):
    """Commands that answer in the operator's language (LANGUAGE, LC_ALL, LC_MESSAGES, LANG)."""

    def command(self, *args, **kwargs):
        register = super().command(*args, **kwargs)

        def decorator(callback):
            @functools.wraps(callback)
            def in_operators_language(*a, **kw):
                with force_locale(language_from_environment(os.environ)):
                    return callback(*a, **kw)

            return register(in_operators_language)

        return decorator


cli = OperatorGroup("rallyhub", help="rallyhub administration.")


@cli.command("create-hq")
@click.argument("email")
@click.option("--name", default="HQ", show_default=True, help="Display name of the account.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_hq(email: str, name: str, password_stdin: bool) -> None:
    """Create an HQ account (or promote an existing one)."""
    from rallyhub.auth.forms import PASSWORD_MAX, PASSWORD_MIN
    from rallyhub.auth.services import create_hq_account

    try:
        email = validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise click.BadParameter(str(error), param_hint="EMAIL") from None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt(_("Password"), hide_input=True, confirmation_prompt=True)
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise click.UsageError(
            _(
                "The password must have between %(low)d and %(high)d characters.",
                low=PASSWORD_MIN,
                high=PASSWORD_MAX,
            )
        )
    user, created = create_hq_account(email, name, password)
    db.session.commit()
    click.echo(
        _("Created the HQ account %(email)s.", email=user.email)
        if created
        else _("Made %(email)s an HQ account.", email=user.email)
    )


@cli.command("reset-two-factor")
@click.argument("email")
def reset_two_factor(email: str) -> None:
    """Forget an account's authenticator app and recovery codes (both lost)."""
    from rallyhub.auth.services import find_user_by_email
    from rallyhub.auth.two_factor import reset_two_factor as reset

    user = find_user_by_email(email)
    if user is None:
        raise click.UsageError(_("There is no account with this e-mail."))
    reset(user)
    db.session.commit()
    click.echo(
        _(
            "%(email)s signs in with the password alone now, or sets up a new app at its next "
            "sign-in if it must use one.",
            email=user.email,
        )
    )


@cli.command("seed-demo")
def seed_demo() -> None:
    """Load the demo campaigns, organizers, rallies and sign-ups (safe to run again)."""
    from rallyhub.demo import seed

    counts = seed(progress=click.echo)
    db.session.commit()
    click.echo(
        "Demo data ready: " + ", ".join(f"{number} {what}" for what, number in counts.items()) + "."
    )


@cli.command("purge-personal-data")
@click.option(
    "--days",
    type=click.IntRange(min=0),
    default=None,
    help="Days after a rally (default: PERSONAL_DATA_RETENTION_DAYS).",
)
def purge_personal_data(days: int | None) -> None:
    """Remove sign-up names, e-mails and phones some days after each rally; counts stay."""
    from flask import current_app

    from rallyhub.signups.services import purge_personal_data as purge

    if days is None:
        days = int(current_app.config["PERSONAL_DATA_RETENTION_DAYS"])

    def report(done: int, total: int, purged: int) -> None:
        click.echo(
            _(
                "  %(done)d/%(total)d rallies, %(purged)d sign-ups purged",
                done=done,
                total=total,
                purged=purged,
            )
        )

    purged = purge(days, progress=report)
    db.session.commit()
    click.echo(
        _(
            "Purged the personal data of %(purged)d sign-ups to rallies over %(days)d days ago.",
            purged=purged,
            days=days,
        )
    )


@cli.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
def worker(burst: bool) -> None:
    """Run an RQ worker for rallyhub's jobs (mail, the sweep); run two or more in production."""
    from flask import current_app
    from rq import SimpleWorker

    from rallyhub.delivery import redis_connection

    if not current_app.config.get("REDIS_URL"):
        raise click.UsageError(_("The worker needs REDIS_URL."))
    # SimpleWorker runs each job in this process, inside the application's context; a forking
    # worker would share the database connections of its parent.
    queue = current_app.config["MAIL_QUEUE"]
    SimpleWorker([queue], connection=redis_connection(current_app)).work(burst=burst)


@cli.command("scheduler")
def scheduler() -> None:
    """Put the sweep (reminders, retries, forgetting delivered mail) on the queue every minute."""
    from flask import current_app
    from rq.cron import CronScheduler

    from rallyhub.delivery import redis_connection
    from rallyhub.tasks import SWEEP_INTERVAL_S, sweep

    if not current_app.config.get("REDIS_URL"):
        raise click.UsageError(_("The scheduler needs REDIS_URL."))
    cron = CronScheduler(connection=redis_connection(current_app), name="rallyhub")
    cron.register(
        sweep,
        queue_name=current_app.config["MAIL_QUEUE"],
        interval=SWEEP_INTERVAL_S,
        result_ttl=0,
    )
    cron.start()


@cli.command("sweep")
def sweep_once() -> None:
    """Run the sweep once, here (without Redis: from cron every minute)."""
    from rallyhub.tasks import sweep

    counts = sweep()
    click.echo(
        _(
            "%(reminders)d reminders written, %(requeued)d messages sent or queued again, "
            "%(blanked)d delivered ones forgotten.",
            **counts,
        )
    )


@cli.command("send-mail")
@click.option("--limit", type=click.IntRange(min=1), default=500, show_default=True)
def send_mail(limit: int) -> None:
    """Deliver the queued e-mails that are due (run it every few minutes from cron)."""
    from rallyhub.delivery import deliver_due

    sent, tried = deliver_due(limit)
    click.echo(_("Delivered %(sent)d of %(tried)d due messages.", sent=sent, tried=tried))
    if sent < tried:
        raise SystemExit(1)


@cli.command("clean-uploads")
@click.option(
    "--older-than",
    type=click.IntRange(min=60),
    default=3600,
    show_default=True,
    help="Seconds after which a half-stored upload counts as abandoned.",
)
def clean_uploads(older_than: int) -> None:
    """Finish or remove toolkit uploads that a crashed request left half-stored."""
    from rallyhub.toolkits.services import clean_uploads as clean

    count = clean(older_than)
    click.echo(_("Cleaned %(count)d half-stored uploads.", count=count))


@cli.command("import-places")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_places(source: Path) -> None:
    """Load a fuller GeoNames dump (e.g. cities500.txt) as the gazetteer's places."""
    from flask import current_app

    from rallyhub.places.gazetteer import import_geonames

    target = Path(current_app.config["PLACES_FILE"])

    def report(lines: int, kept: int) -> None:
        click.echo(_("  %(lines)d lines read, %(kept)d places kept", lines=lines, kept=kept))

    try:
        count = import_geonames(source, target, progress=report)
    except (ValueError, UnicodeDecodeError) as error:
        raise click.ClickException(
            _("%(file)s is not a GeoNames dump: %(error)s", file=source.name, error=error)
        ) from None
    click.echo(
        _(
            "Imported %(count)d places into %(target)s. Restart the app to use them.",
            count=count,
            target=target,
        )
    )


def _report_progress(what: str, done: int, total: int) -> None:
    if what == "tables":
        click.echo(_("  %(done)d/%(total)d tables", done=done, total=total))
    else:
        click.echo(_("  %(done)d/%(total)d files", done=done, total=total))


@cli.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def backup(path: Path) -> None:
    """Write the database and the uploaded files into one archive at PATH."""
    from flask import current_app

    from rallyhub.backup import create_backup
    from rallyhub.errors import UserError

    try:
        manifest = create_backup(
            db.engine, current_app.config["UPLOAD_DIR"], path, progress=_report_progress
        )
    except UserError as error:
        raise click.ClickException(error.message) from None
    click.echo(
        _(
            "Wrote %(path)s (tables: %(tables)d, rows: %(rows)d, files: %(files)d; database at "
            "revision %(revision)s).",
            path=path,
            tables=len(manifest.tables),
            rows=manifest.rows,
            files=manifest.file_count,
            revision=manifest.alembic_revision,
        )
    )


@cli.command("restore")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--force",
    is_flag=True,
    help="Replace a database that holds rows, and upload files of the same names.",
)
def restore(path: Path, force: bool) -> None:
    """Put back the database and the uploaded files of a backup (stop the app first)."""
    from flask import current_app

    from rallyhub.backup import restore_backup
    from rallyhub.errors import UserError

    try:
        manifest = restore_backup(
            db.engine,
            current_app.config["UPLOAD_DIR"],
            path,
            force=force,
            progress=_report_progress,
        )
    except UserError as error:
        raise click.ClickException(error.message) from None
    click.echo(
        _(
            "Restored %(path)s (tables: %(tables)d, rows: %(rows)d, files: %(files)d; database "
            'at revision %(revision)s). Run "flask db upgrade" if this code is newer.',
            path=path,
            tables=len(manifest.tables),
            rows=manifest.rows,
            files=manifest.file_count,
            revision=manifest.alembic_revision,
        )
    )
