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
    """Set the session lifetime and add the headers."""
    cfg = app.config["APP"]
    production = cfg.environment == "production"

    @app.after_request
    def _headers(response):
        """Add the security headers to a response."""
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        if production:
            headers.setdefault("Strict-Transport-Security", HSTS)
        return response
