"""`python manage.py …`: the operations commands (commands/), run by the release phase, Heroku
Scheduler, one-off dynos and developers.

    python manage.py release        # what the Procfile's release: runs on every deploy
    python manage.py migrate        # apply the app schema's pending migrations
    python manage.py exports …      # CSV exports and the cleanup of old export files
    python manage.py invite …       # portal logins: invite, create-demo-users, api-token
    python manage.py postdeploy     # app.json's postdeploy: migrate, then print the steps left to do by hand
    python manage.py invoices run --period previous   # batch invoicing (docs/batch-invoicing.md)
    python manage.py --help         # every command
"""

from commands import cli
from core import config


def main():
    """Run the CLI, turning configuration errors into one clear line and exit code 2."""
    with config.exit_on_error():
        cli(standalone_mode=True)


if __name__ == "__main__":
    main()
