"""Alembic migrations of the rlem schema, installed as `memory_store.migrations`."""
