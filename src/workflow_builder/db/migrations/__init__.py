"""Alembic migrations. Revisions are plain SQL; `rls` holds the policy shapes they share."""
