"""The landing page: what this demo shows and where to look."""

from flask import Blueprint, render_template

from core import connect

bp = Blueprint("home", __name__)


@bp.get("/")
def index():
    """Explain the demo and list the mappings it relies on."""
    return render_template("home.html", mappings=connect.mappings().values())
