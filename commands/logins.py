"""`python manage.py invite …`, `create-demo-users` and `api-token …`: portal logins made by an operator."""

import click

from core import config, db, logins


def _base_url(base_url: str | None, cfg: config.Config) -> str:
    """Where invitation links point: the option, $APP_URL, or the local app."""
    return (base_url or cfg.public_url()).rstrip("/")


@click.command()
@click.argument("contact")
@click.option("--base-url", help="The app's public URL (default: $APP_URL, else http://localhost:5000).")
def invite(contact, base_url):
    """Invite CONTACT (Salesforce Id, external id or email) and print the invitation link."""
    cfg = config.load()
    with db.connect(cfg.database_url) as conn:
        try:
            user, token = logins.invite(conn, cfg.connect_schema, cfg.app_schema, contact)
        except logins.LoginError as exc:
            raise click.ClickException(str(exc)) from None
    days = logins.INVITATION_TTL.days
    click.echo(f"Invitation for {user['email']} (valid {days} days; inviting again replaces it):")
    click.echo(f"  {_base_url(base_url, cfg)}/invitation/{token}")


@click.command("create-demo-users")
@click.option("--count", default=3, show_default=True, help="How many demo logins.")
def create_demo_users(count):
    """Create demo logins with known passwords (refused in production)."""
    cfg = config.load()
    if cfg.environment == "production":
        raise click.ClickException("Demo logins have published passwords: not in production (APP_ENV=production).")
    with db.connect(cfg.database_url) as conn:
        users = logins.create_demo_users(conn, cfg.connect_schema, cfg.app_schema, count)
    for line in demo_lines(users):
        click.echo(line)


def demo_lines(users: list[dict]) -> list[str]:
    """Lines that show the demo logins (make run prints them too)."""
    if not users:
        return ["No demo logins: load the demo data first."]
    return ["Demo logins (email / password):"] + [
        f"  {u['email']} / {u['password']}   (account {u['account']})" for u in users
    ]


@click.command("api-token")
@click.argument("email")
@click.option("--name", default="cli", show_default=True, help="A label to recognise the token by.")
def api_token(email, name):
    """Create an API token for the login EMAIL and print it (only its hash is stored)."""
    cfg = config.load()
    with db.connect(cfg.database_url) as conn:
        user = logins.user_by(conn, cfg.connect_schema, cfg.app_schema, email=email)
        if user is None:
            raise click.ClickException(f"No portal login for {email!r}.")
        token = logins.create_api_token(conn, cfg.app_schema, user["id"], name)
    click.echo(token)

