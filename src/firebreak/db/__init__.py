"""Storage: engines, the declarative base, migrations."""

from firebreak.db.base import Base
from firebreak.db.engine import Database

__all__ = ["Base", "Database"]
