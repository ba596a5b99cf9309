"""Logs to stdout in logfmt, each line carrying the request id (Heroku's X-Request-ID) when there is one.

Heroku collects stdout from every dyno; the router's own log line has the same request_id, so
one search finds the router's view and the app's view of a request. `event()` logs one line whose
facts follow the message as more logfmt pairs
(`msg="Account ← Salesforce: 3 updated (poll, 3 rows, 0.01 s)" mapping=Account rows=3 duration_ms=12`).
"""

import contextvars
import logging
import sys

_FORMAT = 'level=%(levelname)s logger=%(name)s request_id=%(request_id)s msg="%(message)s"%(logfmt)s'
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


# Lines RQ writes at INFO that are its own bookkeeping, not events an operator acts on: with the sync
# console's sampler (a job a minute) they were four lines a minute on `make run`'s terminal and in
# every log drain. Shown at DEBUG; matched by RQ's exact templates, so nothing else is held back.
# The job's start and its "Successfully completed … in 0.36s" (or its failure) still show.
BOOKKEEPING = {
    "Worker %s: job %s result is kept for %s seconds",
    "Worker %s: job %s result discarded immediately",
    "Worker %s: cleaning registries for queue: %s",
    "Worker %s: cleaning group registries",
    "Worker %s: subscribing to channel %s",
    "Worker %s: unsubscribing from channel %s",
}
JOB_OK = "Job OK"  # RQ's third line per job, after its start and "Successfully completed"


def _not_bookkeeping(record: logging.LogRecord) -> bool:
    """False for RQ's bookkeeping lines (BOOKKEEPING), unless the logger is at DEBUG."""
    if not record.name.startswith("rq.") or record.levelno != logging.INFO or not isinstance(record.msg, str):
        return True
    args = record.args if isinstance(record.args, tuple) else ()
    bookkeeping = record.msg in BOOKKEEPING or (
        record.msg == "Worker %s: %s: %s (%s)" and len(args) == 4 and JOB_OK in str(args[2]))
    return not bookkeeping or logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


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
    root.addHandler(handler(sys.stdout))
    root.setLevel(level)


def handler(stream) -> logging.Handler:
    """The app's log handler: logfmt lines with the request id, without RQ's bookkeeping, to `stream`."""
    out = logging.StreamHandler(stream)
    out._connectapp = True
    out.addFilter(_RequestIdFilter())
    out.addFilter(_not_bookkeeping)
    out.setFormatter(formatter())
    return out
