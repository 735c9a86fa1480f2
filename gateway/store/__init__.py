"""The durable store: SQLAlchemy 2 tables and Alembic migrations for SQLite and PostgreSQL.

``db`` makes engines, sessions and transactions and upgrades the schema; ``cases`` files a
case with its signed submission and outbox row in one transaction; ``queries`` gives
operators lists and timelines; ``items`` keeps service item versions. The outbox state
machine lives in ``gateway.outbox``.
"""

from gateway.store.cases import ApplicationConflict, file_case
from gateway.store.db import (
    SchemaNotCurrent,
    ensure_schema,
    make_engine,
    session_factory,
    transaction,
    upgrade,
)
from gateway.store.items import ItemVersionConflict, record_item
from gateway.store.queries import CaseDetail, CaseSummary, list_cases, show_case

__all__ = [
    "ApplicationConflict",
    "CaseDetail",
    "CaseSummary",
    "ItemVersionConflict",
    "SchemaNotCurrent",
    "ensure_schema",
    "file_case",
    "list_cases",
    "make_engine",
    "record_item",
    "session_factory",
    "show_case",
    "transaction",
    "upgrade",
]
