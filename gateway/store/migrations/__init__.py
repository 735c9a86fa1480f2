"""Alembic environment and revisions for the store (run through ``gateway.store.db.upgrade``)."""
