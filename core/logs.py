"""Logs to stdout in logfmt, each line carrying the request id (Heroku's X-Request-ID) when there is one.

Heroku collects stdout from every dyno; the router's own log line has the same request_id, so
one search finds the router's view and the app's view of a request. `event()` logs one line whose
facts follow the message as more logfmt pairs (`msg="poll" mapping=Account rows=3 duration_ms=12`).
"""

import contextvars
import logging
import sys

_FORMAT = 'level=%(levelname)s logger=%(name)s request_id=%(request_id)s msg="%(message)s"%(logfmt)s'
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class _RequestIdFilter(logging.Filter):
    def filter(self, record):
        record.request_id = request_id.get()
        return True


class _Logfmt(logging.Formatter):
    """The line format; an `event()`'s facts follow the message as key=value pairs."""

    def format(self, record):
        facts = getattr(record, "facts", None)
        record.logfmt = "".join(f" {k}={_value(v)}" for k, v in facts.items()) if facts else ""
        if not hasattr(record, "request_id"):
            record.request_id = "-"
        return super().format(record)


def _value(value) -> str:
    """A logfmt value: bare when it is one word, quoted (with " and \\ escaped) otherwise."""
    text = "" if value is None else str(value)
    if text and not any(c in text for c in ' ="\\'):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def event(logger: logging.Logger, message: str, *, level: int = logging.INFO, **facts) -> None:
    """One line (INFO unless told): the message, then each fact as key=value (in the order given)."""
    logger.log(level, message, extra={"facts": facts})


def formatter() -> logging.Formatter:
    """The formatter of the app's stdout handler (tests read log lines through it)."""
    return _Logfmt(_FORMAT)


def setup(level: str = "INFO") -> None:
    """Send every logger's records to stdout as `level=… logger=… request_id=… msg=…` lines."""
    root = logging.getLogger()
    if any(getattr(h, "_connectapp", False) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stdout)
    handler._connectapp = True
    handler.addFilter(_RequestIdFilter())
    handler.setFormatter(formatter())
    root.addHandler(handler)
    root.setLevel(level)
