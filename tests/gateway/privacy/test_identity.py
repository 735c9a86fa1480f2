"""Cases are found by ID number through a keyed hash: any written form of the number finds
the case, the stored digest is not a plain hash of it, another key finds nothing."""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import select

from gateway.privacy.identity import normalise
from gateway.privacy.lookup import cases_by_id_number
from gateway.store import file_case, transaction
from gateway.store.tables import IdentityHash
from gateway.store.testing import Backend
from signing import KeyDirectory
from tests.gateway.privacy.conftest import KEY_ONE, KEY_TWO, bound_sessions, personal_filing


def test_applicant_and_agent_are_found_by_their_id_numbers(db: Backend) -> None:
    first, second = personal_filing(1), personal_filing(2)
    with bound_sessions(db, KEY_ONE) as sessions, transaction(sessions) as session:
        file_case(session, **first)
        file_case(session, **second)
        number = first["application"]["applicant"]["idNumber"]  # K600001(4)
        for written in (number, number.lower().replace("(", " ("), normalise(number)):
            assert cases_by_id_number(session, written) == [first["case_ref"]]
        agent = first["application"]["agent"]["idNumber"]  # both cases have this agent
        assert cases_by_id_number(session, agent) == sorted([first["case_ref"], second["case_ref"]])
        assert cases_by_id_number(session, "K999999(9)") == []
        digests = set(session.scalars(select(IdentityHash.digest)))
    for plain in (number, normalise(number), agent):
        assert hashlib.sha256(plain.encode()).hexdigest() not in digests
        assert plain not in digests


def test_another_deployments_key_finds_nothing(db: Backend) -> None:
    arguments = personal_filing(1)
    with bound_sessions(db, KEY_ONE) as sessions, transaction(sessions) as session:
        file_case(session, **arguments)
    with bound_sessions(db, KEY_TWO) as sessions, transaction(sessions) as session:
        assert cases_by_id_number(session, arguments["application"]["agent"]["idNumber"]) == []


def test_a_real_filing_is_found_by_its_applicants_id_number(
    db: Backend, keys: KeyDirectory
) -> None:
    """Filing stores the canonical application (``identity.number``), not the wire JSON
    (``idNumber``): the look-up index must read that form too (it once indexed nothing)."""
    from gateway.cases.filing import Filing
    from gateway.devkit.examples import bundled_examples
    from gateway.render.pipeline import Pipeline

    example = bundled_examples()[0]
    number = json.loads(example.read_text("utf-8"))["applicant"]["idNumber"]
    with bound_sessions(db, KEY_ONE) as sessions:
        filed = Filing(Pipeline(), keys.gateway_key(), sessions).file(example.read_bytes())
        with transaction(sessions) as session:
            assert cases_by_id_number(session, number) == [filed.case_ref]
