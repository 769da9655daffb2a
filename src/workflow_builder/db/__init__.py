"""Database access: engine, units of work (as a user or as the system), migrations."""

from workflow_builder.db.engine import Database, get_database, set_database
from workflow_builder.db.session import anon_session, system_session, user_session

__all__ = [
    "Database",
    "anon_session",
    "get_database",
    "set_database",
    "system_session",
    "user_session",
]
