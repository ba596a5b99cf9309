# gunicorn settings for the web dyno, following Heroku's own Python sample: each setting says which
# platform limit it respects, with a link to it. Settings: https://docs.gunicorn.org/en/stable/settings.html
# Procfile: web: gunicorn --config gunicorn.conf.py "web:create_app()"
# Every top-level name here is offered to gunicorn as a setting, so the app's config module gets a
# name gunicorn has no setting for (gunicorn's own `config` setting is the path of this file).
import logging

from gunicorn import glogging

from core import config as app_config
from core import logs

# The configuration is read here, at boot, before any worker starts: a missing or malformed
# variable stops the web dyno with one line `configuration error: …` and exit status 2, not a
# traceback from every worker. The web process needs SECRET_KEY, so it is checked here too.
with app_config.exit_on_error():
    cfg = app_config.load()
    cfg.require_secret_key()
    cfg.require_app_url()

# `make run` sets APP_ENV=development; a dyno runs in production (core/config.py's default).
development = cfg.environment == "development"

# Heroku tells a web dyno which port to listen on in PORT; [::] accepts IPv4 and IPv6.
# https://devcenter.heroku.com/articles/dyno-startup-behavior#port-binding-of-web-dynos
bind = [f"[::]:{cfg.port}"]

# The Python buildpack sets WEB_CONCURRENCY from the dyno's memory and CPUs. Each process gets its
# own pool of database connections (opened lazily, after the fork), and they all count against the
# plan's connection limit: docs/architecture.md has the arithmetic.
# https://devcenter.heroku.com/articles/python-concurrency
# https://devcenter.heroku.com/articles/python-concurrency-and-database-connections
workers = cfg.web_concurrency

# Threads let one process overlap the waits on Postgres and Redis. Pool size (DB_POOL_SIZE, 5)
# matches the thread count so no thread waits for a connection.
# https://docs.gunicorn.org/en/stable/design.html#server-model
worker_class = "gthread"
threads = 5

# Each worker listens on its own SO_REUSEPORT socket, so the kernel spreads new connections evenly
# over the workers. With one shared socket, whichever worker wakes first accepts: the router's
# long-lived keep-alive connections can pile onto one process (one CPU, by the GIL) while the
# other idles. (A worker that exits drops connections still queued on its socket; workers exit
# only when the dyno stops or a worker misses its heartbeat.) https://lwn.net/Articles/542629/
reuse_port = True

# A heartbeat, not a request time limit: with the gthread worker class the master kills a worker
# process whose main loop has not notified it for this long (the process is wedged), and starts
# another. A slow request on one of its threads does not stop the heartbeat, so gunicorn never
# cuts a stuck request. What keeps ordinary requests under the router's 30 s (H12) is Postgres'
# statement_timeout on every web connection (STATEMENT_TIMEOUT_MS, 20 s): the query is cancelled
# and the client gets our 503 page rather than the router's.
# https://devcenter.heroku.com/articles/request-timeout
timeout = 20

# On SIGTERM (every deploy, config change and daily restart) finish in-flight requests, well inside
# the 30 s before the dyno manager's SIGKILL.
# https://devcenter.heroku.com/articles/dyno-shutdown-behavior
# https://devcenter.heroku.com/articles/dynos#restarting
graceful_timeout = 20

# The router keeps idle connections to dynos open for 90 s; a shorter keep-alive here would let
# gunicorn close a socket just as the router sends a request down it (H13/H18).
# https://devcenter.heroku.com/articles/http-routing#keepalives
keepalive = 95

# Load the app once in the master and fork workers from it: faster boots, less memory.
# Pools and Redis clients are opened lazily per process, so nothing is shared across the fork.
preload_app = not development

# Heroku's router is the only client; trust its X-Forwarded-* headers (scheme, client address).
# https://devcenter.heroku.com/articles/http-routing#heroku-headers
forwarded_allow_ips = "*"

# Logs go to stdout, where Heroku collects them; logfmt with the router's request id.
# On Heroku the router already logs every request — method, path, status, service time, bytes and
# the same request_id — so a gunicorn access line would only repeat it (twice the log volume through
# every drain, and about 7 % of a web process's CPU in bench/portal.py). Locally, where no router
# logs, APP_ENV=development turns gunicorn's access log on: pages and API calls, not static files.
# https://devcenter.heroku.com/articles/http-routing#heroku-router-log-format
accesslog = "-" if development else None
errorlog = "-"
access_log_format = (
    'method=%(m)s path="%(U)s" status=%(s)s duration_ms=%(M)s bytes=%(B)s request_id=%({x-request-id}o)s'
)

# Paths whose access lines tell nothing: the files a page pulls in (one line each per page view).
QUIET_PATHS = ("/static/", "/favicon.ico")
# What `make run` sends to learn that the web process answers (standins/run.py): not a visitor.
READINESS_PROBE = "make-run-readiness"


def _worth_a_line(record: logging.LogRecord) -> bool:
    """False for noise: the static files' access lines, make run's probe, gunicorn's empty `Listening at:`."""
    atoms = record.args if isinstance(record.args, dict) else None
    if atoms is not None and record.name == "gunicorn.access":
        return not (atoms.get("U", "").startswith(QUIET_PATHS) or atoms.get("a") == READINESS_PROBE)
    # With reuse_port the master binds no socket (each worker binds its own), so gunicorn's
    # `Listening at:  (pid)` names none; when_ready below says where the workers listen.
    return not (record.msg == "Listening at: %s (%s)" and not (record.args or ("",))[0])


class Logger(glogging.Logger):
    """gunicorn's own lines in the app's logfmt (core/logs.py): `level=INFO logger=gunicorn.error msg="…"`.

    Its default format starts with its own timestamp and pid, a second prefix after the one Heroku
    (or honcho, under `make run`) puts on every line.
    """

    def setup(self, cfg):
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.setFormatter(logs.formatter())
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.addFilter(_worth_a_line)


logger_class = Logger


def when_ready(server):
    """Say where the web process listens (the line gunicorn leaves empty under reuse_port)."""
    server.log.info("Listening at: %s (every worker on its own socket: reuse_port)", ", ".join(server.cfg.bind))


# gunicorn ≥ 25.1 opens a control socket (for `gunicornc`) at ~/.gunicorn/gunicorn.ctl by default.
# Nothing uses it: on Heroku no other process can reach a dyno's files, and locally Ctrl-C stops
# `make run`; every gunicorn of one user would share that one path.
control_socket_disable = True
