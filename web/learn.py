"""The walkthrough (/learn): Heroku Connect's six setup steps, each with its commands and a local action.

Each step says what it means on Heroku and the commands that do it; the Connect ones are taken
from core/deploy.py, the list `python manage.py postdeploy` prints and docs/deploy.md walks, so
the three never disagree. Locally (`make run`: LOCAL_ORG_URL and DEMO_LOGINS set) each step also
has something to do from the page: open the mapping, edit a record in the local org and watch it
arrive, file a case and watch it leave, switch on a validation rule and see the refusal. Actions
that change the org are links to the org's own pages: the app never calls Salesforce.
"""

from dataclasses import dataclass

from flask import Blueprint, current_app, render_template

from core import connect, deploy, logins, orders
from web import database

bp = Blueprint("learn", __name__)

APP = deploy.APP_PLACEHOLDER


@dataclass(frozen=True)
class Step:
    """One setup step: its name, what it means on Heroku, the commands, what stands in for it locally."""

    key: str
    title: str
    meaning: str
    commands: tuple[str, ...]
    local: str


def deploy_commands(*titles: str) -> tuple[str, ...]:
    """The Heroku commands of the deploy steps with these titles (core/deploy.py), for <your-app>."""
    by_title = {step.title: step for step in deploy.STEPS}
    return tuple(command.format(app=APP) for title in titles for command in by_title[title].heroku)


STEPS = (
    Step("app", "Create the app with Heroku Postgres",
         "An app is a Git remote and a set of dynos; Heroku Postgres is the database Connect syncs into, "
         "and Key-Value Store (Redis) carries the worker's jobs. The Heroku Button does this step and the "
         "next from app.json.",
         (f"heroku create {APP}",
          f"heroku addons:create heroku-postgresql:essential-0 --app {APP}",
          f"heroku addons:create heroku-redis:mini --app {APP}"),
         "An embedded PostgreSQL and Redis under .data/, started by make run."),
    Step("connect", "Add the Heroku Connect add-on",
         "Connect is an add-on: a sync engine Heroku runs beside your app, between your Postgres and one "
         "Salesforce org. The demo plan syncs up to 10,000 rows across all mappings and reads each one "
         "every 10 minutes at most.",
         (f"heroku addons:create herokuconnect:demo --app {APP}",
          *deploy_commands("Install the Heroku Connect CLI plugin")),
         "The connect process of make run plays it: it sends the trigger log to the local org and reads the "
         "org's changes back, every few seconds."),
    Step("authorize", "Authorize a Salesforce org",
         "Connect writes into one schema of your database and logs in to the org as an integration user, "
         "through OAuth in a browser: this is why app.json cannot finish Connect's setup.",
         deploy_commands("Link Connect to the database and the org"),
         "The local org stands in for Salesforce, already linked: nothing to authorize."),
    Step("map", "Map objects and fields",
         "A mapping names a Salesforce object, its fields, whether the app may write it (read-write needs "
         "an upsert field, a unique external id) and how often Connect reads it. Connect creates one table "
         "per mapping in the salesforce schema.",
         deploy_commands("Create the custom object and fields the mapping needs", "Check the mapping against the org",
                         "Import the mapping") + (f"heroku connect:info --app {APP}",),
         "The same mapping file: make run built the salesforce schema from it, as Connect would."),
    Step("sync", "Test the sync both ways",
         "A row the app writes reaches Salesforce, and a change made in Salesforce comes back; a write "
         "Salesforce refuses stays FAILED, with its message, until someone fixes the cause and sends it again.",
         deploy_commands("Test the sync both ways") + (f"heroku connect:write-errors --app {APP}",),
         "In a second terminal, make verify-sync does it for every read-write mapping; or by hand, below."),
    Step("deploy", "Deploy code that uses the tables",
         "The app reads and writes the mapped tables like any others and never calls Salesforce; the release "
         "phase migrates its own schema before the new dynos start.",
         ("git push heroku main", f"heroku ps:scale web=1 worker=1 --app {APP}",
          *deploy_commands("Check the whole deploy")),
         "The web and worker processes of make run run this code."),
)


def demo_customer() -> dict | None:
    """The first demo login with its Contact's Id and its account's newest order (None unless make run made it)."""
    cfg = current_app.config["APP"]
    if not cfg.demo_logins:
        return None
    login = cfg.demo_logins[0]
    with database.connection() as conn:
        user = logins.user_by(conn, cfg.connect_schema, cfg.app_schema, email=login.email)
        if user is None:
            return None
        newest, _ = orders.list_orders(conn, cfg.connect_schema, user["account_sfid"], limit=1)
    return {"email": login.email, "password": login.password, "contact_sfid": user["contact_sfid"],
            "order_sfid": newest[0]["sfid"] if newest else None}


@bp.get("/learn")
def walkthrough():
    """The six setup steps, with a local action for each when the local org runs."""
    cfg = current_app.config["APP"]
    return render_template("learn/walkthrough.html", steps=STEPS, org_url=cfg.salesforce.local_url,
                           customer=demo_customer(), ops=cfg.ops.enabled)


@bp.get("/learn/mapping")
def mapping():
    """The mapping file Connect imports (sql/connect/mapping.json), as tables."""
    return render_template("learn/mapping.html", mappings=connect.mappings().values(),
                           org_url=current_app.config["APP"].salesforce.local_url)
