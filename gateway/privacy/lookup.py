"""Finding cases by ID number without storing one in clear.

Each case's applicant and agent ID numbers are kept as keyed hashes under the primary data
key (``identity_hashes``, indexed; :mod:`gateway.privacy.identity`). A look-up hashes the
number under every key in the ring, so it keeps working while a rotation is half done.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.privacy import keyring as keyrings
from gateway.privacy.identity import digest
from gateway.privacy.keyring import Keyring
from gateway.privacy.personal import id_number, people
from gateway.store.tables import IdentityHash


def session_keyring(session: Session) -> Keyring:
    return keyrings.for_dialect(session.get_bind().dialect)


def identity_rows(
    session: Session, case_ref: str, application: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The ``identity_hashes`` rows of a case's applicant and agent, under the primary key."""
    ring = session_keyring(session)
    return [
        {
            "case_ref": case_ref,
            "role": role,
            "key_id": ring.primary.key_id,
            "digest": digest(ring.primary, number),
        }
        for role, person in people(application)
        if (number := id_number(person)) is not None
    ]


def cases_by_id_number(session: Session, number: str) -> list[str]:
    """Case references (sorted) whose applicant or agent has this ID number."""
    ring = session_keyring(session)
    digests = {digest(key, number) for key in ring.keys}
    return list(
        session.scalars(
            select(IdentityHash.case_ref)
            .where(IdentityHash.digest.in_(digests))
            .group_by(IdentityHash.case_ref)
            .order_by(IdentityHash.case_ref)
        )
    )
