"""Persistence: SQLAlchemy 2 async models, query verbs and Alembic migrations.

Only this package builds SQL. It imports nothing of chatd's but protocol's value types.

Exception tree::

    StorageError
    ├── NotFound          the row does not exist (or the caller may not see it)
    └── Duplicate         a unique key already holds a row
"""

from storage.database import Database, Transaction
from storage.errors import Duplicate, NotFound, StorageError

__all__ = ["Database", "Duplicate", "NotFound", "StorageError", "Transaction"]
