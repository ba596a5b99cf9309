"""Responses that stream out of Postgres: long downloads that never meet the router's 30 s limit.

Heroku's router cuts a request whose first byte takes more than 30 s (H12), and then a stream
that stays silent for 55 s; a stream that keeps sending may run as long as it likes. So a long
download sends its first bytes at once and then rows as Postgres produces them.

The connection and its transaction are taken in the view, so a busy pool or a database that is
down still gets a proper 503 page (not a 200 that breaks off). The response owns them from then
on: when it closes — finished, or because the client went away — the generator is closed first
(which cancels a running COPY), then the transaction ends and the connection goes back to the pool.
"""

import threading
from contextlib import ExitStack

from flask import Response

from web import database
from web.errors import render_error

# gunicorn gives each process 5 threads (gunicorn.conf.py). A stream holds a thread and a pooled
# connection for minutes; two at most per process leave the others for ordinary pages.
STREAMS_PER_PROCESS = 2
_streams = threading.BoundedSemaphore(STREAMS_PER_PROCESS)


def from_database(produce, *, mimetype: str, headers: dict, no_statement_timeout: bool = False,
                  follower: bool = True) -> Response:
    """Stream `produce(conn)` (a generator of bytes) from one read-only, repeatable-read transaction.

    `no_statement_timeout` lifts the web's statement_timeout for this transaction only
    (SET LOCAL): a whole-table COPY may run for minutes. That is safe because the response is
    streaming — the router keeps a stream open as long as bytes flow — and because the
    client's disconnect cancels the query (see core/exports.py: copy_chunk).
    """
    if not _streams.acquire(blocking=False):
        response = render_error(503, "Service Unavailable",
                                "Too many downloads are running on this server. Try again in a minute, "
                                "or use the background export.")
        response = response if isinstance(response, Response) else Response(*response)
        response.headers["Retry-After"] = "30"
        return response
    stack = ExitStack()
    stack.callback(_streams.release)
    try:
        conn = stack.enter_context(database.read_connection() if follower else database.connection())
        stack.enter_context(conn.transaction())
        # One snapshot for the whole file, whatever Connect writes meanwhile.
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        if no_statement_timeout:
            conn.execute("SET LOCAL statement_timeout = 0")
        body = produce(conn)
    except BaseException:
        stack.close()
        raise
    response = Response(body, mimetype=mimetype, headers=headers)
    response.call_on_close(stack.close)
    return response
