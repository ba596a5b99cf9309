"""From the Heroku Button to a working demo: the steps, in order, and the Scheduler jobs the app expects.

One list, three readers: `python manage.py postdeploy` prints it with the app's own name filled in,
`python manage.py doctor` prints the Scheduler jobs as a checklist (Heroku Scheduler has no API an
app can read), and docs/deploy.md walks the same steps (tests/test_docs.py holds the two together).
"""

from dataclasses import dataclass

# Where an app's name goes in a command; postdeploy fills it from HEROKU_APP_NAME.
APP_PLACEHOLDER = "<your-app>"
BUTTON_URL = "https://www.heroku.com/deploy?template=https://github.com/<owner>/<repo>"


@dataclass(frozen=True)
class Step:
    """One step after pressing the button: what to run on Heroku, and its local equivalent."""

    title: str
    heroku: tuple[str, ...]  # commands, with {app} for the app's name
    local: str
    why: str = ""
    scheduler: bool = False  # the step that adds SCHEDULER_JOBS


@dataclass(frozen=True)
class ScheduledJob:
    """A command Heroku Scheduler must run (app.json cannot declare Scheduler jobs)."""

    command: str
    every: str  # Scheduler's own choices: every 10 minutes, hourly, daily at a time
    why: str


SCHEDULER_JOBS = (
    ScheduledJob("python manage.py exports cleanup", "hourly",
                 "deletes background-export files older than EXPORT_TTL_HOURS"),
    ScheduledJob("python manage.py invoices run --period previous", "daily at 02:00 UTC",
                 "nightly invoicing of the previous month's new orders; a rerun changes nothing"),
    ScheduledJob("python manage.py sync-health sample", "every 10 minutes",
                 "a sample of every mapping's backlog and errors for the sync console's chart"),
)

STEPS = (
    Step("Deploy with the Heroku Button",
         (BUTTON_URL,
          "heroku apps:info --app {app}",
          "heroku config:set APP_URL=https://<web-url-from-apps-info> --app {app}"),
         "make run",
         "the button creates the app, its add-ons and dynos; new herokuapp.com domains carry a random suffix, "
         "so check the Web URL and correct APP_URL (the web process does not start without it)"),
    Step("Install the Heroku Connect CLI plugin",
         ("heroku plugins:install @heroku-cli/heroku-connect-plugin",),
         "nothing: the local Connect is a process of make run",
         "connect:import, connect:info and the other connect:* commands come from it"),
    Step("Link Connect to the database and the org",
         ("heroku connect:db:set --db DATABASE_URL --schema salesforce --app {app}",
          "heroku connect:sf:auth --app {app}"),
         "nothing: make run starts the local org and the local Connect already linked",
         "authorizing the org is an OAuth flow in a browser: app.json cannot do it"),
    Step("Create the custom object and fields the mapping needs",
         ("heroku config:set SF_USERNAME=<user> SF_PASSWORD=<password> SF_SECURITY_TOKEN=<token> --app {app}",
          "heroku run python manage.py org setup --app {app}"),
         "make manage ARGS='org setup'",
         "add SF_DOMAIN=test for a sandbox; the tools log in with these, the app itself never calls Salesforce"),
    Step("Check the mapping against the org",
         ("heroku run python manage.py connect validate --app {app}",),
         "make manage ARGS='connect validate'",
         "connect:import does not validate: this does, one line per problem"),
    Step("Import the mapping",
         ("heroku connect:import sql/connect/mapping.json --app {app}",),
         "nothing: make run builds the schema from the same file",
         "Connect creates the tables in schema salesforce and starts the initial load"),
    Step("Load demo data into the org",
         ("heroku run python manage.py org seed --app {app}",),
         "make manage ARGS='org seed'",
         "a small data set under the demo plan's 10,000 synced rows; Connect syncs it into Postgres"),
    Step("Invite a portal user",
         ("heroku run python manage.py invite <contact-email> --app {app}",),
         "make run prints the demo logins",
         "prints the invitation link (it starts with APP_URL)"),
    Step("Add the Scheduler jobs",
         ("heroku addons:open scheduler --app {app}",),
         "nothing: the worker's RQ scheduler runs them (python manage.py sync-health schedule)",
         "Scheduler jobs are created in the dashboard only", scheduler=True),
    Step("Test the sync both ways",
         ("heroku run python manage.py verify-sync --timeout 900 --app {app}",),
         "make verify-sync",
         "Postgres -> Salesforce -> Postgres; Connect polls every 10 minutes by default"),
    Step("Check the whole deploy",
         ("heroku run python manage.py doctor --app {app}",),
         "make manage ARGS=doctor",
         "every part a working deploy needs, each with what to do when it fails"),
)


def steps_text(app: str | None, schema: str = "salesforce") -> str:
    """The steps as postdeploy prints them, with the app's name (or a placeholder) in every command."""
    name = app or APP_PLACEHOLDER
    lines = [f"Next steps for {name} (Heroku Connect cannot be finished from app.json; docs/deploy.md):"]
    for number, step in enumerate(STEPS, 1):
        lines.append(f"  {number}. {step.title}")
        for command in step.heroku:
            lines.append("       " + command.format(app=name).replace("--schema salesforce", f"--schema {schema}"))
        if step.scheduler:
            lines += [f"       [ ] {job.command}   ({job.every})" for job in SCHEDULER_JOBS]
    return "\n".join(lines) + "\n"
