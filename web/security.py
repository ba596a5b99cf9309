"""Security headers on every response.

The Content-Security-Policy allows scripts, styles and images from this origin only: no inline
script can run, so an injected `<script>` does nothing. HSTS is sent in production only, where
Heroku's router terminates TLS; locally the app is plain http.
"""


CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
HSTS = "max-age=31536000; includeSubDomains"


def init_app(app):
    """Add the headers to every response that has not set its own."""
    cfg = app.config["APP"]
    wanted = [("Content-Security-Policy", CSP), ("X-Content-Type-Options", "nosniff"),
              ("X-Frame-Options", "DENY"), ("Referrer-Policy", "same-origin")]
    if cfg.environment == "production":
        wanted.append(("Strict-Transport-Security", HSTS))

    @app.after_request
    def _headers(response):
        """Add the security headers to a response (one pass over its headers, on every response)."""
        present = {name.lower() for name, _ in response.headers}
        for name, value in wanted:
            if name.lower() not in present:
                response.headers.add(name, value)
        return response
