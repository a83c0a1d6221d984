"""Versioned schema migrations of both stores (Alembic); ``registry.store.schema`` runs them."""
