"""The service-item catalogue: every published version of every Guangdong item.

A case records the item version it was filed under, so versions are never replaced, only
added. Records that break the regulation (a committed time limit beyond the statutory one,
Art. 20) or carry a malformed code are refused when the catalogue is loaded, not at filing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from importlib import resources
from pathlib import Path

from pydantic import ValidationError

from gateway.domain import ServiceItem
from gateway.domain.codes import uscc_valid

_ITEM_CODE = re.compile(r"[0-9A-Z]{18,40}")


class CatalogueError(ValueError):
    """A service-item record cannot be accepted into the catalogue."""


def bundled_items_dir() -> Path:
    return Path(str(resources.files("gateway") / "data" / "items"))


def check_item(item: ServiceItem) -> list[str]:
    """Problems that make an item record unacceptable (empty when it is fine)."""
    return [message for _, message in item_problems(item)]


def item_problems(item: ServiceItem) -> list[tuple[str, str]]:
    """(JSON path, message) for every problem of an item record: an API names the field."""
    problems = []
    if not _ITEM_CODE.fullmatch(item.item_code):
        problems.append(("itemCode", "itemCode must be 18-40 upper-case letters and digits"))
    elif not uscc_valid(item.item_code[:18]):
        problems.append(
            ("itemCode", "itemCode does not start with a valid unified social credit code")
        )
    if not uscc_valid(item.department.credit_code):
        problems.append(
            (
                "department.creditCode",
                "department.creditCode is not a valid unified social credit code",
            )
        )
    if not re.fullmatch(r"[0-9A-Z]{12}", item.base_code):
        problems.append(("baseCode", "baseCode must be 12 upper-case letters and digits"))
    if item.statutory_days is not None and item.committed_days > item.statutory_days:
        problems.append(
            (
                "committedDays",
                f"committedDays {item.committed_days} exceeds statutoryDays {item.statutory_days}",
            )
        )
    for kind, where, names in (
        ("material", "materials", [m.code for m in item.materials]),
        ("form field", "form", [f.key for f in item.form]),
    ):
        for i, name in enumerate(names):
            if name in names[:i] and name not in names[i + 1 :]:  # once, at the last repeat
                problems.append((f"{where}[{i}]", f"duplicate {kind} {name}"))
    for i, f in enumerate(item.form):
        if (f.type == "enum") != bool(f.enum):
            problems.append(
                (f"form[{i}].enum", f"form field {f.key}: enum values go with type enum only")
            )
    for i, m in enumerate(item.materials):
        if m.deficiency_allowed and m.deficiency_days <= 0:
            problems.append(
                (
                    f"materials[{i}].deficiencyDays",
                    f"material {m.code}: deficiencyAllowed needs deficiencyDays > 0",
                )
            )
    return problems


class Catalogue:
    """Item versions keyed by (itemCode, version)."""

    def __init__(self, items: Iterable[ServiceItem] = ()):
        self._items: dict[tuple[str, int], ServiceItem] = {}
        for item in items:
            self.add(item)

    def add(self, item: ServiceItem) -> None:
        problems = check_item(item)
        if problems:
            raise CatalogueError(f"item {item.item_code} v{item.version}: " + "; ".join(problems))
        key = (item.item_code, item.version)
        if key in self._items and self._items[key] != item:
            raise CatalogueError(
                f"item {item.item_code} v{item.version} published twice with different content"
            )
        # copy on write: threads reading the catalogue never see a dict change size mid-read
        self._items = {**self._items, key: item}

    def get(self, item_code: str, version: int) -> ServiceItem | None:
        return self._items.get((item_code, version))

    def versions(self, item_code: str) -> list[int]:
        return sorted(v for c, v in self._items if c == item_code)

    def __iter__(self) -> Iterator[ServiceItem]:
        return iter(sorted(self._items.values(), key=lambda i: (i.item_code, i.version)))

    def __len__(self) -> int:
        return len(self._items)

    @classmethod
    def load(cls, directory: Path | None = None) -> Catalogue:
        """Read every ``*.json`` item record (one item, or a list of versions, per file)."""
        directory = directory or bundled_items_dir()
        catalogue = cls()
        files = sorted(Path(directory).glob("*.json"))
        if not files:
            raise CatalogueError(f"no item records (*.json) in {directory}")
        for path in files:
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                for record in data if isinstance(data, list) else [data]:
                    catalogue.add(ServiceItem.model_validate(record))
            except (ValueError, ValidationError) as exc:
                raise CatalogueError(f"{path.name}: {exc}") from exc
        return catalogue
