"""The landing page: what this demo shows and where to look.

Locally (`make run` sets the local-only LOCAL_ORG_URL and DEMO_LOGINS) it also lists the demo
logins, the operator pages and the local org; on Heroku, where no local-only setting is set, it
does not: the logins' passwords are published, and there is no local org.
"""

from flask import Blueprint, current_app, render_template

from core import connect

bp = Blueprint("home", __name__)


def local_stack() -> dict | None:
    """What `make run` started, for the landing page to list; None on Heroku."""
    cfg = current_app.config["APP"]
    if not (cfg.salesforce.local_url or cfg.demo_logins):
        return None
    return {"logins": cfg.demo_logins or (), "org_url": cfg.salesforce.local_url, "ops": cfg.ops.enabled}


@bp.get("/")
def index():
    """Explain the demo and list the mappings it relies on (and, locally, the way in)."""
    return render_template("home.html", mappings=connect.mappings().values(), local=local_stack())
