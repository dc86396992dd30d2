"""The data layer: one pooled Postgres, transactions owned by the edge, plain-SQL migrations."""

from shared.kit.db.database import Database, open_database
from shared.kit.db.migrate import migrate

__all__ = ["Database", "migrate", "open_database"]
