"""Personal data is encrypted at rest and read back unchanged, on both backends; a missing or
wrong key is a clear error."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from gateway.privacy import sealing
from gateway.privacy.keyring import DataKeyError, UnknownDataKey, new_key_entry, parse
from gateway.store import file_case, show_case, transaction
from gateway.store.tables import Case, Message
from gateway.store.testing import Backend
from tests.gateway.privacy.conftest import KEY_ONE, KEY_TWO, bound_sessions, personal_filing, raw


def test_the_application_texts_and_signed_bytes_read_back_exactly(db: Backend) -> None:
    arguments = personal_filing(1)
    with bound_sessions(db, KEY_ONE) as sessions:
        with transaction(sessions) as session:
            file_case(session, **arguments)
        with transaction(sessions) as session:
            case = session.get(Case, arguments["case_ref"])
            body = session.scalar(select(Message.body))
            stored_application = raw(session, Case.application, Case.case_ref == case.case_ref)
            stored_texts = raw(session, Case.texts, Case.case_ref == case.case_ref)
            stored_body = raw(session, Message.body, Message.message_id == arguments["message_id"])
            detail = show_case(session, case.case_ref)
    assert case.application == arguments["application"]
    assert case.texts == arguments["texts"]
    assert body == arguments["document"]  # byte for byte: resent as signed
    assert detail is not None and detail.messages[0].size == len(arguments["document"])

    for value in (stored_application, stored_texts):
        assert isinstance(value, str) and sealing.key_id_of(value) == "k1"
    assert sealing.key_id_of(stored_body) == "k1"
    on_disk = json.dumps([stored_application, stored_texts], ensure_ascii=False)
    on_disk += stored_body.decode("latin-1")
    applicant = arguments["application"]["applicant"]
    for clear in (
        applicant["name"],
        applicant["idNumber"],
        applicant["mobile"],
        "陳大文",
        "signed",
    ):
        assert clear not in on_disk


def test_each_value_gets_its_own_nonce(db: Backend) -> None:
    with bound_sessions(db, KEY_ONE) as sessions:
        with transaction(sessions) as session:
            file_case(session, **personal_filing(1, note="same"))
            file_case(session, **personal_filing(2, note="same"))
        with transaction(sessions) as session:
            texts = [
                raw(session, Case.texts, Case.case_ref == personal_filing(n)["case_ref"])
                for n in (1, 2)
            ]
    assert texts[0] != texts[1]  # same plaintext, different ciphertext


def test_a_value_moved_to_another_column_does_not_decrypt() -> None:
    keys = parse(KEY_ONE)
    sealed = sealing.seal_text(keys, "陈大文", "cases.texts")
    assert sealing.unseal_text(keys, sealed, "cases.texts") == "陈大文"
    with pytest.raises(sealing.UnreadableCiphertext, match="cases.application"):
        sealing.unseal_text(keys, sealed, "cases.application")


def test_a_missing_key_names_the_key_and_what_to_do(db: Backend) -> None:
    with bound_sessions(db, KEY_ONE) as sessions, transaction(sessions) as session:
        file_case(session, **personal_filing(1))
    with bound_sessions(db, KEY_TWO) as sessions:
        with pytest.raises(UnknownDataKey, match=r"data key 'k1'.*holds k2.*rotate-keys"):
            with transaction(sessions) as session:
                session.scalars(select(Case.application)).one()


def test_a_different_key_under_the_same_id_is_refused_not_garbled(db: Backend) -> None:
    with bound_sessions(db, KEY_ONE) as sessions, transaction(sessions) as session:
        file_case(session, **personal_filing(1))
    impostor = new_key_entry("k1")
    with bound_sessions(db, impostor) as sessions:
        with pytest.raises(
            sealing.UnreadableCiphertext, match="does not decrypt with data key 'k1'"
        ):
            with transaction(sessions) as session:
                session.scalars(select(Message.body)).one()


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("", "holds no data key"),
        ("k1", "entry 1 must be keyid:base64key"),
        ("k 1:AAAA", "entry 1 must be keyid:base64key"),
        ("k1:not base64!", "'k1' is not valid base64"),
        ("k1:" + "A" * 24, "'k1' is 18 bytes; AES-256 needs 32"),
        (f"{KEY_ONE},{KEY_ONE}", "names a key id twice"),
    ],
    ids=["empty", "no-key", "bad-id", "not-base64", "short", "twice"],
)
def test_malformed_keys_say_what_is_wrong(spec: str, problem: str) -> None:
    with pytest.raises(DataKeyError, match=problem):
        parse(spec)
