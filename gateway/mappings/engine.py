"""Declarative mappings: one YAML file per (Guangdong item, target region) under ``mappings/``.

Integration engineers edit these files, not Python. A mapping is checked twice: against the
JSON Schema shipped beside the files (``mappings/schema.json``) and against the item versions
and agency format it targets. Every problem carries the file and line it comes from.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import jsonschema
import yaml
from pydantic import BaseModel, ConfigDict, Field

from gateway import yamltext
from gateway.catalogue.loader import Catalogue
from gateway.domain import CaseStatus, Region, ServiceItem
from gateway.ports import AgencyFormat

FieldKind = Literal["text", "name", "code", "date", "int", "decimal", "amount", "bool", "enum"]

#: which Guangdong form types each mapping field type may read
_COMPATIBLE: dict[str, set[str]] = {
    "text": {"string"},
    "name": {"string"},
    "code": {"string", "enum"},
    "date": {"date"},
    "int": {"int"},
    "decimal": {"decimal"},
    "amount": {"decimal"},
    "bool": {"bool"},
    "enum": {"enum"},
}


class _Strict(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid", frozen=True)


class ServiceNames(_Strict):
    code: str
    name_zh: str | None = Field(default=None, alias="nameZh")
    name_en: str | None = Field(default=None, alias="nameEn")
    name_pt: str | None = Field(default=None, alias="namePt")


class FieldMap(_Strict):
    name: str
    type: FieldKind
    source: str | None = None
    value: str | None = None
    required: bool = False
    values: dict[str, str] | None = None
    currency: str | None = None
    currency_from: str | None = Field(default=None, alias="currencyFrom")
    #: ``name`` fields that may hold an organisation: a person only when every listed form
    #: field has one of the listed values (else the field is converted as text)
    person_when: dict[str, list[str]] | None = Field(default=None, alias="personWhen")


#: Guangdong form fields that hold a person's name, by label or key: a mapping must type them
#: ``name`` (the name rules), never ``text`` (word conversion renames 梁 as 樑, 于 as 於)
_PERSON_LABEL = re.compile(
    "姓名|名字|曾用名|法定代表人|负责人|代理人|联系人|董事|监事|股东|投资者名称|投资人|驾驶人|配偶|"
    "监护人|经办人|委托人|申请人名称"
)
_PERSON_KEY = re.compile(
    r"(?i)(representative|director|shareholder|investorName|formerNames?|personName|fullName|"
    r"contactPerson|driverName|spouse|guardian|agentName)$"
)


def holds_person_name(label: str, key: str) -> bool:
    """True when a Guangdong form field (by its label or key) holds a person's name."""
    return bool(_PERSON_LABEL.search(label) or _PERSON_KEY.search(key))


class Mapping(_Strict):
    mapping: str
    version: int
    item: str
    item_versions: list[int] = Field(alias="itemVersions")
    region: Region
    agency: str
    service: ServiceNames
    fields: list[FieldMap]
    documents: dict[str, str]
    statuses: dict[str, CaseStatus]
    #: planning figure: working days on the agency's own calendar (not statutory)
    agency_days: int | None = Field(default=None, alias="agencyDays", gt=0)

    def status(self, agency_code: str) -> CaseStatus:
        return self.statuses[agency_code]


@dataclass(frozen=True)
class MappingProblem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class MappingError(ValueError):
    def __init__(self, problems: list[MappingProblem]):
        self.problems = problems
        super().__init__("\n".join(map(str, problems)))


def bundled_mappings_dir() -> Path:
    return Path(str(resources.files("mappings")))


def _schema() -> dict[str, Any]:
    return json.loads((resources.files("mappings") / "schema.json").read_text(encoding="utf-8"))


# --- YAML with line numbers ------------------------------------------------------------------


def _to_python(node: yaml.Node, path: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _to_python(key_node, path + ("<key>",), {})
            if key in out:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            out[key] = _to_python(value_node, path + (key,), lines)
            lines[path + (key,)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(n, path + (i,), lines) for i, n in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    """Plain scalars are strings, except integers and true/false/null.

    YAML 1.1 would read ``NO``, ``ON`` or ``2025-01-01`` as booleans and dates, which silently
    corrupts enum values and codes; mappings are safer with this narrow reading.
    """
    value = node.value
    if getattr(node, "style", None) or node.tag not in (
        "tag:yaml.org,2002:int",
        "tag:yaml.org,2002:bool",
        "tag:yaml.org,2002:null",
    ):
        return value
    if value in ("true", "false"):
        return value == "true"
    if value in ("null", "~", ""):
        return None
    if value.lstrip("-").isdigit():
        return int(value)
    return value


def _load_yaml(text: str) -> tuple[Any, dict[tuple[Any, ...], int]]:
    lines: dict[tuple[Any, ...], int] = {}
    node = yamltext.compose(text)  # aliases, deep nesting and size refused: bombs stay small
    if node is None:
        return None, {(): 1}
    return _to_python(node, (), lines), lines


def _line(lines: dict[tuple[Any, ...], int], path: Iterable[Any]) -> int:
    path = tuple(path)
    while path and path not in lines:
        path = path[:-1]
    return lines.get(path, 1)


# --- checks ----------------------------------------------------------------------------------


def check_against_item(m: Mapping, item: ServiceItem) -> list[tuple[tuple[Any, ...], str]]:
    """(path-in-file, message) for every way the mapping does not fit this item version."""
    out: list[tuple[tuple[Any, ...], str]] = []
    where = f"item v{item.version}"
    if m.region not in item.cross_region:
        out.append((("region",), f"{where} is not offered for {m.region}"))
    names: dict[str, int] = {}
    for i, f in enumerate(m.fields):
        at = ("fields", i)
        if f.name in names:
            out.append(
                (
                    at + ("name",),
                    f"duplicate agency field name {f.name} (also fields[{names[f.name]}])",
                )
            )
        names.setdefault(f.name, i)
        if f.source is None and f.value is None:
            if f.required:
                out.append(
                    (at, f"required agency field {f.name} is not mapped (no source or value)")
                )
            else:
                out.append((at, f"agency field {f.name} has neither source nor value"))
            continue
        if f.value is not None:
            continue
        spec = item.field(f.source or "")
        if spec is None:
            out.append((at + ("source",), f"unknown form key {f.source} in {where}"))
            continue
        if f.type == "text" and holds_person_name(spec.label, spec.key):
            out.append(
                (
                    at + ("type",),
                    f"{f.source} holds a person's name: type it name (the name rules), not text",
                )
            )
        if f.person_when is not None:
            if f.type != "name":
                out.append((at + ("personWhen",), "personWhen is for name fields"))
            for key, values in f.person_when.items():
                cond = item.field(key)
                if cond is None:
                    out.append((at + ("personWhen",), f"unknown form key {key} in {where}"))
                elif cond.enum is not None and (bad := sorted(set(values) - set(cond.enum))):
                    out.append((at + ("personWhen",), f"not values of {key}: {', '.join(bad)}"))
        if spec.type not in _COMPATIBLE[f.type]:
            out.append(
                (at + ("type",), f"type clash: {f.type} cannot carry {spec.type} field {f.source}")
            )
        if f.required and not spec.required:
            out.append(
                (
                    at + ("required",),
                    f"required agency field {f.name} maps optional form field {f.source}",
                )
            )
        if f.values is not None:
            missing = sorted(set(spec.enum or []) - set(f.values))
            extra = sorted(set(f.values) - set(spec.enum or []))
            if missing:
                out.append((at + ("values",), f"enum values not mapped: {', '.join(missing)}"))
            if extra:
                out.append((at + ("values",), f"not values of {f.source}: {', '.join(extra)}"))
        if f.currency_from is not None:
            cur = item.field(f.currency_from)
            if cur is None:
                out.append(
                    (at + ("currencyFrom",), f"unknown form key {f.currency_from} in {where}")
                )
            elif f.required and not cur.required:
                out.append(
                    (at + ("currencyFrom",), f"currency field {f.currency_from} is optional")
                )
    for code in m.documents:
        if item.material(code) is None:
            out.append((("documents", code), f"unknown material code {code} in {where}"))
    for material in item.materials:
        if material.code not in m.documents:
            out.append(
                (
                    ("documents",),
                    f"material {material.code} ({material.name}) has no agency document type",
                )
            )
    return out


def check_against_format(m: Mapping, fmt: AgencyFormat | None) -> list[tuple[tuple[Any, ...], str]]:
    import re

    if fmt is None:
        return [(("region",), f"no adapter is installed for region {m.region}")]
    out: list[tuple[tuple[Any, ...], str]] = []
    if not re.fullmatch(fmt.agency_pattern, m.agency):
        out.append((("agency",), f"agency code {m.agency} does not match {fmt.agency_pattern}"))
    for code in sorted(fmt.status_codes - set(m.statuses)):
        out.append((("statuses",), f"agency status {code} is not mapped to a canonical status"))
    for code in sorted(set(m.statuses) - fmt.status_codes):
        out.append((("statuses", code), f"{code} is not a status code of the {m.region} format"))
    return out


def _schema_message(e: jsonschema.ValidationError) -> str:
    where = ".".join(map(str, e.absolute_path)) or "(top)"
    hint = ""
    if e.validator == "type" and e.validator_value == "string" and not isinstance(e.instance, str):
        hint = ' (quote it in YAML: "...")'
    return f"{where}: {e.message}{hint}"


def load_file(
    path: Path,
    catalogue: Catalogue,
    formats: MappingABC[str, AgencyFormat],
) -> tuple[Mapping | None, list[MappingProblem]]:
    """Parse and check one mapping file; the mapping is returned only when it has no problems."""
    name = path.name
    try:
        data, lines = _load_yaml(yamltext.read_text(path))
    except yamltext.YamlRefused as exc:
        return None, [MappingProblem(name, exc.line or 1, f"YAML: {exc.reason}")]
    except yaml.YAMLError as exc:  # a repeated key (_to_python)
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        return None, [MappingProblem(name, mark.line + 1 if mark else 1, f"YAML: {exc}")]
    validator = jsonschema.Draft202012Validator(_schema())
    problems = [
        MappingProblem(name, _line(lines, e.absolute_path), _schema_message(e))
        for e in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    ]
    if problems:
        return None, problems
    m = Mapping.model_validate(data)
    found: list[tuple[tuple[Any, ...], str]] = []
    if m.mapping != path.stem:
        found.append((("mapping",), f"mapping id {m.mapping} must equal the file name {path.stem}"))
    if not m.mapping.endswith("." + m.region.lower()):
        found.append((("mapping",), f"mapping id {m.mapping} must end with .{m.region.lower()}"))
    for version in m.item_versions:
        item = catalogue.get(m.item, version)
        if item is None:
            found.append((("itemVersions",), f"item {m.item} v{version} is not in the catalogue"))
        else:
            found += check_against_item(m, item)
    found += check_against_format(m, formats.get(m.region))
    problems = [MappingProblem(name, _line(lines, p), msg) for p, msg in found]
    return (None if problems else m), problems


class MappingSet:
    """All mappings, looked up by (item code, item version, region)."""

    def __init__(self, mappings: Iterable[Mapping]):
        self._by_key: dict[tuple[str, int, str], Mapping] = {}
        for m in mappings:
            for version in m.item_versions:
                key = (m.item, version, m.region)
                if key in self._by_key:
                    other = self._by_key[key].mapping
                    raise MappingError(
                        [
                            MappingProblem(
                                m.mapping + ".yaml", 1, f"same item version and region as {other}"
                            )
                        ]
                    )
                self._by_key[key] = m

    def find(self, item_code: str, item_version: int, region: str) -> Mapping | None:
        return self._by_key.get((item_code, item_version, region))

    def __iter__(self):
        return iter(
            sorted({m.mapping: m for m in self._by_key.values()}.values(), key=lambda m: m.mapping)
        )

    @classmethod
    def load(
        cls,
        catalogue: Catalogue,
        formats: MappingABC[str, AgencyFormat],
        directory: Path | None = None,
    ) -> MappingSet:
        """Load every ``*.yaml`` mapping; any problem in any file refuses the whole set."""
        mappings, problems = check_directory(catalogue, formats, directory)
        if problems:
            raise MappingError(problems)
        return cls(mappings)


def check_directory(
    catalogue: Catalogue,
    formats: MappingABC[str, AgencyFormat],
    directory: Path | None = None,
) -> tuple[list[Mapping], list[MappingProblem]]:
    directory = Path(directory or bundled_mappings_dir())
    files = sorted(directory.glob("*.yaml"))
    mappings: list[Mapping] = []
    problems: list[MappingProblem] = []
    if not files:
        problems.append(MappingProblem(str(directory), 1, "no mapping files (*.yaml)"))
    for path in files:
        m, found = load_file(path, catalogue, formats)
        problems += found
        if m is not None:
            mappings.append(m)
    return mappings, problems
