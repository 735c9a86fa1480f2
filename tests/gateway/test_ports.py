"""DocumentInvalid says which element an agency's schema refuses and why, without the value:
libxml2 quotes values, and a rendered application's values are personal data."""

from __future__ import annotations

import json

import pytest
from lxml import etree

from adapters.hk import FORMAT
from gateway.devkit.examples import bundled_examples
from gateway.ports import DocumentInvalid
from gateway.render.pipeline import Pipeline

NS = {"c": FORMAT.namespace}


@pytest.fixture(scope="module")
def submission() -> bytes:
    vehicle = next(p for p in bundled_examples() if p.stem == "northbound-vehicle-hk")
    pipeline = Pipeline()
    return pipeline.render(pipeline.accept(vehicle.read_bytes()), None).to_bytes()


@pytest.mark.parametrize(
    ("xpath", "value", "path"),
    [
        ("//c:Applicant/c:NameEn/c:Surname", "CHAN'S-", "CaseSubmission/Applicant/NameEn/Surname"),
        ("//c:Applicant/c:Phone", "+85291234567890123", "CaseSubmission/Applicant/Phone"),
        ("//c:Service/c:ServiceCode", "TD  NBT", "CaseSubmission/Service/ServiceCode"),
    ],
    ids=["pattern-with-quote", "phone", "token"],
)
def test_problems_name_the_element_and_never_the_value(
    submission: bytes, xpath: str, value: str, path: str
) -> None:
    root = etree.fromstring(submission)
    (element,) = root.xpath(xpath, namespaces=NS)
    element.text = value
    with pytest.raises(DocumentInvalid) as refused:
        FORMAT.validate(root)
    assert value in str(refused.value)  # libxml2 quotes it: the raw errors hold it
    problems = refused.value.problems()
    assert [p for p, _ in problems] == [path]
    assert all(value not in why and "the value" in why for _, why in problems), problems


def test_an_error_of_another_shape_is_kept_with_quoted_values_taken_out() -> None:
    refused = DocumentInvalid("X", ["'0123' is not a valid value of the atomic type 'xs:date'."])
    assert refused.problems() == [
        (
            "",
            "the agency's format refuses it once mapped: the value is not a valid value of the"
            " atomic type 'xs:date'.",
        )
    ]
    assert json.dumps(refused.problems())  # plain strings
