"""LAPI persistence: SQLAlchemy models, engines, migrations, and the queries of each resource."""

from crowdwatch.lapi.storage.engine import Database, DatabaseError, open_database

__all__ = ["Database", "DatabaseError", "open_database"]
