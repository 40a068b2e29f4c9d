"""Storage: schema, migrations and queries. SQLite by default, any SQLAlchemy URL by setting."""
