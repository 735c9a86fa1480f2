"""YAML that people edit (mappings, the agency directory, calendar overrides, sandbox
configuration), read with bounds.

PyYAML's ``SafeLoader`` builds no objects but still expands aliases: nine lines of nested
``*a`` references ("billion laughs") become billions of list items, and ``&a [*a]`` is a
cycle that recursion never leaves. None of these files needs an alias, so an alias is
refused where it stands; so is nesting deeper than any of them needs (the composer recurses
per level) and a file larger than :data:`MAX_BYTES`. Every refusal is a :class:`YamlRefused`
naming the line.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import Node

MAX_BYTES = 1_000_000
MAX_DEPTH = 32


class YamlRefused(ValueError):
    """The text is not YAML these files may hold; the message says what and where."""

    def __init__(self, reason: str, line: int | None = None):
        super().__init__(f"line {line}: {reason}" if line else reason)
        self.reason, self.line = reason, line


class _Bounds(yaml.composer.Composer):
    """Refuses aliases and deep nesting while composing; mixed into a loader."""

    _depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        events: Any = self  # the parser's methods, in every loader this is mixed into
        if events.check_event(yaml.AliasEvent):
            alias = events.peek_event()
            raise YamlRefused(
                f"aliases (*{alias.anchor}) are not allowed", alias.start_mark.line + 1
            )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                line = events.peek_event().start_mark.line + 1
                raise YamlRefused(f"nested deeper than {MAX_DEPTH} levels", line)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _BoundedLoader(_Bounds, yaml.SafeLoader):
    pass


class _BoundedTextLoader(_Bounds, yaml.BaseLoader):
    """Every scalar a string (``BaseLoader``): for files whose values are parsed by their
    reader, with messages, rather than by YAML's implicit typing."""


def compose(text: str) -> Node | None:
    """The document's node tree (for callers that report line numbers)."""
    loader = _loader(text, _BoundedLoader)
    return _bounded(loader, loader.get_single_node)


def load(text: str, *, strings_only: bool = False) -> Any:
    """The document as plain Python values (``safe_load``, bounded); ``strings_only``: every
    scalar a string, as ``BaseLoader`` reads them."""
    loader = _loader(text, _BoundedTextLoader if strings_only else _BoundedLoader)
    return _bounded(loader, loader.get_single_data)


def _loader(text: str, kind: type[_Bounds]) -> Any:
    if len(text) > MAX_BYTES:
        raise YamlRefused(f"larger than {MAX_BYTES} characters")
    return kind(text)  # type: ignore[call-arg]


def _bounded(loader: Any, read: Callable[[], Any]) -> Any:
    try:
        return read()
    except yaml.YAMLError as exc:
        raise _refusal(exc) from None
    finally:
        loader.dispose()


def read(path: Path) -> Any:
    """``path``'s document; :class:`YamlRefused` also for a file too large, not UTF-8, or
    unreadable (never more than :data:`MAX_BYTES` are read)."""
    return load(read_text(path))


def read_text(path: Path) -> str:
    """``path``'s text, at most :data:`MAX_BYTES` read, UTF-8 or :class:`YamlRefused`."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise YamlRefused(f"cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise YamlRefused(f"larger than {MAX_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YamlRefused(f"not UTF-8 (byte {exc.start})") from None


def _refusal(exc: yaml.YAMLError) -> YamlRefused:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return YamlRefused(
        f"not valid YAML: {' '.join(str(exc).split())}", mark.line + 1 if mark else None
    )
