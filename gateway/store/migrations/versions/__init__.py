"""Alembic revisions; a package so the revisions ship inside the wheel."""
