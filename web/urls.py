"""Templates' `url_for`, built once per process for each distinct set of arguments.

A portal page builds about twenty URLs (the header, the navigation, the static files with their
content hashes, the forms' actions) that are the same on every request: building each through the
URL map was a tenth of the order list's cost. A URL depends only on the endpoint, its arguments and
the application root the request came in under, so those are the key; what a request could change
(`_external` and the other `_` options, which read the host) is never memoized, nor anything in
debug, where static files' hashes change as they are edited. The memo holds derived strings only
and is bounded: losing it costs a rebuild, never a wrong answer.
"""

from flask import has_request_context, request, url_for

MAX_URLS = 4096


def init_app(app) -> None:
    """Give templates the memoized `url_for` (outside debug)."""
    if app.debug:
        return
    built: dict = {}

    def memo_url_for(endpoint: str, **values) -> str:
        if not has_request_context() or any(name.startswith("_") for name in values):
            return url_for(endpoint, **values)
        try:
            key = (request.script_root, endpoint, frozenset(values.items()))
            url = built.get(key)
        except TypeError:  # an unhashable argument (a list of values): build it every time
            return url_for(endpoint, **values)
        if url is None:
            url = url_for(endpoint, **values)
            if len(built) < MAX_URLS:
                built[key] = url
        return url

    app.jinja_env.globals["url_for"] = memo_url_for
