"""Key rotation without downtime: the new key first (both decrypt), re-encrypt in batches,
then the old key goes — and data stored in clear before migration 0006 is encrypted too."""

from __future__ import annotations

import pytest
from sqlalchemy import select, type_coerce, update

from gateway.privacy import sealing
from gateway.privacy.keyring import UnknownDataKey
from gateway.privacy.lookup import cases_by_id_number
from gateway.privacy.rotation import rehash_batch, reseal_batch, sealed_columns
from gateway.store import file_case, transaction
from gateway.store.tables import Base, Case, IdentityHash, Message
from gateway.store.testing import Backend
from tests.gateway.privacy.conftest import KEY_ONE, KEY_TWO, bound_sessions, personal_filing, raw

COLUMNS = sealed_columns(Base.metadata)
APPLICATIONS = next(c for c in COLUMNS if c.name == "cases.application")


def rotate(sessions, batch: int) -> dict[str, int]:
    """What ``gbagw db rotate-keys`` does, batch by batch, each batch its own transaction."""
    engine = sessions.kw["bind"]
    rewritten = {}
    for spec in COLUMNS:
        after, rewritten[spec.name] = None, 0
        while True:
            with engine.begin() as connection:
                after, count = reseal_batch(connection, spec, after, batch)
            rewritten[spec.name] += count
            if after is None:
                break
    while True:
        with engine.begin() as connection:
            if rehash_batch(connection, APPLICATIONS, batch) == 0:
                break
    return rewritten


def key_ids(session) -> set[str]:
    found = set()
    for spec in COLUMNS:
        table = Base.metadata.tables[spec.table]
        column = table.c[spec.column]
        for value in session.scalars(
            select(type_coerce(column, column.type.impl)).where(column.is_not(None))
        ):
            found.add(sealing.key_id_of(bytes(value) if isinstance(value, memoryview) else value))
    return found


def test_rotation_with_both_keys_then_without_the_old_one(db: Backend) -> None:
    filings = [personal_filing(n) for n in range(1, 4)]
    with bound_sessions(db, KEY_ONE) as sessions, transaction(sessions) as session:
        for arguments in filings:
            file_case(session, **arguments)

    new_first = f"{KEY_TWO},{KEY_ONE}"
    with bound_sessions(db, new_first) as sessions:
        with transaction(sessions) as session:  # deployed: old rows still read, new rows k2
            assert (
                session.get(Case, filings[0]["case_ref"]).application == filings[0]["application"]
            )
            file_case(session, **personal_filing(4))
            assert key_ids(session) == {"k1", "k2"}
        rewritten = rotate(sessions, batch=2)  # batches smaller than the table
        assert rewritten["cases.application"] == 3 and rewritten["messages.body"] == 3
        assert rotate(sessions, batch=2)["messages.body"] == 0  # a second run changes nothing
        with transaction(sessions) as session:
            assert key_ids(session) == {"k2"}
            assert set(session.scalars(select(IdentityHash.key_id))) == {"k2"}

    with bound_sessions(db, KEY_TWO) as sessions, transaction(sessions) as session:
        for arguments in filings:
            case = session.get(Case, arguments["case_ref"])
            assert case.application == arguments["application"]
            body = session.scalar(
                select(Message.body).where(Message.message_id == arguments["message_id"])
            )
            assert body == arguments["document"]
        number = filings[1]["application"]["applicant"]["idNumber"]
        assert cases_by_id_number(session, number) == [filings[1]["case_ref"]]

    with bound_sessions(db, KEY_ONE) as sessions, transaction(sessions) as session:
        with pytest.raises(UnknownDataKey, match="'k2'"):
            session.scalars(select(Case.application)).all()


def test_values_stored_in_clear_are_encrypted_by_a_rotation(db: Backend) -> None:
    arguments = personal_filing(1)
    with bound_sessions(db, KEY_ONE) as sessions:
        with transaction(sessions) as session:
            file_case(session, **arguments)
            # as a store older than migration 0006 holds it
            session.execute(
                update(Message)
                .values(body=type_coerce(arguments["document"], Message.body.type.impl))
                .execution_options(synchronize_session=False)
            )
            assert raw(session, Message.body, Message.id.is_not(None)) == arguments["document"]
        assert rotate(sessions, batch=10)["messages.body"] == 1
        with transaction(sessions) as session:
            assert sealing.key_id_of(raw(session, Message.body, Message.id.is_not(None))) == "k1"
            assert session.scalar(select(Message.body)) == arguments["document"]
