"""``registry user add|list|set|disable|reset``: the registry's accounts (see ``registry.accounts``).

``add`` and ``reset`` print the password (for the sign-in page) and the API token (for programs and QGIS)
once; the store keeps only their hashes. ``registry.cli`` registers the group.
"""

from __future__ import annotations

import click

from . import accounts, model
from .cli_options import STORE_OPTION, print_table, use_registry_script
from .i18n import gettext
from .store import Store, open_store, store_location

_SCRIPT_OPTION = click.option("--script", "chosen_script", default=None, metavar="zh-Hans|zh-Hant",
                              help="The script the account sees (it ranks below lang= and above the pages' switch "
                                   "and Accept-Language); empty: follow the browser, then the registry's default.")


def _store(location: str | None) -> Store:
    """The registry a command changes; its messages from now on in --lang or the registry's script."""
    opened = open_store(store_location(location))
    use_registry_script(opened)
    return opened


def _print_credentials(credentials: accounts.Credentials) -> None:
    click.echo(gettext("account:  %(name)s", name=credentials.name))
    click.echo(gettext("password: %(password)s", password=credentials.password))
    click.echo(gettext("token:    %(token)s", token=credentials.token))
    click.echo(gettext("Both are shown only now; the registry keeps their hashes. Send the token as "
                       "'Authorization: Bearer TOKEN' or as the password of HTTP Basic (QGIS)."))


@click.group("user")
def user_command() -> None:
    """Accounts: add, list, disable, reset (roles viewer, editor, admin)."""


@user_command.command("add")
@STORE_OPTION
@_SCRIPT_OPTION
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(list(model.ROLES)),
              help="viewer reads; editor changes its department's projects; admin does everything.")
@click.option("--department", default=None,
              help="The lead department (code, Traditional or Simplified name); editors need one.")
def user_add(store: str | None, name: str, role: str, department: str | None, chosen_script: str | None) -> None:
    """Create an account and print its password and API token once."""
    _print_credentials(accounts.add(_store(store), name, role, department, chosen_script))


@user_command.command("list")
@STORE_OPTION
def user_list(store: str | None) -> None:
    """List the accounts (no secrets: only their hashes are stored)."""
    users = accounts.list_users(_store(store))
    print_table([gettext("Account"), gettext("Role"), gettext("Department"), gettext("State"), gettext("Created"),
                 gettext("Script")],
                [[u.name, u.role, u.department or "-", gettext("disabled") if u.disabled else gettext("active"),
                  u.created_at, u.script or "-"] for u in users])


@user_command.command("set")
@STORE_OPTION
@click.argument("name")
@click.option("--script", "chosen_script", required=True, metavar="zh-Hans|zh-Hant",
              help="The script the account sees; \"\" clears it (then the browser's Accept-Language decides).")
def user_set(store: str | None, name: str, chosen_script: str | None) -> None:
    """Change an account's settings: its display script (--script zh-Hans|zh-Hant; --script "" clears it)."""
    user = accounts.set_script(_store(store), name, chosen_script)
    click.echo(gettext("account %(name)s: script %(script)s", name=user.name,
                       script=user.script or gettext("as the browser asks")))


@user_command.command("disable")
@STORE_OPTION
@click.argument("name")
def user_disable(store: str | None, name: str) -> None:
    """Refuse an account from now on (password, token and signed-in sessions); `user reset` re-enables it."""
    user = accounts.disable(_store(store), name)
    click.echo(gettext("disabled account %(name)s", name=user.name))


@user_command.command("reset")
@STORE_OPTION
@click.argument("name")
def user_reset(store: str | None, name: str) -> None:
    """Give an account a new password and token (the old ones stop working) and print them once."""
    _print_credentials(accounts.reset(_store(store), name))
