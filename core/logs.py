"""Logs to stdout in logfmt, each line carrying the request id (Heroku's X-Request-ID) when there is one.

Heroku collects stdout from every dyno; the router's own log line has the same request_id, so
one search finds the router's view and the app's view of a request.
"""

import contextvars
import logging
import sys

_FORMAT = 'level=%(levelname)s logger=%(name)s request_id=%(request_id)s msg="%(message)s"'
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class _RequestIdFilter(logging.Filter):
    def filter(self, record):
        record.request_id = request_id.get()
        return True


def setup(level: str = "INFO") -> None:
    """Send every logger's records to stdout as `level=… logger=… request_id=… msg=…` lines."""
    root = logging.getLogger()
    if any(getattr(h, "_connectapp", False) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stdout)
    handler._connectapp = True
    handler.addFilter(_RequestIdFilter())
    handler.setFormatter(logging.Formatter(_FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
