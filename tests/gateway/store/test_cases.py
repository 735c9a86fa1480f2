"""Filing a case: one transaction, idempotent on the application number, safe under races."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import func, select

from gateway.store import (
    ApplicationConflict,
    ItemVersionConflict,
    file_case,
    list_cases,
    record_item,
    show_case,
    transaction,
)
from gateway.store.tables import Case, CaseEvent, Message, Outbox
from gateway.store.testing import Backend, filing

T0 = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)


def _count(db: Backend, model: type) -> int:
    with transaction(db.factory) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_filing_writes_case_message_outbox_and_event_together(db: Backend) -> None:
    with transaction(db.factory) as session:
        case_ref, created = file_case(session, **filing(1), now=T0)
    assert created and case_ref == filing(1)["case_ref"]
    with transaction(db.factory) as session:
        case = session.get(Case, case_ref)
        assert case is not None and case.state == "filed" and case.event_count == 1
        assert case.texts[0]["converted"] == "陳大文"
        message = session.scalars(select(Message)).one()
        assert message.body == filing(1)["document"] and message.direction == "out"
        assert message.verified and message.quarantine_reason is None
        row = session.scalars(select(Outbox)).one()
        assert (row.state, row.kind, row.destination, row.attempts) == (
            "pending",
            "submission",
            "HKTD",
            0,
        )
        assert row.next_attempt_at == T0 and row.message_pk == message.id
        event = session.scalars(select(CaseEvent)).one()
        assert (event.seq, event.event, event.source) == (1, "filed", "guangdong")


def test_a_failed_transaction_leaves_nothing(db: Backend) -> None:
    with pytest.raises(RuntimeError):
        with transaction(db.factory) as session:
            file_case(session, **filing(1), now=T0)
            raise RuntimeError("crash before commit")
    assert [_count(db, m) for m in (Case, Message, Outbox, CaseEvent)] == [0, 0, 0, 0]


def test_same_application_again_returns_the_existing_case(db: Backend) -> None:
    with transaction(db.factory) as session:
        first = file_case(session, **filing(1), now=T0)
    again = filing(1)
    again["document"] = b"<re-rendered and re-signed/>"  # ignored: sign once
    again["message_id"] = "MSG-OTHER"
    with transaction(db.factory) as session:
        second = file_case(session, **again, now=T0 + dt.timedelta(minutes=5))
    assert first == (filing(1)["case_ref"], True)
    assert second == (filing(1)["case_ref"], False)
    assert [_count(db, m) for m in (Case, Message, Outbox, CaseEvent)] == [1, 1, 1, 1]


def test_same_number_other_content_is_a_conflict(db: Backend) -> None:
    with transaction(db.factory) as session:
        file_case(session, **filing(1), now=T0)
    with pytest.raises(ApplicationConflict) as caught:
        with transaction(db.factory) as session:
            file_case(session, **filing(1, note="changed"), now=T0)
    assert caught.value.existing_case_ref == filing(1)["case_ref"]
    assert caught.value.application_no == filing(1)["application_no"]
    assert _count(db, Outbox) == 1


@pytest.mark.parametrize("round_", range(3))
def test_concurrent_filings_of_one_number_make_one_case(db: Backend, round_: int) -> None:
    n = 100 + round_
    start = threading.Barrier(2)
    results: list[tuple[str, bool]] = []
    errors: list[BaseException] = []

    def file_it(worker: int) -> None:
        try:
            kwargs = filing(n)
            kwargs["message_id"] = f"MSG-{n}-{worker}"  # each thread rendered its own copy
            start.wait()
            with transaction(db.factory) as session:
                results.append(file_case(session, **kwargs, now=T0))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=file_it, args=(w,)) for w in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert sorted(created for _, created in results) == [False, True]
    assert {ref for ref, _ in results} == {filing(n)["case_ref"]}
    assert [_count(db, m) for m in (Case, Message, Outbox, CaseEvent)] == [1, 1, 1, 1]


def test_list_and_show_cases(db: Backend) -> None:
    with transaction(db.factory) as session:
        for n, agency, region in [(1, "HKTD", "HK"), (2, "HKTD", "HK"), (3, "DSAT", "MO")]:
            file_case(
                session, **filing(n, agency=agency, region=region), now=T0 + dt.timedelta(minutes=n)
            )
    with transaction(db.factory) as session:
        assert [c.case_ref for c in list_cases(session)] == [
            filing(n)["case_ref"] for n in (3, 2, 1)
        ]
        assert [c.application_no for c in list_cases(session, agency="DSAT")] == [
            filing(3)["application_no"]
        ]
        assert len(list_cases(session, state="filed", agency="HKTD")) == 2
        assert list_cases(session, state="delivered") == []
        detail = show_case(session, filing(2)["case_ref"])
        assert show_case(session, "GBA-NONE") is None
    assert detail is not None
    assert detail.summary.state == "filed" and detail.mapping_version == 3
    assert [e.event for e in detail.events] == ["filed"]
    assert [(d.kind, d.state, d.message_id) for d in detail.deliveries] == [
        ("submission", "pending", "MSG-00000002")
    ]
    assert detail.messages[0].size == len(filing(2)["document"])
    assert detail.receipts == ()


def test_item_versions_are_kept_and_never_rewritten(db: Backend) -> None:
    record = {
        "itemCode": "I1",
        "baseCode": "B1",
        "version": 2,
        "name": "事项",
        "status": "ACTIVE",
        "form": [],
    }
    with transaction(db.factory) as session:
        assert record_item(session, record, now=T0) is True
        assert record_item(session, record, now=T0) is False
    with pytest.raises(ItemVersionConflict):
        with transaction(db.factory) as session:
            record_item(session, {**record, "name": "改了"}, now=T0)


def test_losing_the_race_rereads_the_winner(db: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    """No look-up before the insert: a second filing of a number (a repeat, a conflict, or
    the loser of a race) hits the unique number, reads the winner once and writes nothing."""
    import gateway.store.cases as cases

    with transaction(db.factory) as session:
        file_case(session, **filing(1), now=T0)
    real = cases._existing
    reads: list[str] = []

    def counted(session: object, application_no: str, sha: str) -> str | None:
        reads.append(application_no)
        return real(session, application_no, sha)  # type: ignore[arg-type]

    monkeypatch.setattr(cases, "_existing", counted)
    with transaction(db.factory) as session:
        assert file_case(session, **filing(1), now=T0) == (filing(1)["case_ref"], False)
    assert len(reads) == 1
    with pytest.raises(ApplicationConflict):
        reads.clear()
        with transaction(db.factory) as session:
            file_case(session, **filing(1, note="other"), now=T0)
    assert len(reads) == 1
    assert [_count(db, m) for m in (Case, Message, Outbox, CaseEvent)] == [1, 1, 1, 1]
