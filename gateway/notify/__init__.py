"""Notifications to Guangdong (Art. 22): case events as JSON, signed per Standard Webhooks,
delivered through the outbox (kind ``notification``) once each, in order per case."""

from gateway.notify.enqueue import notify, on_case_change

__all__ = ["notify", "on_case_change"]
