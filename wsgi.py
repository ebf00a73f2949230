"""The WSGI entry point: ``gunicorn wsgi:app`` and ``flask --app wsgi``."""

from rallyhub import create_app

app = create_app()
