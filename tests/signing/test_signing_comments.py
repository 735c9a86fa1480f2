"""Comments are accepted, and never change a value the gateway reads (both specs).

Exclusive C14N does not sign comments, so an agency toolkit may add one anywhere — even inside
a signed text node — and the signature still verifies. Every value must then come from the
signed canonical form: ``<Seq>1<!-- x -->2</Seq>`` is ``12``, never ``1``. Documents are real
ones (the adapters' renderers, signed with the agencies' keys); each comment is inserted after
signing, into the text node of a business value, and a bare signxml witness proves the
signature still verifies while a naive ``.text`` on the received tree reads half the value.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from lxml import etree
from signxml import XMLVerifier

from signing import verify

#: kind -> the leaves a comment is put into (local names), header ones included
FIELDS = {
    "cbce-status": ("Seq", "Status", "AgencyCaseRef", "GatewayCaseRef", "Sender", "MessageId"),
    "sip-estado": (
        "Sequencia",
        "Estado",
        "NumeroProcesso",
        "ReferenciaGateway",
        "Remetente",
        "IdMensagem",
    ),
}
CASES = [(kind, field) for kind, fields in FIELDS.items() for field in fields]


def formats():
    from adapters.hk import FORMAT as CBCE
    from adapters.macau import FORMAT as SIP

    return {"cbce-status": CBCE, "sip-estado": SIP}


def named(root: etree._Element, local_name: str) -> list[etree._Element]:
    return [e for e in root.iter(etree.Element) if etree.QName(e).localname == local_name]


def split_with_comment(data: bytes, local_name: str, *, every: bool = True) -> tuple[bytes, str]:
    """``data`` with a comment in the middle of the (last, when several) ``local_name`` text."""
    root = etree.fromstring(data)  # the default parser keeps comments
    found = named(root, local_name)
    assert found, local_name
    leaf = found[-1]
    text = leaf.text
    assert text and len(text) >= 2 and len(leaf) == 0
    cut = len(text) // 2
    leaf.text = text[:cut]
    comment = etree.Comment(" added by the agency's toolkit ")
    comment.tail = text[cut:]
    leaf.insert(0, comment)
    if every:  # and a few more where nobody reads values
        root.addprevious(etree.Comment(" before the root "))
        root[0].addprevious(etree.Comment(" first child "))
    out = etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")
    assert out != data and b"<!--" in out
    return out, text


@pytest.mark.parametrize("kind, field", CASES)
def test_a_comment_in_a_signed_value_does_not_change_it(cli_kit, kind, field):
    signed = cli_kit.signed(kind)
    commented, whole = split_with_comment(signed, field)
    signer = cli_kit.kinds[kind].party

    # witness: the signature still verifies, and the received tree reads half the value
    XMLVerifier().verify(commented, x509_cert=cli_kit.key(signer).certificate)
    received = etree.fromstring(commented)
    naive = named(received, field)[-1].text
    assert naive != whole

    fmt = formats()[kind]
    verified = verify(commented, cli_kit.trust, fmt.header)
    assert verified.sender == signer
    element = verified.element
    assert next(element.iter(etree.Comment), None) is None
    assert named(element, field)[-1].text == whole
    assert element.getroottree().docinfo.encoding == "UTF-8"
    # the canonical form signed is that of the original, comment-free document
    assert verified.signed_bytes == verify(signed, cli_kit.trust, fmt.header).signed_bytes

    report = fmt.parse_status(element)
    expected = fmt.parse_status(verify(signed, cli_kit.trust, fmt.header).element)
    assert report == expected
    assert report.header.message_id == verified.message_id


@pytest.mark.parametrize("kind", FIELDS)
def test_cli_json_reads_the_canonical_values(cli_kit, kind):
    signed = cli_kit.signed(kind)
    commented = signed
    for field in FIELDS[kind][:4]:
        commented, _ = split_with_comment(commented, field, every=False)
    plain = json.loads(
        cli_kit.gbagw("--json", str(cli_kit.write(f"c-{kind}-0.xml", signed))).stdout
    )
    done = cli_kit.gbagw("--json", str(cli_kit.write(f"c-{kind}-1.xml", commented)))
    assert done.returncode == 0, done.stdout + done.stderr
    record = json.loads(done.stdout)
    for key in ("verdict", "signer", "message_id", "case_ref", "agency_case_ref", "status"):
        assert record[key] == plain[key], key
    assert record["sequence"] == plain["sequence"] == 12


def test_hk_receiver_accepts_a_commented_notice_and_reads_it_whole(cli_kit, tmp_path):
    """The gateway's HK push endpoint: a real adapter path, from bytes to the report."""
    from adapters.hk.inbound import PATH, create_receiver
    from gateway.inbound.testing import file_case_for, recording_inbound

    signed = cli_kit.signed("cbce-status")
    commented, _ = split_with_comment(signed, "Status")
    commented, _ = split_with_comment(commented, "Seq", every=False)
    commented, _ = split_with_comment(commented, "GatewayCaseRef", every=False)
    with recording_inbound(tmp_path / "gateway", cli_kit.trust) as inbound:
        file_case_for(inbound.sessions, "GBA-0123456789ABCDEF0123", "HK-TD")
        with TestClient(create_receiver(inbound)) as client:
            answer = client.post(
                PATH, content=commented, headers={"Content-Type": "application/xml"}
            )
    assert answer.status_code < 300, answer.text
    (report,) = [r for r, _ in inbound.accepted]
    assert report.header.case_ref == "GBA-0123456789ABCDEF0123"
    assert (report.events[0].agency_status, report.events[0].seq) == ("IN_PROGRESS", 12)


def test_dtds_pis_and_xinclude_are_still_refused_beside_comments(cli_kit):
    signed = cli_kit.signed("cbce-status")
    commented, _ = split_with_comment(signed, "Status")
    for forged, code in (
        (commented.replace(b"<cbce:Seq>", b"<?pi x?><cbce:Seq>"), "ProcessingInstructionForbidden"),
        (
            commented.replace(b"?>", b"?><!DOCTYPE r [<!ENTITY e 'x'>]>", 1),
            "DtdForbidden",
        ),
    ):
        assert forged != commented
        done = cli_kit.gbagw(str(cli_kit.write(f"c-{code}.xml", forged)))
        assert done.returncode == 1 and done.stdout.startswith(f"REJECTED {code}: ")
