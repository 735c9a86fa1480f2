"""The mapping a case was filed under, and its document types both ways.

A case keeps its mapping's id and version; the mapping files are loaded once per process
(with the bundled catalogue and the installed formats, as the pipeline loads them). A case
whose mapping is no longer installed has no mapping here (None): callers degrade (no
Guangdong code for an agency type, no agency due date) rather than fail.
"""

from __future__ import annotations

import functools
import logging

from gateway.mappings.engine import Mapping, MappingSet

log = logging.getLogger(__name__)


@functools.cache
def _mappings() -> MappingSet:
    from gateway.catalogue.loader import Catalogue
    from gateway.registry import installed_formats

    catalogue = Catalogue.load(None)
    return MappingSet.load(catalogue, installed_formats())


def case_mapping(item_code: str, item_version: int, region: str, mapping_id: str) -> Mapping | None:
    """The installed mapping for the case's item version and region (None when there is none).

    A mapping found under another id than the case's is still the one in force for that item
    version and region (renamed file); it is logged, not refused.
    """
    try:
        mapping = _mappings().find(item_code, item_version, region)
    except Exception:  # noqa: BLE001 - broken mapping files: the CLI's `mappings validate` says why
        log.exception("mappings cannot be loaded")
        return None
    if mapping is not None and mapping.mapping != mapping_id:
        log.warning("case mapping %s is now %s", mapping_id, mapping.mapping)
    return mapping


def material_code_for(mapping: Mapping | None, agency_type: str) -> str | None:
    """The Guangdong material code the mapping sends as ``agency_type`` (None: none, or several)."""
    if mapping is None:
        return None
    codes = [code for code, typ in mapping.documents.items() if typ == agency_type]
    return codes[0] if len(codes) == 1 else None
