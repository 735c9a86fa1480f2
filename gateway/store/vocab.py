"""The store's vocabularies, as plain strings so the store needs no other gateway module.

Values match what they mirror elsewhere (``gateway.ports.Outcome``), so callers can pass
either the enum member or its string.
"""

from __future__ import annotations

from enum import StrEnum


class OutboxState(StrEnum):
    PENDING = "pending"  # waiting for its next attempt (``next_attempt_at``)
    SENDING = "sending"  # claimed by a worker until ``lease_expires_at``
    DELIVERED = "delivered"  # final: the agency accepted it (or already had it)
    DEAD = "dead"  # final until redriven: permanent/conflict outcome or out of attempts


class OutboxKind(StrEnum):
    SUBMISSION = "submission"
    SUPPLEMENT = "supplement"
    NOTIFICATION = "notification"  # to Guangdong, destination = a webhook name


class Outcome(StrEnum):
    """Mirror of ``gateway.ports.Outcome`` (same values)."""

    DELIVERED = "delivered"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"
    RETRYABLE = "retryable"
    PERMANENT = "permanent"


#: what a delivery attempt row says when its worker never reported back
LEASE_EXPIRED = "lease_expired"


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


class CaseState(StrEnum):
    """Gateway-side states before the agency reports its own (``gateway.domain.CaseStatus``)."""

    FILED = "filed"  # stored, signed, in the outbox
    DELIVERED = "delivered"  # the agency's receipt is verified and stored
    UNDELIVERABLE = "undeliverable"  # the submission went dead; an operator must look


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class EventSource(StrEnum):
    GATEWAY = "gateway"
    AGENCY = "agency"
    OPERATOR = "operator"
    GUANGDONG = "guangdong"
