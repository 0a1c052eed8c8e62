"""Durable storage: SQLAlchemy Core tables, engines for SQLite and PostgreSQL, migrations."""
