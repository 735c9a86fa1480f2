"""Every installed agency format and client has the shape of the port the core uses.

Structural, member by member, against what ``gateway.ports`` declares: ``isinstance`` on a
runtime-checkable Protocol would only check that the names exist, not that a method takes the
arguments the core passes.
"""

from __future__ import annotations

import inspect
import re
from typing import Any, get_type_hints

import pytest

from gateway.ports import AgencyClient, AgencyFormat
from gateway.registry import client_factory, installed_formats
from signing import KeyDirectory
from signing.header import HeaderSpec

REGIONS = sorted(installed_formats())


def protocol_methods(protocol: type) -> dict[str, inspect.Signature]:
    """The methods a Protocol declares, each with its signature."""
    return {
        name: inspect.signature(member)
        for name, member in vars(protocol).items()
        if inspect.isfunction(member) and not name.startswith("_")
    }


def protocol_attributes(protocol: type) -> dict[str, Any]:
    import gateway.ports as ports

    return {
        name: hint
        for name, hint in get_type_hints(protocol, vars(ports)).items()
        if not name.startswith("_")
    }


def same_arity(implemented: inspect.Signature, declared: inspect.Signature) -> list[str]:
    """What differs between a bound method's parameters and the protocol's (``self`` dropped):
    names, kinds and which have defaults."""
    want = [p for p in declared.parameters.values() if p.name != "self"]
    have = list(implemented.parameters.values())
    shape = [(p.name, p.kind, p.default is inspect.Parameter.empty) for p in want]
    got = [(p.name, p.kind, p.default is inspect.Parameter.empty) for p in have]
    return [] if shape == got else [f"declared {shape}, implemented {got}"]


def test_the_port_declares_what_the_core_and_transports_call() -> None:
    assert set(protocol_methods(AgencyFormat)) == {
        "render_submission",
        "render_supplement",
        "parse_header",
        "parse_receipt",
        "parse_status",
        "submission_fingerprint",
        "validate",
    }
    assert set(protocol_attributes(AgencyFormat)) == {
        "region",
        "namespace",
        "agency_pattern",
        "status_codes",
        "header",
    }


def test_both_regions_are_installed() -> None:
    assert REGIONS == ["HK", "MO"]


@pytest.mark.parametrize("region", REGIONS)
def test_installed_format_satisfies_the_port_member_by_member(region: str) -> None:
    fmt = installed_formats()[region]
    for name, declared in protocol_methods(AgencyFormat).items():
        method = getattr(fmt, name, None)
        assert callable(method), f"{region} format has no method {name}"
        assert not same_arity(inspect.signature(method), declared), (
            f"{region} {name}: {same_arity(inspect.signature(method), declared)}"
        )
    for name in protocol_attributes(AgencyFormat):
        assert hasattr(fmt, name), f"{region} format has no attribute {name}"
    assert fmt.region == region
    assert isinstance(fmt.namespace, str) and fmt.namespace
    re.compile(fmt.agency_pattern)
    assert isinstance(fmt.status_codes, frozenset) and fmt.status_codes
    assert all(isinstance(code, str) for code in fmt.status_codes)
    assert isinstance(fmt.header, HeaderSpec)


def test_the_formats_share_method_names_and_differ_only_in_namespace() -> None:
    hk, mo = (installed_formats()[r] for r in ("HK", "MO"))
    assert hk.namespace != mo.namespace
    for name in protocol_methods(AgencyFormat):
        assert inspect.signature(getattr(hk, name)) == inspect.signature(getattr(mo, name))


@pytest.mark.parametrize("region", REGIONS)
def test_installed_client_satisfies_the_port_member_by_member(
    region: str, keys: KeyDirectory
) -> None:
    connect = client_factory(region)
    params = inspect.signature(connect).parameters
    assert list(params)[:2] == ["url", "trust"]
    for keyword in ("agency", "timeout", "transport"):
        assert params[keyword].kind is inspect.Parameter.KEYWORD_ONLY, keyword
    client = connect("http://agency.test", keys.trust_store(), agency=f"{region}-X", timeout=1.0)
    try:
        for name, declared in protocol_methods(AgencyClient).items():
            method = getattr(client, name, None)
            assert callable(method), f"{region} client has no method {name}"
            assert not same_arity(inspect.signature(method), declared), f"{region} {name}"
    finally:
        client.close()
