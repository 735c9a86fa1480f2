"""Bulk writes (one INSERT or UPDATE of arrays on PostgreSQL) leave exactly the rows that
SQLAlchemy's INSERT and UPDATE leave: sealed documents byte for byte, JSON, aware instants,
column defaults; and their errors are SQLAlchemy's, so callers' handlers still catch them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError, StatementError
from sqlalchemy.orm import Session

from gateway.store import file_case, transaction
from gateway.store.among import among, inline
from gateway.store.bulk import (
    insert_linked,
    insert_new_rows,
    insert_rows,
    pipelined,
    plain_rows,
    update_rows,
)
from gateway.store.tables import AgencyEvent, Message, Outbox, table_of
from gateway.store.testing import Backend, filing
from gateway.store.writes import Writes

T0 = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
#: every byte value, backslashes, NULs and a tab among them, and more than one COPY buffer
AWKWARD = bytes(range(256)) * 300


def message(n: int, **changes: Any) -> dict[str, Any]:
    return {
        "case_ref": None,
        "direction": "in",
        "kind": "StatusNotice",
        "message_id": f"sha256:{n:064x}",
        "counterpart": "HK-TD" if n % 2 else None,
        "sha256": f"{n:064x}",
        "body": AWKWARD + str(n).encode(),
        "via": "push",
        "verified": False,
        "quarantine_reason": "unverified\t\\N 未核實",
        "created_at": T0 + dt.timedelta(microseconds=n),
        **changes,
    }


def outbox_row(n: int, message_pk: int | None) -> dict[str, Any]:
    """A pending notification's outbox row, without ``attempts`` (the column's default)."""
    return {
        "id": f"00000000-0000-4000-8000-{n:012d}",
        "message_pk": message_pk,
        "case_ref": None,
        "kind": "notification",
        "destination": "guangdong",
        "state": "pending",
        "next_attempt_at": T0,
        "created_at": T0,
        "updated_at": T0,
    }


def test_bulk_inserted_rows_read_back_as_inserted_ones(db: Backend) -> None:
    with transaction(db.factory) as session:
        session.execute(insert(table_of(Message)), [message(1), message(2)])
        insert_rows(session, table_of(Message), [message(3), message(4)])
    with transaction(db.factory, read_only=True) as session:
        rows = session.scalars(select(Message).order_by(Message.id)).all()
    for row, n in zip(rows, (1, 2, 3, 4), strict=True):
        assert {name: getattr(row, name) for name in message(n)} == message(n)


def test_sealed_text_json_and_defaults_survive(db: Backend) -> None:
    with transaction(db.factory) as session:
        session.execute(insert(table_of(Message)), [message(1)])
        pk = session.scalar(select(Message.id))
        file_case(session, **filing(1), now=T0)
        event = {
            "case_ref": filing(1)["case_ref"],
            "seq": 7,
            "agency_status": "INFO_REQUIRED",
            "status": "INFO_REQUIRED",
            "changed_at": T0,
            "remarks": "請補交住址證明 \\ \t 完",
            "details": {"required_documents": [{"type": "ADDR", "名稱": "住址"}], "n": None},
            "message_pk": pk,
            "source": "push",
            "recorded_at": T0,
        }
        insert_rows(session, table_of(AgencyEvent), [event])
        outbox = outbox_row(1, pk)  # no "attempts": the column's default (0) is written
        insert_rows(session, table_of(Outbox), [outbox])
    with transaction(db.factory, read_only=True) as session:
        stored = session.scalars(select(AgencyEvent)).one()
        assert stored.remarks == event["remarks"] and stored.details == event["details"]
        assert stored.changed_at == T0 and stored.changed_at.tzinfo is not None
        assert session.get(Outbox, outbox["id"]).attempts == 0  # type: ignore[union-attr]


def test_a_duplicate_is_sqlalchemys_integrity_error_and_the_transaction_goes_on(
    db: Backend,
) -> None:
    with transaction(db.factory) as session:
        insert_rows(session, table_of(Message), [message(1), message(2)])
        with pytest.raises(IntegrityError), session.begin_nested():
            insert_rows(session, table_of(Message), [message(3), message(1)])
        insert_rows(session, table_of(Message), [message(5), message(6)])
    with transaction(db.factory, read_only=True) as session:
        assert session.scalars(select(Message.sha256).order_by(Message.id)).all() == [
            f"{n:064x}" for n in (1, 2, 5, 6)
        ]


def test_update_rows_changes_only_the_named_rows_and_columns(db: Backend) -> None:
    with transaction(db.factory) as session:
        insert_rows(session, table_of(Message), [message(n) for n in (1, 2, 3)])
        ids = session.scalars(select(Message.id).order_by(Message.id)).all()
        update_rows(
            session,
            table_of(Message),
            [
                {"id": ids[0], "verified": True, "quarantine_reason": None, "counterpart": "A"},
                {"id": ids[2], "verified": True, "quarantine_reason": None, "counterpart": None},
            ],
        )
    with transaction(db.factory, read_only=True) as session:
        rows = session.scalars(select(Message).order_by(Message.id)).all()
    assert [(r.verified, r.quarantine_reason, r.counterpart) for r in rows] == [
        (True, None, "A"),
        (False, "unverified\t\\N 未核實", None),
        (True, None, None),
    ]
    assert all(r.body == AWKWARD + str(n).encode() for r, n in zip(rows, (1, 2, 3), strict=True))


def test_updated_sealed_bytes_instants_and_repeated_keys_read_back_as_written(
    db: Backend,
) -> None:
    later = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    with transaction(db.factory) as session:
        insert_rows(session, table_of(Message), [message(n) for n in (1, 2)])
        ids = session.scalars(select(Message.id).order_by(Message.id)).all()
        update_rows(
            session,
            table_of(Message),
            [
                {"id": ids[0], "body": b"first", "created_at": later},
                {"id": ids[1], "body": AWKWARD[::-1], "created_at": T0},
            ],
        )
        with session.no_autoflush:
            read = session.execute(select(Message.body, Message.created_at).order_by(Message.id))
            assert read.all() == [(b"first", later), (AWKWARD[::-1], T0)]
        update_rows(
            session,
            table_of(Message),
            [
                {"id": ids[0], "body": b"not this", "created_at": T0},
                {"id": ids[0], "body": b"\x00\\N last", "created_at": later},  # the last wins
            ],
        )
    with transaction(db.factory, read_only=True) as session:
        rows = session.scalars(select(Message).order_by(Message.id)).all()
    assert [(r.body, r.created_at) for r in rows] == [
        (b"\x00\\N last", later),
        (AWKWARD[::-1], T0),
    ]


#: text that PostgreSQL's array syntax quotes or escapes (the arrays are sent in binary)
ARRAY_SYNTAX = ["", "NULL", "null", "{a,b}", 'say "hi"', "back\\slash", " edge ", "逗號,　全形空格"]


def test_updated_text_array_syntax_would_quote_and_an_all_null_column_read_back(
    db: Backend,
) -> None:
    numbers = range(1, len(ARRAY_SYNTAX) + 1)
    with transaction(db.factory) as session:
        insert_rows(session, table_of(Message), [message(n) for n in numbers])
        ids = session.scalars(select(Message.id).order_by(Message.id)).all()
        update_rows(
            session,
            table_of(Message),
            [
                {"id": pk, "quarantine_reason": text, "counterpart": None}
                for pk, text in zip(ids, ARRAY_SYNTAX, strict=True)
            ],
        )
    with transaction(db.factory, read_only=True) as session:
        rows = session.execute(
            select(Message.quarantine_reason, Message.counterpart).order_by(Message.id)
        ).all()
    assert [tuple(r) for r in rows] == [(text, None) for text in ARRAY_SYNTAX]


def test_a_batch_s_outbox_rows_point_at_their_own_messages(db: Backend) -> None:
    with transaction(db.factory) as session:
        writes = Writes(session)
        ids = [
            writes.outbound(
                kind="notification",
                destination="guangdong",
                document=f'{{"n": {n}}}'.encode(),
                message_id=f"event-{n}",
                message_kind="case.progress",
                case_ref=None,
                now=T0,
            )
            for n in range(5)
        ]
        writes.flush()
    with transaction(db.factory, read_only=True) as session:
        pairs = session.execute(
            select(Outbox.id, Message.message_id, Message.body)
            .join(Message, Message.id == Outbox.message_pk)
            .order_by(Message.id)
        ).all()
    assert [tuple(p) for p in pairs] == [
        (ids[n], f"event-{n}", f'{{"n": {n}}}'.encode()) for n in range(5)
    ]


def test_rows_in_another_key_order_are_written_and_other_keys_are_refused_as_sqlalchemy_does(
    db: Backend,
) -> None:
    reordered = [dict(reversed(list(message(1).items()))), message(2)]
    # as many keys, not the same ones: the first row's columns do not fit the second
    mismatched = [{k: v for k, v in message(3).items() if k != "via"} | {"id": 10**6}, message(4)]
    with transaction(db.factory) as session:
        insert_rows(session, table_of(Message), reordered)
        with pytest.raises(StatementError, match="value is required for bind parameter 'id'"):
            insert_rows(session, table_of(Message), mismatched)
    with transaction(db.factory, read_only=True) as session:
        rows = session.scalars(select(Message).order_by(Message.id)).all()
    assert [r.body for r in rows] == [message(n)["body"] for n in (1, 2)]


def test_plain_rows_read_a_statements_rows_and_refuse_a_value_they_would_not_bind(
    db: Backend,
) -> None:
    with transaction(db.factory) as session:
        insert_rows(session, table_of(Message), [message(n) for n in (1, 2, 3)])
        by_digests = select(Message.sha256, Message.verified).where(
            Message.direction == inline("in"), among(db.name, Message.sha256, "digests")
        )
        wanted = [f"{n:064x}" for n in (1, 3, 9)]
        assert sorted(plain_rows(session, by_digests, {"digests": wanted})) == [
            (f"{1:064x}", False),
            (f"{3:064x}", False),
        ]
        assert plain_rows(session, by_digests, {"digests": []}) == []
        bound = select(Message.sha256).where(Message.direction == "in")  # a bound value
        if db.name == "postgresql":  # read through the driver: the value would go unprocessed
            with pytest.raises(TypeError, match="direction_1"):
                plain_rows(session, bound, {})
        else:
            assert len(plain_rows(session, bound, {})) == 3


def test_an_overlong_value_is_refused_or_kept_whole_never_cut(db: Backend) -> None:
    """The arrays are cast to the column's type without its length: a cast to
    ``character varying(64)`` would cut a longer value silently."""
    overlong = "K" * 65  # counterpart is String(64)
    with transaction(db.factory) as session:
        insert_rows(session, table_of(Message), [message(1)])
        pk = session.scalar(select(Message.id))
    for write in (
        lambda session: insert_rows(session, table_of(Message), [message(2, counterpart=overlong)]),
        lambda session: update_rows(
            session, table_of(Message), [{"id": pk, "counterpart": overlong}]
        ),
    ):
        try:
            with transaction(db.factory) as session:
                write(session)
        except DBAPIError as error:  # PostgreSQL: the column refuses it
            assert db.name == "postgresql" and "too long" in str(error)
    with transaction(db.factory, read_only=True) as session:
        stored = session.scalars(select(Message.counterpart)).all()
    assert all(value is None or value in ("HK-TD", overlong) for value in stored)


def test_insert_new_rows_skips_taken_keys_and_returns_the_new_rows(db: Backend) -> None:
    if db.name != "postgresql":
        pytest.skip("PostgreSQL's statement: SQLite stores through SQLAlchemy (tested above)")
    with transaction(db.factory) as session:
        insert_rows(session, table_of(Message), [message(1)])
        new = insert_new_rows(
            session,
            table_of(Message),
            [message(n) for n in (1, 2, 3)],
            key=("direction", "message_id"),
            returning=("sha256", "id"),
        )
        assert sorted(sha for sha, _ in new) == [f"{2:064x}", f"{3:064x}"]
        assert insert_new_rows(session, table_of(Message), [], key=("id",), returning=("id",)) == []
    with transaction(db.factory, read_only=True) as session:
        rows = session.execute(select(Message.sha256, Message.id).order_by(Message.id)).all()
    assert [r.sha256 for r in rows] == [f"{n:064x}" for n in (1, 2, 3)]
    assert {(r.sha256, r.id) for r in rows[1:]} == set(new)


def test_insert_new_rows_unless_skips_rows_whose_values_are_stored_under_another_key(
    db: Backend,
) -> None:
    """Bytes received before and verified since (their message id is the real one now) are
    not stored again: ``unless`` looks at the digest, whatever the key."""
    if db.name != "postgresql":
        pytest.skip("PostgreSQL's statement: SQLite stores through SQLAlchemy (tested above)")
    with transaction(db.factory) as session:
        verified = message(1, message_id="M-1", verified=True, quarantine_reason=None)
        insert_rows(session, table_of(Message), [verified])
        new = insert_new_rows(
            session,
            table_of(Message),
            [message(1), message(2), message(3, direction="out")],
            key=("direction", "message_id"),
            returning=("sha256",),
            unless=("direction", "sha256"),
        )
        assert sorted(sha for (sha,) in new) == [f"{2:064x}", f"{3:064x}"]
        # the same digest outbound is another row: only the direction's own rows count
        assert insert_new_rows(
            session,
            table_of(Message),
            [message(2, message_id="M-2", direction="out")],
            key=("direction", "message_id"),
            returning=("sha256",),
            unless=("direction", "sha256"),
        ) == [(f"{2:064x}",)]
    with transaction(db.factory, read_only=True) as session:
        rows = session.execute(select(Message.direction, Message.sha256).order_by(Message.id))
        stored = [(direction, sha[-1]) for direction, sha in rows]
    assert stored == [("in", "1"), ("in", "2"), ("out", "3"), ("out", "2")]


def test_insert_linked_gives_each_child_its_parents_new_key(db: Backend) -> None:
    if db.name != "postgresql":
        pytest.skip("PostgreSQL's statement: SQLite stores through SQLAlchemy")
    outbox = table_of(Outbox)

    def child(n: int, parent: int) -> dict[str, Any]:
        row = {**outbox_row(n, None), "message_id": f"M-{parent}"}
        del row["message_pk"]
        return row

    def link(session: Session, parents: list[int], children: list[dict[str, Any]]) -> None:
        sent = [message(n, direction="out", message_id=f"M-{n}") for n in parents]
        insert_linked(
            session, table_of(Message), sent, outbox, children, by="message_id", to="message_pk"
        )

    with transaction(db.factory) as session:
        insert_rows(session, table_of(Message), [message(9)])  # keys are not 1, 2, 3…
        # not in the parents' order; parent 2 gets two children, parent 1 none
        link(session, [1, 2, 3], [child(1, 3), child(2, 2), child(3, 2)])
        # one of each: every value the same in all rows but the link
        link(session, [4], [child(4, 4)])
        with pytest.raises(ValueError, match="M-7"):  # refused, not dropped by the join
            link(session, [5], [child(5, 7)])
    with transaction(db.factory, read_only=True) as session:
        linked = session.execute(
            select(Outbox.id, Message.message_id, Outbox.attempts)
            .join(Message, Message.id == Outbox.message_pk)
            .order_by(Outbox.id)
        ).all()
        stored = session.scalars(select(Message.message_id).order_by(Message.id)).all()
    assert [(pk[-1], message_id, attempts) for pk, message_id, attempts in linked] == [
        ("1", "M-3", 0),
        ("2", "M-2", 0),
        ("3", "M-2", 0),
        ("4", "M-4", 0),
    ]
    assert stored == ["sha256:" + f"{9:064x}", "M-1", "M-2", "M-3", "M-4"]


def test_pipelined_writes_land_together_and_a_failure_among_them_is_sqlalchemys(
    db: Backend,
) -> None:
    with transaction(db.factory) as session:
        with pipelined(session):
            insert_rows(session, table_of(Message), [message(1), message(2)])
            insert_rows(session, table_of(Message), [message(3)])
        with pytest.raises(IntegrityError), session.begin_nested(), pipelined(session):
            insert_rows(session, table_of(Message), [message(4)])
            insert_rows(session, table_of(Message), [message(1)])  # taken
            insert_rows(session, table_of(Message), [message(5)])
    with transaction(db.factory, read_only=True) as session:
        assert session.scalars(select(Message.sha256).order_by(Message.id)).all() == [
            f"{n:064x}" for n in (1, 2, 3)
        ]


def test_rows_alike_but_for_their_key_are_each_written_and_updated(db: Backend) -> None:
    """A column with one value in every row is sent once, not as an array: the rows are
    still counted from a column that varies."""
    with transaction(db.factory) as session:
        session.execute(insert(table_of(Message)), [message(1)])
        pk = session.scalar(select(Message.id))
        rows = [outbox_row(n, pk) for n in (1, 2, 3)]
        ids = [row["id"] for row in rows]
        insert_rows(session, table_of(Outbox), rows)
        update_rows(session, table_of(Outbox), [{"id": i, "state": "dead"} for i in ids[:2]])
    with transaction(db.factory, read_only=True) as session:
        stored = session.execute(select(Outbox.id, Outbox.state).order_by(Outbox.id)).all()
    assert [tuple(r) for r in stored] == list(zip(ids, ["dead", "dead", "pending"], strict=True))
