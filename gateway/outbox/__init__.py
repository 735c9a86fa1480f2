"""The transactional outbox as a library: pure database logic, no Celery.

Intake writes a case, its signed message and an outbox row in one transaction
(``gateway.store.cases.file_case``). A relay publishes ``due`` rows (task id = outbox id); a
sweep calls ``due`` and ``expire_leases`` periodically; the delivery task calls ``claim``,
sends ``Claim.document`` to the agency, then ``record``. Operators use ``list_rows``,
``counts`` and ``redrive``.
"""

from gateway.outbox.delivery import Claim, ReceiptIn, claim, record
from gateway.outbox.operator import OutboxRow, counts, list_rows, pending_count, redrive
from gateway.outbox.policy import BreakerPolicy, RetryPolicy
from gateway.outbox.relay import due, expire_leases
from gateway.store.outbound import add_outbound as enqueue
from gateway.store.vocab import OutboxKind, OutboxState, Outcome

__all__ = [
    "BreakerPolicy",
    "Claim",
    "OutboxKind",
    "OutboxRow",
    "OutboxState",
    "Outcome",
    "ReceiptIn",
    "RetryPolicy",
    "claim",
    "counts",
    "due",
    "enqueue",
    "expire_leases",
    "list_rows",
    "pending_count",
    "record",
    "redrive",
]
