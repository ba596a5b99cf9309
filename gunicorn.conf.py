# gunicorn settings for the web dyno, following Heroku's own Python sample. Each setting says
# which platform limit it respects. Procfile: web: gunicorn --config gunicorn.conf.py "web:create_app()"
import os

# `make run` sets APP_ENV=development; a dyno runs in production (core/config.py's default).
development = os.environ.get("APP_ENV", "production") == "development"

# Heroku tells the dyno which port to listen on; [::] accepts IPv4 and IPv6.
bind = ["[::]:" + os.environ.get("PORT", "5000")]

# The Python buildpack sets WEB_CONCURRENCY from the dyno's memory; each process gets its own
# pool of database connections (opened lazily, after the fork).
workers = int(os.environ.get("WEB_CONCURRENCY", 2))

# Threads let one process overlap the waits on Postgres and Redis. Pool size (DB_POOL_SIZE, 5)
# matches the thread count so no thread waits for a connection.
worker_class = "gthread"
threads = 5

# Each worker listens on its own SO_REUSEPORT socket, so the kernel spreads new connections evenly
# over the workers. With one shared socket, whichever worker wakes first accepts: the router's
# long-lived keep-alive connections can pile onto one process (one CPU, by the GIL) while the
# other idles. (A worker that exits drops connections still queued on its socket; workers exit
# only when the dyno stops or a request times out.)
reuse_port = True

# The router gives up on a request after 30 s (H12). Kill a stuck worker before that, so the
# client gets our 5xx rather than the router's, and the process is replaced.
timeout = 20

# On SIGTERM (every deploy, every daily restart) finish in-flight requests, well inside the
# 30 s before the dyno manager's SIGKILL.
graceful_timeout = 20

# The router keeps idle connections to dynos open for 90 s; a shorter keep-alive here would
# close sockets the router still uses (H13/H18).
keepalive = 95

# Load the app once in the master and fork workers from it: faster boots, less memory.
# Pools and Redis clients are opened lazily per process, so nothing is shared across the fork.
preload_app = not development

# Heroku's router is the only client; trust its X-Forwarded-* headers (scheme, client address).
forwarded_allow_ips = "*"

# Logs go to stdout, where Heroku collects them; logfmt with the router's request id.
# On Heroku the router already logs every request — method, path, status, service time, bytes and
# the same request_id — so a gunicorn access line would only repeat it (twice the log volume through
# every drain, and about 7 % of a web process's CPU in bench/portal.py). Locally, where no router
# logs, APP_ENV=development turns gunicorn's access log on.
accesslog = "-" if development else None
errorlog = "-"
access_log_format = (
    'method=%(m)s path="%(U)s" status=%(s)s duration_ms=%(M)s bytes=%(B)s '
    'request_id=%({x-request-id}o)s user_agent="%(a)s"'
)
