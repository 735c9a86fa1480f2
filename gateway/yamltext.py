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

from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import Node

MAX_BYTES = 1_000_000
MAX_DEPTH = 32


class YamlRefused(ValueError):
    """The text is not YAML these files may hold; the message says what and where."""


class _BoundedLoader(yaml.SafeLoader):
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise YamlRefused(
                f"line {event.start_mark.line + 1}: aliases (*{event.anchor}) are not allowed"
            )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise YamlRefused(f"line {mark.line + 1}: nested deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def compose(text: str) -> Node | None:
    """The document's node tree (for callers that report line numbers)."""
    if len(text) > MAX_BYTES:
        raise YamlRefused(f"larger than {MAX_BYTES} characters")
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_node()
    except yaml.YAMLError as exc:
        raise YamlRefused(f"not valid YAML: {' '.join(str(exc).split())}") from None
    finally:
        loader.dispose()


def load(text: str) -> Any:
    """The document as plain Python values (``safe_load``, bounded)."""
    if len(text) > MAX_BYTES:
        raise YamlRefused(f"larger than {MAX_BYTES} characters")
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        raise YamlRefused(f"not valid YAML: {' '.join(str(exc).split())}") from None
    finally:
        loader.dispose()


def read(path: Path) -> Any:
    """``path``'s document; :class:`YamlRefused` also for a file too large, not UTF-8, or
    unreadable (never more than :data:`MAX_BYTES` are read)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise YamlRefused(f"cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise YamlRefused(f"larger than {MAX_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YamlRefused(f"not UTF-8 (byte {exc.start})") from None
    return load(text)
