"""``python -m registry`` runs the CLI."""

from .cli import main

main()
