"""Macao agencies: SIP 1.0 over SOAP 1.1 (see ``docs/specs/macau-sip-1.0.md``)."""

from adapters.macau.format import SipFormat

FORMAT = SipFormat()

__all__ = ["FORMAT", "SipFormat"]
