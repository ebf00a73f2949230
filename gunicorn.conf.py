"""gunicorn settings for rallyhub: ``gunicorn -c gunicorn.conf.py wsgi:app``."""

import gc
import multiprocessing
import os

from gunicorn.glogging import Logger

from rallyhub.logs import JsonFormatter
from rallyhub.security import redact_path

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
# Load the app (and the gazetteer) once, so workers share its memory.
preload_app = True
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# LOG_FORMAT=json (the app's setting): the app writes one JSON line a request, without the
# client's address, the query string or the path, so gunicorn's access line would only repeat
# it, in another format.
JSON_LOGS = os.environ.get("LOG_FORMAT", "").strip().lower() == "json"
accesslog = None if JSON_LOGS else "-"
# gunicorn 27's control socket sits at one fixed path per user: two servers would clash.
control_socket_disable = True
# No client address, no query string (it can hold a place someone searched for).
access_log_format = '"%(m)s %(U)s" %(s)s %(B)s %(M)sms'


class PrivateLogger(Logger):
    """Access log lines without manage-link or e-mail tokens in their paths; gunicorn's own
    lines as JSON when the app's are."""

    def setup(self, cfg):
        super().setup(cfg)
        if JSON_LOGS:
            for handler in self.error_log.handlers:
                handler.setFormatter(JsonFormatter())

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        # U is None on gunicorn's own error path (an exception that escaped the app).
        atoms["U"] = redact_path(atoms.get("U") or "")
        return atoms


logger_class = PrivateLogger


def when_ready(server):
    """Build the gazetteer in the master, after the app is loaded and before any worker forks.

    Each worker used to build its own on its first search (+132 MB and 0.5 s for that
    request); built here, the workers share its memory pages. ``gc.freeze`` keeps the
    collector from touching (and so copying) them in every worker.
    """
    from rallyhub.places.gazetteer import get_gazetteer

    get_gazetteer()
    gc.freeze()
    server.log.info("gazetteer ready before the workers fork")
