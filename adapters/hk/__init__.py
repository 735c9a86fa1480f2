"""Hong Kong agencies: CBCE 1.0 over HTTPS REST (see ``docs/specs/hk-cbce-1.0.md``)."""

from adapters.hk.format import CbceFormat

FORMAT = CbceFormat()

__all__ = ["FORMAT", "CbceFormat"]
