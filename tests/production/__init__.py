"""The production configuration end to end: gunicorn over TLS, PostgreSQL, Redis, SMTP, Chromium."""
