"""gunicorn settings for rallyhub: ``gunicorn -c gunicorn.conf.py wsgi:app``."""

import multiprocessing
import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
# Load the app (and the gazetteer) once, so workers share its memory.
preload_app = True
# No client addresses, no query strings (they can hold tokens) in the access log.
accesslog = "-"
access_log_format = '"%(m)s %(U)s" %(s)s %(B)s %(M)sms'
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
