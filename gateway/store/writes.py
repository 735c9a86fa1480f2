"""Rows a batch of applied status reports writes at once, at its end.

Applied one by one, every agency event cost up to ten statements: a case event's number came
from ``UPDATE … RETURNING``, each notification was a count and two INSERTs. Here the batch's
cases are loaded and locked together (the ORM's identity map then answers ``session.get``),
case events are numbered on the loaded rows, and each table gets one multi-row INSERT in
:meth:`Writes.flush`. Code that writes on its own (a supplement request, a closed case's
given-up gap) runs inside :meth:`Writes.alone`: pending rows are written first and the
case's row is read again after, so its numbers stay right.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, bindparam, func, insert, inspect, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from gateway.store.among import among, dialect_of, inline
from gateway.store.bulk import insert_linked, insert_rows, pipelined, plain_rows, update_rows
from gateway.store.events import event_row
from gateway.store.outbound import outbound_rows
from gateway.store.tables import AgencyEvent, Case, CaseEvent, Message, Outbox, table_of
from gateway.store.vocab import Direction, OutboxKind

#: an outbound message's primary key, by its message id (unique per direction)
_message_pk = (
    select(Message.id)
    .where(Message.direction == Direction.OUT, Message.message_id == bindparam("message_id"))
    .scalar_subquery()
)


@lru_cache(maxsize=4)
def _notification_counts(dialect: str) -> Any:
    return (
        select(Outbox.case_ref, func.count())
        .where(
            among(dialect, Outbox.case_ref, "refs"), Outbox.kind == inline(OutboxKind.NOTIFICATION)
        )
        .group_by(Outbox.case_ref)
    )


@lru_cache(maxsize=4)
def _applications(dialect: str) -> Any:
    return select(Case.case_ref, Case.application).where(among(dialect, Case.case_ref, "refs"))


@lru_cache(maxsize=1)
def _case_columns() -> Any:
    """A case's columns but its sealed texts (a batch never changes those)."""
    sealed = {"application", "texts"}
    columns = [column for column in table_of(Case).c if column.key not in sealed]
    return select(*columns).where(table_of(Case).c.case_ref == bindparam("ref"))


class Writes:
    """Pending INSERTs of one transaction; the ``cases`` they touch must be loaded in
    ``session`` and locked (``FOR UPDATE``; SQLite's writer lock) before the first one is
    added. A case detached from the session after loading (a batch's) has its changed
    columns written here too; code that loads it again must do so in :meth:`alone`."""

    def __init__(self, session: Session, cases: Iterable[Case] = ()):
        self.session = session
        #: the batch's loaded, locked cases by number (cheaper than the identity map's get)
        self.cases = {case.case_ref: case for case in cases}
        self._case_refs = set(self.cases)  # whose notification counts one query fetches
        self._agency_events: list[dict[str, Any]] = []
        self._case_events: list[dict[str, Any]] = []
        self._outbound: list[tuple[dict[str, Any], dict[str, Any]]] = []
        self._notifications: dict[str, int] = {}
        self._applications: dict[str, dict[str, Any]] = {}
        self._updates: list[tuple[Table, list[dict[str, Any]], str]] = []

    def track(self, cases: Iterable[Case]) -> None:
        """More loaded, locked cases, as if given when built."""
        for case in cases:
            self.cases[case.case_ref] = case
            self._case_refs.add(case.case_ref)

    def agency_event(self, **row: Any) -> None:
        self._agency_events.append(row)

    def case_event(
        self, case: Case, *, now: dt.datetime, state: str | None = None, **fields: Any
    ) -> int:
        """What :func:`gateway.store.events.append_event` does (the same arguments), numbered
        on the locked row."""
        case.event_count += 1
        case.updated_at = now
        if state is not None:
            case.state = state
        self._case_events.append(
            event_row(case.case_ref, case.event_count, now=now, state=state, **fields)
        )
        return case.event_count

    def next_notification(self, case_ref: str) -> int:
        """The case's next notification number (1, 2, 3…), as :func:`gateway.notify.notify`
        counts them: its notification outbox rows, pending ones included."""
        if case_ref not in self._notifications:
            refs = (self._case_refs | {case_ref}) - set(self._notifications)
            counts = plain_rows(
                self.session, _notification_counts(dialect_of(self.session)), {"refs": list(refs)}
            )
            self._notifications.update(dict.fromkeys(refs, 0))
            self._notifications.update({ref: n for ref, n in counts if ref is not None})
        self._notifications[case_ref] += 1
        return self._notifications[case_ref]

    def application(self, case_ref: str) -> dict[str, Any]:
        """The case's stored application (decrypted), read once for all the batch's cases
        the first time one is needed (a result notification names the delivery channel)."""
        if case_ref not in self._applications:
            refs = (self._case_refs | {case_ref}) - set(self._applications)
            with self.session.no_autoflush:
                rows = self.session.execute(
                    _applications(dialect_of(self.session)), {"refs": list(refs)}
                ).all()
            self._applications.update({ref: application for ref, application in rows})
        return self._applications[case_ref]

    def outbound(self, **document: Any) -> str:
        """What :func:`gateway.store.outbound.add_outbound` does (the same arguments but the
        session); return the outbox id."""
        message, outbox = outbound_rows(**document)
        self._outbound.append((message, outbox))
        return str(outbox["id"])

    def update(self, table: Table, rows: list[dict[str, Any]], *, key: str = "id") -> None:
        """What :func:`gateway.store.bulk.update_rows` does, with the other writes."""
        if rows:
            self._updates.append((table, rows, key))

    def flush(self) -> None:
        """Write everything pending: changed cases, one bulk INSERT (:mod:`gateway.store.bulk`)
        a table (messages with their outbox rows in one), then the queued updates, all in one
        round trip on PostgreSQL."""
        session = self.session
        session.flush()
        messages = [message for message, _ in self._outbound]
        outbox = [row for _, row in self._outbound]
        postgresql = session.get_bind().dialect.name == "postgresql"
        cases = self._changed_cases()
        if not (cases or self._agency_events or self._case_events or messages or self._updates):
            return
        with pipelined(session):
            for rows in cases:
                update_rows(session, table_of(Case), rows, key="case_ref")
            insert_rows(session, table_of(AgencyEvent), self._agency_events)
            insert_rows(session, table_of(CaseEvent), self._case_events)
            if postgresql:  # each outbox row names its message by its id: one statement
                insert_linked(
                    session,
                    table_of(Message),
                    messages,
                    table_of(Outbox),
                    [
                        {**row, "message_id": m["message_id"]}
                        for m, row in zip(messages, outbox, strict=True)
                    ],
                    by="message_id",
                    to="message_pk",
                )
            elif messages:
                # plain multi-row INSERTs: each outbox row finds its message by the unique id
                session.execute(insert(table_of(Message)), messages)
                session.execute(
                    insert(table_of(Outbox)).values(message_pk=_message_pk),
                    [
                        {**row, "message_id": m["message_id"]}
                        for m, row in zip(messages, outbox, strict=True)
                    ],
                )
            for table, rows, key in self._updates:
                update_rows(session, table, rows, key=key)
        self._agency_events, self._case_events, self._outbound = [], [], []
        self._updates = []

    def _changed_cases(self) -> list[list[dict[str, Any]]]:
        """The changed columns of the batch's detached cases, a list of rows for each set of
        columns changed (one UPDATE each). The ORM's flush bound and emitted one UPDATE a case
        (~40 µs of CPU a case in a batch of 64). A case changed again after a flush is
        written again whole."""
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for case in self.cases.values():
            state = inspect(case)
            if not state.detached or not state.committed_state:
                continue  # persistent: the ORM's flush writes it
            changed = {key: state.dict[key] for key in state.committed_state}
            groups.setdefault(tuple(changed), []).append({"case_ref": case.case_ref, **changed})
        return list(groups.values())

    @contextmanager
    def alone(self, case: Case) -> Iterator[None]:
        """Run code that reads and writes ``case``'s rows with its own statements."""
        self.flush()
        yield
        self.session.flush()
        # it may have numbered events or notifications itself (UPDATE … RETURNING, counts)
        if inspect(case).detached:
            self._reload(case)
        else:
            self.session.expire(case)
        self._notifications.pop(case.case_ref, None)

    def _reload(self, case: Case) -> None:
        """A detached case's columns as the row now holds them (code run alone may have
        loaded the case itself: that copy leaves the session, so none but ours is used)."""
        key = identity_key(Case, case.case_ref)
        other = self.session.identity_map.get(key)
        if other is not None:
            self.session.expunge(other)
        row = self.session.execute(_case_columns(), {"ref": case.case_ref}).one()
        for name, value in row._mapping.items():
            set_committed_value(case, name, value)
