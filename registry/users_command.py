"""``registry user add|list|disable|reset``: the registry's accounts (see ``registry.accounts``).

``add`` and ``reset`` print the password (for the sign-in page) and the API token (for programs and QGIS)
once; the store keeps only their hashes. ``registry.cli`` registers the group.
"""

from __future__ import annotations

import click

from . import accounts, model
from .cli_options import STORE_OPTION, print_table
from .store import open_store, store_location


def _print_credentials(credentials: accounts.Credentials) -> None:
    click.echo(f"account:  {credentials.name}")
    click.echo(f"password: {credentials.password}")
    click.echo(f"token:    {credentials.token}")
    click.echo("Both are shown only now; the registry keeps their hashes. Send the token as "
               "'Authorization: Bearer TOKEN' or as the password of HTTP Basic (QGIS).")


@click.group("user")
def user_command() -> None:
    """Accounts: add, list, disable, reset (roles viewer, editor, admin)."""


@user_command.command("add")
@STORE_OPTION
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(list(model.ROLES)),
              help="viewer reads; editor changes its department's projects; admin does everything.")
@click.option("--department", default=None,
              help="The lead department (code, Traditional or Simplified name); editors need one.")
def user_add(store: str | None, name: str, role: str, department: str | None) -> None:
    """Create an account and print its password and API token once."""
    _print_credentials(accounts.add(open_store(store_location(store)), name, role, department))


@user_command.command("list")
@STORE_OPTION
def user_list(store: str | None) -> None:
    """List the accounts (no secrets: only their hashes are stored)."""
    users = accounts.list_users(open_store(store_location(store)))
    print_table(["name", "role", "department", "state", "created"],
                [[u.name, u.role, u.department or "-", "disabled" if u.disabled else "active", u.created_at]
                 for u in users])


@user_command.command("disable")
@STORE_OPTION
@click.argument("name")
def user_disable(store: str | None, name: str) -> None:
    """Refuse an account from now on (password, token and signed-in sessions); `user reset` re-enables it."""
    user = accounts.disable(open_store(store_location(store)), name)
    click.echo(f"disabled account {user.name}")


@user_command.command("reset")
@STORE_OPTION
@click.argument("name")
def user_reset(store: str | None, name: str) -> None:
    """Give an account a new password and token (the old ones stop working) and print them once."""
    _print_credentials(accounts.reset(open_store(store_location(store)), name))
