"""Personal data never reaches a log: ID numbers, phone numbers, e-mail addresses and the
names of people this process has handled are masked in every record.

:func:`install` masks each record as it is created (whatever logger, handler or formatter
later prints it: ours, uvicorn's, Celery's, Python's last-resort one), including exception
text. Patterns: mainland ID numbers (18 characters), Hong Kong (A123456(7)) and Macao
(1234567(8)) identity cards, Mainland Travel Permits (H/M + 8 digits), phone numbers of the
mainland, Hong Kong and Macao with or without +86/+852/+853, and e-mail addresses. Names have
no pattern, so filing tells this module the names it saw (:func:`remember_names`).
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

_EDGE_BEFORE = r"(?<![0-9A-Za-z])"
_EDGE_AFTER = r"(?![0-9A-Za-z])"
PATTERNS = (
    ("[id]", rf"{_EDGE_BEFORE}\d{{17}}[0-9Xx]{_EDGE_AFTER}"),  # mainland resident ID
    ("[id]", rf"{_EDGE_BEFORE}[A-Z]{{1,2}}\d{{6}}\s?\(\s?[0-9A]\s?\)"),  # HK ID card
    ("[id]", rf"{_EDGE_BEFORE}[A-Z]{{1,2}}\d{{6}}[0-9A]{_EDGE_AFTER}"),  # HK, no brackets
    ("[id]", rf"{_EDGE_BEFORE}[1578]\d{{6}}\s?\(\s?\d\s?\)"),  # Macao ID card
    ("[id]", rf"{_EDGE_BEFORE}[1578]\d{{7}}{_EDGE_AFTER}"),  # Macao, no brackets
    ("[id]", rf"{_EDGE_BEFORE}[CHMW]\d{{8}}(?:\d{{2}})?{_EDGE_AFTER}"),  # travel permits
    (  # with a country code, spaces or hyphens between groups
        "[phone]",
        r"(?<![\d+])(?:\+|00)(?:86|852|853)[\s-]?"
        r"(?:1[3-9]\d[\s-]?\d{4}[\s-]?\d{4}|[4-9]\d{3}[\s-]?\d{4})(?!\d)",
    ),
    ("[phone]", r"(?<![\w+])(?:1[3-9]\d ?\d{4} ?\d{4}|[4-9]\d{3} ?\d{4})(?!\d)"),  # bare
    ("[email]", r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),
)
_PATTERN = re.compile("|".join(f"({p})" for _, p in PATTERNS))
_LABELS = [label for label, _ in PATTERNS]
NAME = "[name]"
#: names remembered per process, most recent kept (enough for any burst of filings)
MAX_NAMES = 5000


class _KnownNames:
    def __init__(self) -> None:
        self._names: OrderedDict[str, None] = OrderedDict()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def add(self, names: Iterable[str]) -> None:
        """Each name, surrounding spaces stripped; one shorter than 2 characters is no one's."""
        with self._lock:
            known = self._names
            for name in names:
                if not name:
                    continue
                name = name.strip()
                if len(name) >= 2 and name not in known:
                    known[name] = None
                    self._pattern = None
                    if len(known) > MAX_NAMES:
                        known.popitem(last=False)

    def pattern(self) -> re.Pattern[str] | None:
        with self._lock:
            if self._pattern is None and self._names:
                longest_first = sorted(self._names, key=len, reverse=True)
                self._pattern = re.compile("|".join(map(_name_pattern, longest_first)), re.I)
            return self._pattern


def _name_pattern(name: str) -> str:
    """A Latin name matches whole words only (JIAXIN, not inside another word)."""
    if name.isascii():
        return rf"(?<![A-Za-z]){re.escape(name)}(?![A-Za-z])"
    return re.escape(name)


_known = _KnownNames()


def remember_names(names: Iterable[str]) -> None:
    """Mask these names in this process's logs from now on."""
    _known.add(names)


def mask(text: str) -> str:
    """``text`` with every ID number, phone number, e-mail address and known name replaced."""
    names = _known.pattern()
    if names is not None:
        text = names.sub(NAME, text)
    return _PATTERN.sub(lambda m: _LABELS[(m.lastindex or 1) - 1], text)


def _masked_arg(value: Any) -> Any:
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, bytes | bytearray):  # a repr would hide names as \x escapes
        text = bytes(value).decode("utf-8", "replace")
        masked = mask(text)
        return value if masked == text else masked
    if isinstance(value, bool | int | float) or value is None:
        return value
    text = str(value)
    masked = mask(text)
    return value if masked == text else masked


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # noqa: BLE001 - a broken format is the logger's to report, unmasked never
        return f"{record.msg} {record.args}"


class PersonalDataFilter(logging.Filter):
    """Masks a record in place; never drops one. Arguments stay arguments when possible
    (uvicorn's access log formats its own), else the message is flattened."""

    def filter(self, record: logging.LogRecord) -> bool:
        original = _message(record)
        if mask(original) != original:
            if isinstance(record.msg, str):
                record.msg = mask(record.msg)
            if isinstance(record.args, dict):
                record.args = {k: _masked_arg(v) for k, v in record.args.items()}
            elif isinstance(record.args, tuple):
                record.args = tuple(_masked_arg(v) for v in record.args)
            now = _message(record)
            if mask(now) != now or now == original:
                record.msg, record.args = mask(original), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = mask(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        return True


#: libraries that log whole documents (signed XML, SOAP envelopes) at debug level: never
#: below info, whatever level the process runs at
DOCUMENT_LOGGERS = ("signxml", "zeep.transports")

_installed = threading.Lock()
_factory_wrapped = False


def install() -> None:
    """Mask every log record of this process from now on, and keep the loggers that dump
    whole documents quiet (idempotent)."""
    global _factory_wrapped
    with _installed:
        if _factory_wrapped:
            return
        make_record = logging.getLogRecordFactory()
        masking = PersonalDataFilter()

        def masked_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = make_record(*args, **kwargs)
            masking.filter(record)
            return record

        logging.setLogRecordFactory(masked_record)
        for name in DOCUMENT_LOGGERS:
            logging.getLogger(name).setLevel(logging.INFO)
        _factory_wrapped = True


def configure_logging(level: str) -> None:
    """Masking always; a stderr handler at ``level`` when one is asked for (GBAGW_LOG_LEVEL),
    else Python's default (warnings and errors)."""
    install()
    if level:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(PersonalDataFilter())
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(level.upper())
