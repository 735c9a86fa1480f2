"""Operator routes: dead outbox rows and their redrive, quarantined inbound messages.

The same functions as ``gbagw outbox list|redrive`` and ``gbagw inbound list`` (one code path
for both channels), readable only by operators. Rows carry ids, states and reasons — never a
message body, so no personal data leaves through these routes. The rows are the store's own
dataclasses, served as they are (FastAPI describes dataclasses like models).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel

from gateway.api.auth import Caller, authenticated
from gateway.outbox import OutboxRow, list_rows, redrive
from gateway.store import transaction
from gateway.store.inbound import InboundRow, list_inbound
from gateway.store.tables import Outbox

router = APIRouter(tags=["operations"])
Operator = Annotated[Caller, Depends(authenticated("operator"))]
Limit = Annotated[int, Query(ge=1, le=1000, description="Rows at most.")]


class Redriven(BaseModel):
    id: str
    state: Literal["pending"]


@router.get("/v1/outbox", summary="Outbox rows, oldest first")
def outbox(
    request: Request,
    _: Operator,
    state: Annotated[
        Literal["pending", "sending", "delivered", "dead"] | None,
        Query(description="Only rows in this state; `dead` lists what needs an operator."),
    ] = None,
    limit: Limit = 100,
) -> list[OutboxRow]:
    with transaction(request.app.state.runtime.sessions, read_only=True) as session:
        return list_rows(session, state, limit=limit)


@router.post(
    "/v1/outbox/{outbox_id}/redrive",
    summary="Give a dead delivery a fresh set of attempts, due now",
    responses={404: {"description": "No such outbox row"}, 409: {"description": "Not dead"}},
)
def redrive_row(request: Request, caller: Operator, outbox_id: str) -> Redriven:
    with transaction(request.app.state.runtime.sessions) as session:
        done = redrive(session, [outbox_id], now=dt.datetime.now(dt.UTC), by=caller.name)
        if not done:
            found = session.get(Outbox, outbox_id) if len(outbox_id) <= 36 else None
            if found is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, "no such outbox row")
            raise HTTPException(
                status.HTTP_409_CONFLICT, f"the row is {found.state}, only dead rows are redriven"
            )
    return Redriven(id=outbox_id, state="pending")


@router.get("/v1/inbound", summary="Received documents, newest first")
def inbound(
    request: Request,
    _: Operator,
    quarantined: Annotated[
        bool, Query(description="Only documents never applied, with the reason.")
    ] = False,
    limit: Limit = 100,
) -> list[InboundRow]:
    with transaction(request.app.state.runtime.sessions, read_only=True) as session:
        return list_inbound(session, quarantined=quarantined, limit=limit)
