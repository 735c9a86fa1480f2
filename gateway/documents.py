"""Pieces every agency format needs: schema validation and a content fingerprint.

They live in the core, beside the port, so each adapter package keeps only what is particular
to its own format.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import hashlib
import threading
from collections.abc import Iterable
from pathlib import Path

from lxml import etree

from gateway.ports import DocumentInvalid

DS_NS = "http://www.w3.org/2000/09/xmldsig#"

#: CBCE and SIP both write every instant with the +08:00 offset (Hong Kong and Macao time).
UTC_PLUS_8 = dt.timezone(dt.timedelta(hours=8))


def xs_datetime(value: dt.datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS+08:00``; a naive datetime is refused, its instant is unknown."""
    if value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()}: an offset is required")
    return value.astimezone(UTC_PLUS_8).replace(microsecond=0).isoformat()


def xs_boolean(value: bool) -> str:
    return "true" if value else "false"


class Schema:
    """An XSD parsed once per process, offline; validation reports every error with its place."""

    def __init__(self, path: Path):
        self.path = path
        # An XMLSchema keeps its error log on itself: one validation at a time.
        self._lock = threading.Lock()

    @functools.cached_property
    def _schema(self) -> etree.XMLSchema:
        parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
        return etree.XMLSchema(etree.parse(str(self.path), parser))

    def validate(self, root: etree._Element) -> None:
        """Raise :class:`DocumentInvalid` naming every error as ``line N: /path: message``."""
        schema = self._schema
        with self._lock:
            valid = schema.validate(root)
            errors = [f"line {e.line}: {e.path}: {e.message}" for e in schema.error_log]
        if not valid:
            raise DocumentInvalid(str(etree.QName(root).localname), errors)


def content_fingerprint(root: etree._Element, header: str, volatile: Iterable[str]) -> str:
    """SHA-256 of what a document *says*, to tell a conflicting repeat from a retry.

    Left out: the ``ds:Signature``, the root ``Id`` (derived from the message id), the
    ``volatile`` header children (message id, send time), comments, and whitespace between
    elements (the formats have no mixed content). Exclusive C14N makes the rest byte-stable.
    """
    doc = copy.deepcopy(root)
    doc.tail = None
    doc.attrib.pop("Id", None)
    for sig in doc.findall(f"{{{DS_NS}}}Signature"):
        doc.remove(sig)
    head = doc.find(header)
    if head is not None:
        for tag in volatile:
            for el in head.findall(tag):
                head.remove(el)
    for el in doc.iter():
        if len(el) and el.text is not None and not el.text.strip():
            el.text = None
        if el.tail is not None and not el.tail.strip():
            el.tail = None
    c14n = etree.tostring(doc, method="c14n", exclusive=True, with_comments=False)
    return hashlib.sha256(c14n).hexdigest()
