"""gunicorn settings for rallyhub: ``gunicorn -c gunicorn.conf.py wsgi:app``."""

import multiprocessing
import os

from gunicorn.glogging import Logger

from rallyhub.security import redact_path

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
# Load the app (and the gazetteer) once, so workers share its memory.
preload_app = True
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"
# gunicorn 27's control socket sits at one fixed path per user: two servers would clash.
control_socket_disable = True
# No client address, no query string (it can hold a place someone searched for).
access_log_format = '"%(m)s %(U)s" %(s)s %(B)s %(M)sms'


class PrivateLogger(Logger):
    """Access log lines without manage-link or e-mail tokens in their paths."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        # U is None on gunicorn's own error path (an exception that escaped the app).
        atoms["U"] = redact_path(atoms.get("U") or "")
        return atoms


logger_class = PrivateLogger
