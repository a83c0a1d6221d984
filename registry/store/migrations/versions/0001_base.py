"""Schema version 1: the layers, projects and registry_meta that ``Store.create`` builds.

Registries written before migrations existed carry this schema without a version table; upgrading
one records this revision first and then runs the later ones.

Revision ID: 0001
"""

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to do: the stores create this schema themselves."""
