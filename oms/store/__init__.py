"""Persistence: SQLAlchemy 2 tables, Alembic-owned schema, a hot-path writer and readers."""
