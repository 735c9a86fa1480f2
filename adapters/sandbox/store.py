"""What a sandbox remembers, in one SQLite file (SQLAlchemy): messages, cases, events.

Kept so that tests and operators can ask "how many times did MessageId X arrive?" and so that
a repeat is answered with the stored receipt (re-signed only after a key change). Times are
stored as naive UTC and handed back aware.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import (
    DateTime,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Aware datetimes in, aware UTC datetimes out (SQLite has no time zones)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: object) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(
        self, value: dt.datetime | None, dialect: object
    ) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.UTC)


class Base(DeclarativeBase):
    pass


class MessageRow(Base):
    """Every message received, whatever became of it (outcome: new, duplicate, fault code…)."""

    __tablename__ = "messages"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str | None] = mapped_column(String(64), index=True)
    case_ref: Mapped[str | None] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    agency: Mapped[str | None] = mapped_column(String(32))
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class CaseRow(Base):
    __tablename__ = "cases"
    case_ref: Mapped[str] = mapped_column(String(64), primary_key=True)
    agency_case_ref: Mapped[str] = mapped_column(String(64), unique=True)
    agency: Mapped[str] = mapped_column(String(32))
    service_code: Mapped[str] = mapped_column(String(64))
    scenario: Mapped[str] = mapped_column(String(32))
    first_message_id: Mapped[str] = mapped_column(String(64))
    fingerprint: Mapped[str] = mapped_column(String(64))
    #: the signed receipt as last sent: a repeat gets these bytes back (re-signed and replaced
    #: only when the agency's key changed since)
    receipt: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    #: when the first supplement arrived (None: none yet)
    supplemented_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)


class SupplementRow(Base):
    __tablename__ = "supplements"
    message_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    case_ref: Mapped[str] = mapped_column(String(64), index=True)
    receipt: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class RequestedDocumentRow(Base):
    """The agency document type a 補正 (INFO_REQUIRED) of the case asks for."""

    __tablename__ = "requested_documents"
    case_ref: Mapped[str] = mapped_column(String(64), primary_key=True)
    document_type: Mapped[str] = mapped_column(String(64))


class EventRow(Base):
    """A status event once due ("emitted"); ``pushed_at`` set when a push was acknowledged."""

    __tablename__ = "events"
    case_ref: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(32))
    changed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    #: message id of the notice carrying this event: the same on every (re)send
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    remarks: Mapped[str | None] = mapped_column(Text, nullable=True)
    pushed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)


def open_database(path: str | Path) -> sessionmaker[Session]:
    """Create the tables if needed and return a session factory (safe across threads)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        f"sqlite:///{Path(path)}",
        connect_args={"check_same_thread": False, "timeout": 30},
    )
    _sqlite_pragmas(engine)
    Base.metadata.create_all(engine)
    return sessionmaker(engine, expire_on_commit=False)


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(connection: object, _record: object) -> None:
        cursor = connection.cursor()  # type: ignore[attr-defined]
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


class SandboxStore:
    """Read-only questions tests and operators ask about a sandbox database."""

    def __init__(self, database: str | Path | sessionmaker[Session]):
        self._sessions = database if isinstance(database, sessionmaker) else open_database(database)

    def count_messages(
        self,
        *,
        message_id: str | None = None,
        case_ref: str | None = None,
        kind: str | None = None,
        outcome: str | None = None,
    ) -> int:
        query = select(func.count()).select_from(MessageRow)
        for column, value in (
            (MessageRow.message_id, message_id),
            (MessageRow.case_ref, case_ref),
            (MessageRow.kind, kind),
            (MessageRow.outcome, outcome),
        ):
            if value is not None:
                query = query.where(column == value)
        with self._sessions() as session:
            return session.scalar(query) or 0

    def count_cases(self, case_ref: str | None = None) -> int:
        query = select(func.count()).select_from(CaseRow)
        if case_ref is not None:
            query = query.where(CaseRow.case_ref == case_ref)
        with self._sessions() as session:
            return session.scalar(query) or 0

    def agency_case_ref(self, case_ref: str) -> str | None:
        """The agency's own number for the case (None: no such case)."""
        with self._sessions() as session:
            row = session.get(CaseRow, case_ref)
            return None if row is None else row.agency_case_ref

    def statuses(self, case_ref: str) -> list[str]:
        """The canonical statuses the case has reached so far (emitted events), by seq."""
        query = select(EventRow.status).where(EventRow.case_ref == case_ref).order_by(EventRow.seq)
        with self._sessions() as session:
            return list(session.scalars(query))

    def count_events(self, case_ref: str | None = None) -> int:
        query = select(func.count()).select_from(EventRow)
        if case_ref is not None:
            query = query.where(EventRow.case_ref == case_ref)
        with self._sessions() as session:
            return session.scalar(query) or 0
