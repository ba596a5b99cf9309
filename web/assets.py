"""Static files and compression: what Heroku's router leaves to the app.

The router passes responses through as they are: no gzip, no caching rules. So the app compresses
its text responses (HTML, CSS, JS, JSON, SVG) when the browser accepts gzip, and serves static files
with a year's max-age when the URL carries the file's content hash (`?v=`, which url_for adds): a
deploy that changes a file changes its URL. Other downloads (exports) keep their own headers.
/favicon.ico, which browsers ask for on their own, redirects to the SVG.
"""

import gzip
import hashlib
from functools import lru_cache
from pathlib import Path

from flask import redirect, request, url_for

COMPRESSIBLE = {"text/html", "text/css", "text/plain", "text/csv", "text/javascript", "application/javascript",
                "application/json", "application/problem+json", "image/svg+xml"}
MIN_SIZE = 500  # below about one packet, gzip's header costs more than it saves
ONE_YEAR = 365 * 24 * 3600


@lru_cache(maxsize=256)
def _file_version(path: str, mtime_ns: int) -> str:
    """The first 12 hex digits of a static file's SHA-256 (cached per path and modification time)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


@lru_cache(maxsize=64)
def _gzip_static(data: bytes) -> bytes:
    """A static file's bytes, gzipped once per process (static files do not change while it runs)."""
    return gzip.compress(data, compresslevel=9, mtime=0)


def _accepts_gzip() -> bool:
    """Whether the request's Accept-Encoding allows gzip."""
    return request.accept_encodings["gzip"] > 0


def _compress(response):
    """Gzip a text response in place, when the client takes it and it is worth it."""
    static = request.endpoint == "static"
    if static and "v" in request.args:
        response.headers["Cache-Control"] = f"public, max-age={ONE_YEAR}, immutable"
    if response.mimetype not in COMPRESSIBLE:
        return response
    response.vary.add("Accept-Encoding")
    if response.status_code != 200 or "Content-Encoding" in response.headers or not _accepts_gzip():
        return response
    if static and response.direct_passthrough:
        response.direct_passthrough = False  # a static file: read it to compress it
    elif response.is_streamed:
        return response  # streamed (exports): sent as it is produced, never buffered
    data = response.get_data()
    if len(data) < MIN_SIZE:
        return response
    response.set_data(_gzip_static(data) if static else gzip.compress(data, compresslevel=6))
    response.headers["Content-Encoding"] = "gzip"
    if response.headers.get("ETag"):
        # A different body, so a different entity tag (weak validators stay valid across encodings).
        response.set_etag(response.get_etag()[0] + "-gzip")
    return response


def init_app(app):
    """Version static URLs, cache versioned static files for a year, compress text, answer /favicon.ico."""

    versions = {}

    def version(filename: str) -> str | None:
        """A static file's version: computed once per process (again on each call in debug, files being edited)."""
        if filename not in versions or app.debug:
            path = Path(app.static_folder, filename)
            versions[filename] = _file_version(str(path), path.stat().st_mtime_ns) if path.is_file() else None
        return versions[filename]

    @app.url_defaults
    def _static_version(endpoint, values):
        """Add ?v=<content hash> to every url_for('static', ...)."""
        if endpoint == "static" and "v" not in values:
            found = version(values["filename"])
            if found:
                values["v"] = found

    @app.get("/favicon.ico")
    def favicon():
        """Browsers ask for /favicon.ico on their own: the SVG icon answers."""
        return redirect(url_for("static", filename="favicon.svg"), 301)

    app.after_request(_compress)
