"""Retention removes a closed case's personal data once, in batches, and keeps the case's
timeline and its signed messages (encrypted) for the archive."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update

from gateway import tasks
from gateway.config import Settings
from gateway.delivery.runtime import Runtime
from gateway.privacy.lookup import cases_by_id_number
from gateway.privacy.personal import REMOVED
from gateway.privacy.retention import EVENT, purge_personal_data
from gateway.store import file_case, transaction
from gateway.store.tables import Case, CaseEvent, Message
from gateway.store.testing import Backend
from tests.gateway.privacy.conftest import KEY_ONE, bound_sessions, personal_filing

DAYS = 30


def close(sessions, case_ref: str, state: str, at: dt.datetime) -> None:
    with transaction(sessions) as session:
        session.execute(
            update(Case).where(Case.case_ref == case_ref).values(state=state, updated_at=at)
        )


def test_closed_cases_lose_their_personal_data_once(db: Backend, now: dt.datetime) -> None:
    old = now - dt.timedelta(days=DAYS + 1)
    filings = {n: personal_filing(n) for n in range(1, 6)}
    with bound_sessions(db, KEY_ONE) as sessions:
        with transaction(sessions) as session:
            for arguments in filings.values():
                file_case(session, **arguments, now=old)
        close(sessions, filings[1]["case_ref"], "COMPLETED", old)
        close(sessions, filings[2]["case_ref"], "REJECTED", old)
        close(sessions, filings[3]["case_ref"], "WITHDRAWN", old)
        close(sessions, filings[4]["case_ref"], "COMPLETED", now - dt.timedelta(days=DAYS - 1))
        close(sessions, filings[5]["case_ref"], "IN_PROGRESS", old)  # open: never purged

        assert purge_personal_data(sessions, retention_days=DAYS, now=now, batch=2) == 3
        assert purge_personal_data(sessions, retention_days=DAYS, now=now, batch=2) == 0

        with transaction(sessions) as session:
            for n, arguments in filings.items():
                case = session.get(Case, arguments["case_ref"])
                purged = n in (1, 2, 3)
                events = session.scalars(
                    select(CaseEvent.event).where(CaseEvent.case_ref == case.case_ref)
                ).all()
                body = session.scalar(
                    select(Message.body).where(Message.message_id == arguments["message_id"])
                )
                assert body == arguments["document"]  # the archive keeps the signed bytes
                if purged:
                    assert case.application == {
                        "applicationNo": arguments["application_no"],
                        "itemCode": arguments["item_code"],
                        "itemVersion": 1,
                        "targetRegion": "HK",
                        "delivery": {"channel": "ELECTRONIC"},
                        REMOVED: now.isoformat(),
                    }
                    assert case.texts == []
                    assert events.count(EVENT) == 1
                else:
                    assert case.application == arguments["application"]
                    assert EVENT not in events
            agent = filings[1]["application"]["agent"]["idNumber"]
            assert cases_by_id_number(session, agent) == [
                filings[4]["case_ref"],
                filings[5]["case_ref"],
            ]


def test_the_beat_task_runs_the_same_job(db: Backend, now: dt.datetime) -> None:
    config = Settings(database_url=db.url, data_keys=KEY_ONE, personal_data_retention_days=DAYS)
    runtime = Runtime(config)
    tasks.use_runtime(runtime)
    try:
        arguments = personal_filing(1)
        years_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=DAYS + 1)
        with transaction(runtime.sessions) as session:
            file_case(session, **arguments, now=years_ago)
        close(runtime.sessions, arguments["case_ref"], "COMPLETED", years_ago)
        assert tasks.purge_personal_data_task() == 1
        with transaction(runtime.sessions) as session:
            assert REMOVED in session.get(Case, arguments["case_ref"]).application
            assert session.scalar(select(func.count()).select_from(CaseEvent)) == 2
    finally:
        tasks.use_runtime(None)
        runtime.close()
