"""``gbagw verify`` as a user runs it: one line per document, a reason code, never a traceback.

Every :class:`SignatureRejected` subclass — found by walking the class tree, so a new one is
covered automatically or fails here until it gets a crafted document — goes through the real
command (a subprocess) and must come out as exactly ``REJECTED <ClassName>: …`` with exit 1.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from lxml import etree

from signing import SignatureRejected, SigningKey, sign
from signing.devca import generate_key, self_signed_certificate

HKT = timezone(timedelta(hours=8))
DS = "{http://www.w3.org/2000/09/xmldsig#}"
INCLUSIVE_C14N = b"http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
EXCLUSIVE_C14N = b"http://www.w3.org/2001/10/xml-exc-c14n#"


def all_subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(all_subclasses(sub))
    return sorted(set(found), key=lambda c: c.__name__)


#: classes no check raises by themselves (only their subclasses are raised), with the reason
NEVER_RAISED_ALONE = {
    "ForbiddenConstruct": "a grouping: DtdForbidden, ProcessingInstructionForbidden …",
    "UnknownSigner": "a grouping: CertificateNotRegistered, CertificateOfAnotherParty",
    "CertificateNotValidAtTime": (
        "only if signxml disagrees with the gateway's own time check, which runs first with "
        "skew and hands signxml an instant inside the validity: unreachable by input"
    ),
}


def tree(data: bytes) -> etree._Element:
    return etree.fromstring(data)


def xml(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def status(k) -> bytes:
    return k.signed("cbce-status")


def _moved_signature(k) -> bytes:
    root = tree(status(k))
    root.find(k.kinds["cbce-status"].header.sender).getparent().append(root[-1])
    return xml(root)


def _wrapped(k) -> bytes:
    evil = k.kinds["cbce-status"].root()
    evil.set("Id", "evil")
    evil.append(tree(status(k)))
    return xml(evil)


def _duplicate_id(k) -> bytes:
    root = tree(status(k))
    k.kinds["cbce-status"].header_element(root).set("Id", root.get("Id"))
    return xml(root)


def _empty_key_info(k) -> bytes:
    root = tree(status(k))
    key_info = root[-1].find(f"{DS}KeyInfo")
    for child in list(key_info):
        key_info.remove(child)
    return xml(root)


def _signed_by(party: str) -> Callable:
    def build(k) -> bytes:
        return k.sign(k.kinds["cbce-status"].root(), party)

    return build


def _self_signed(k) -> bytes:
    private = generate_key("rsa")
    now = datetime.now(UTC)
    key = SigningKey(
        private,
        self_signed_certificate("HK-TD", private, now - timedelta(days=1), now + timedelta(days=9)),
    )
    return xml(sign(k.kinds["cbce-status"].root(), key))


def _sent_in_future(k) -> bytes:
    kind = k.kinds["cbce-status"]
    root = kind.root()
    later = datetime.now(UTC) + timedelta(hours=2)
    kind.header_element(root, "sent_at").text = later.astimezone(HKT).isoformat()
    return k.sign(root, kind=kind.name)


def _tampered_value(k) -> bytes:
    root = tree(status(k))
    value = root[-1].find(f"{DS}SignatureValue")
    value.text = ("A" if value.text[0] != "A" else "B") + value.text[1:]
    return xml(root)


def _edited(k) -> bytes:
    data = status(k)
    assert b"TD/2026/000123" in data
    return data.replace(b"TD/2026/000123", b"TD/2026/000124")


def _xinclude(k) -> bytes:
    return status(k).replace(
        b"</cbce:StatusNotice>",
        b'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="/etc/passwd"/>'
        b"</cbce:StatusNotice>",
    )


#: class name -> (document builder, extra arguments)
CASES: dict[str, tuple[Callable, tuple[str, ...]]] = {
    "MalformedDocument": (lambda k: b"<cbce:a><b></a>", ()),
    "DocumentTooLarge": (lambda k: b"<a>" + b"x" * (1 << 20) + b"</a>", ()),
    "DocumentTooDeep": (lambda k: b"<a>" * 40 + b"</a>" * 40, ()),
    "EncodingForbidden": (lambda k: status(k).decode().encode("utf-16"), ()),
    "UnsupportedFormat": (lambda k: b'<x xmlns="urn:example:other" Id="x"/>', ()),
    "DtdForbidden": (
        lambda k: (
            status(k)
            .replace(b"?>", b'?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>', 1)
            .replace(b">IN_PROGRESS<", b">&x;<")
        ),
        (),
    ),
    "ProcessingInstructionForbidden": (
        lambda k: status(k).replace(b"<cbce:Seq>", b"<?evil run?><cbce:Seq>"),
        (),
    ),
    "ExternalReferenceForbidden": (_xinclude, ()),
    "SignatureCountError": (lambda k: xml(k.kinds["cbce-status"].root()), ()),
    "SignatureMisplaced": (_moved_signature, ()),
    "SignedElementWrapped": (_wrapped, ()),
    "ReferenceMismatch": (lambda k: re.sub(rb'URI="#[^"]*"', b'URI="#other"', status(k)), ()),
    "DuplicateId": (_duplicate_id, ()),
    "SignatureStructureError": (_empty_key_info, ()),
    "WeakAlgorithm": (
        lambda k: status(k).replace(b"xmldsig-more#rsa-sha256", b"xmldsig#rsa-sha1"),
        (),
    ),
    "AlgorithmNotAllowed": (lambda k: status(k).replace(EXCLUSIVE_C14N, INCLUSIVE_C14N, 1), ()),
    "CertificateNotRegistered": (_self_signed, ()),
    "CertificateOfAnotherParty": (_signed_by("HK-CR"), ()),
    "CertificateExpired": (_signed_by("HK-EXPIRED"), ()),
    "CertificateNotYetValid": (_signed_by("HK-FUTURE"), ()),
    "SentAtInFuture": (_sent_in_future, ()),
    "WrongSender": (status, ("--from", "HK-CR")),
    "SignatureInvalid": (_tampered_value, ()),
    "DigestMismatch": (_edited, ()),
}

REFUSALS = all_subclasses(SignatureRejected)


def test_every_refusal_class_has_a_crafted_document_or_a_reason():
    names = {cls.__name__ for cls in REFUSALS}
    missing = names - set(CASES) - set(NEVER_RAISED_ALONE)
    assert not missing, f"add a crafted document to CASES for {sorted(missing)}"
    assert not (set(CASES) | set(NEVER_RAISED_ALONE)) - names, "stale entries"


@pytest.mark.parametrize("refusal", REFUSALS, ids=lambda cls: cls.__name__)
def test_each_refusal_is_one_line_with_its_reason_code(cli_kit, refusal):
    name = refusal.__name__
    if name in NEVER_RAISED_ALONE:
        pytest.skip(NEVER_RAISED_ALONE[name])
    build, extra = CASES[name]
    path = cli_kit.write(f"{name}.xml", build(cli_kit))
    done = cli_kit.gbagw(*extra, str(path))
    assert "Traceback" not in done.stdout + done.stderr
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout
    assert lines[0].startswith(f"REJECTED {name}: {path}: "), lines[0]
    assert done.returncode == 1


# --- inputs that are not documents -------------------------------------------------------------


def test_unreadable_inputs_exit_2_with_one_line(cli_kit, tmp_path):
    for target in (tmp_path / "missing.xml", tmp_path):
        done = cli_kit.gbagw(str(target))
        assert done.returncode == 2
        assert done.stdout == ""
        (line,) = done.stderr.splitlines()
        assert line.startswith("ERROR InputUnreadable: cannot read ") and str(target) in line


@pytest.mark.parametrize(
    "data, code",
    [
        (b"", "MalformedDocument"),
        (b"   \n", "MalformedDocument"),
        (b"just text", "EncodingForbidden"),  # does not start with '<'
        (b"<not xml", "MalformedDocument"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "EncodingForbidden"),
        (b"<a>\xff\xfe</a>", "MalformedDocument"),
        (b'<?xml version="1.0" encoding="ISO-8859-1"?><a>\xe9</a>', "EncodingForbidden"),
    ],
)
def test_non_documents_are_rejected_in_one_line(cli_kit, data, code):
    path = cli_kit.write(f"junk-{abs(hash(data))}.bin", data)
    done = cli_kit.gbagw(str(path))
    assert done.returncode == 1 and done.stderr == ""
    (line,) = done.stdout.splitlines()
    assert line.startswith(f"REJECTED {code}: ")


def test_dev_zero_is_read_bounded(cli_kit):
    done = cli_kit.gbagw("/dev/zero", timeout=30)  # an unbounded read would never end
    assert done.returncode == 1
    (line,) = done.stdout.splitlines()
    assert line.startswith("REJECTED DocumentTooLarge: /dev/zero: ")


def test_standard_input(cli_kit):
    good = cli_kit.signed("sip-estado")
    done = cli_kit.gbagw("-", stdin=good)
    assert done.returncode == 0, done.stdout + done.stderr
    (line,) = done.stdout.splitlines()
    assert line.startswith("ACCEPTED -: signed by MO-DSAT ")

    bomb = b'<!DOCTYPE a [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><a>&b;</a>'
    done = cli_kit.gbagw("-", stdin=bomb)
    assert done.returncode == 1
    assert done.stdout.splitlines()[0].startswith("REJECTED DtdForbidden: -: ")


def test_an_unusable_trust_list_is_configuration_exit_3(cli_kit, tmp_path):
    path = cli_kit.write("good-for-trust.xml", status(cli_kit))
    done = cli_kit.gbagw("--keys", str(tmp_path / "no-keys"), str(path))
    assert done.returncode == 3 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("ERROR TrustConfigError: cannot load the trust list")


def test_several_files_one_line_each_and_the_worst_exit_code(cli_kit, tmp_path):
    good = cli_kit.write("several-good.xml", status(cli_kit))
    bad = cli_kit.write("several-bad.xml", _edited(cli_kit))
    done = cli_kit.gbagw(str(good), str(bad))
    assert done.returncode == 1
    first, second = done.stdout.splitlines()
    assert first.startswith(f"ACCEPTED {good}: signed by HK-TD")
    assert second.startswith(f"REJECTED DigestMismatch: {bad}: ")
    done = cli_kit.gbagw(str(good), str(tmp_path / "nope.xml"), str(bad))
    assert done.returncode == 2
    assert len(done.stdout.splitlines()) == 2 and len(done.stderr.splitlines()) == 1


def test_hostile_file_names_stay_on_one_line(cli_kit, tmp_path):
    data = _edited(cli_kit)
    for name in ("[red]x[bold]y", "new\nline.xml", "bad-\udcff.xml"):
        path = tmp_path / name
        path.write_bytes(data)
        done = cli_kit.gbagw(str(path))
        assert done.returncode == 1, done.stderr
        assert "Traceback" not in done.stdout + done.stderr
        (line,) = done.stdout.splitlines()
        assert line.startswith("REJECTED DigestMismatch: ")
    assert "[red]x[bold]y" in cli_kit.gbagw(str(tmp_path / "[red]x[bold]y")).stdout  # not markup


def test_long_lines_are_not_wrapped_when_piped(cli_kit):
    path = cli_kit.write("x" * 120 + ".xml", _edited(cli_kit))
    done = cli_kit.gbagw(str(path))  # COLUMNS=80, stdout a pipe
    (line,) = done.stdout.splitlines()
    assert len(line) > 200 and str(path) in line


# --- --json ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind, signer, case_ref, agency_case_ref, status_code, seq",
    [
        ("cbce-status", "HK-TD", "GBA-0123456789ABCDEF0123", "TD/2026/000123", "IN_PROGRESS", 12),
        (
            "sip-estado", "MO-DSAT", "GBA-0123456789ABCDEF0123", "DSAT-2026-0042", "EM_APRECIACAO",
            12,
        ),
    ],
)  # fmt: skip
def test_json_accepted(cli_kit, kind, signer, case_ref, agency_case_ref, status_code, seq):
    data = cli_kit.signed(kind)
    done = cli_kit.gbagw("--json", str(cli_kit.write(f"json-{kind}.xml", data)))
    assert done.returncode == 0, done.stdout + done.stderr
    (line,) = done.stdout.splitlines()
    record = json.loads(line)
    assert record["verdict"] == "accepted"
    assert record["reason_code"] is None and record["reason"] is None
    assert record["signer"] == signer
    assert record["certificate_fingerprint"] == cli_kit.key(signer).fingerprint
    message_id = tree(data).find(cli_kit.kinds[kind].header.message_id).text
    assert record["message_id"] == message_id
    assert datetime.fromisoformat(record["sent_at"])
    assert record["case_ref"] == case_ref
    assert record["agency_case_ref"] == agency_case_ref
    assert record["status"] == status_code
    assert record["sequence"] == seq


def test_json_gateway_document_has_no_status(cli_kit):
    data = cli_kit.signed("sip-pedido")
    done = cli_kit.gbagw("--json", "--from", "GD-GBA-GW", str(cli_kit.write("json-pp.xml", data)))
    record = json.loads(done.stdout)
    assert record["verdict"] == "accepted" and record["signer"] == "GD-GBA-GW"
    assert record["case_ref"].startswith("GBA-")
    assert record["status"] is None and record["sequence"] is None


def test_json_rejected(cli_kit):
    forged = cli_kit.sign(cli_kit.kinds["cbce-status"].root(), "HK-CR")
    done = cli_kit.gbagw("--json", str(cli_kit.write("json-forged.xml", forged)))
    assert done.returncode == 1
    record = json.loads(done.stdout)
    assert record["verdict"] == "rejected"
    assert record["reason_code"] == "CertificateOfAnotherParty"
    assert "HK-CR" in record["reason"]
    assert record["signer"] is None and record["status"] is None
    assert record["unverified"] == {
        "claimed_sender": "HK-TD",
        "certificate_registered_for": "HK-CR",
    }


def test_json_unreadable(cli_kit, tmp_path):
    done = cli_kit.gbagw("--json", str(tmp_path / "missing.xml"))
    assert done.returncode == 2
    assert json.loads(done.stdout)["verdict"] == "error"
    assert done.stderr.startswith("ERROR InputUnreadable")


def test_json_is_a_flag_in_the_help(cli_kit):
    done = cli_kit.gbagw("--help")
    text = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout)
    assert done.returncode == 0 and "--json" in text
    assert not re.search(r"--json\s+<bool>", text) and "--json BOOLEAN" not in text.upper()


def test_keys_commands_take_keys(tmp_path, cli_kit):
    import subprocess

    gbagw = cli_kit.gbagw_path
    target = tmp_path / "k1"
    done = subprocess.run(
        [gbagw, "keys", "init", "--keys", str(target), "--agency", "HK-TD", "--key-type", "ec"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    listed = subprocess.run(
        [gbagw, "keys", "list", "--keys", str(target)], capture_output=True, text=True, check=False
    )
    assert listed.returncode == 0 and "HK-TD" in listed.stdout
    positional = subprocess.run(
        [gbagw, "keys", "init", str(tmp_path / "k2"), "--agency", "HK-TD"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert positional.returncode == 0, positional.stderr
    assert (tmp_path / "k2" / "trust.yaml").is_file()


def test_reports_copy_nothing_from_the_received_tree(cli_kit):
    """The JSON values are those of the canonical form: a comment does not cut them."""
    data = cli_kit.signed("cbce-status")
    commented = data.replace(b">IN_PROGRESS<", b">IN_<!-- x -->PROGRESS<").replace(
        b">12<", b">1<!-- y -->2<"
    )
    assert commented != data
    done = cli_kit.gbagw("--json", str(cli_kit.write("json-comment.xml", commented)))
    record = json.loads(done.stdout)
    assert record["verdict"] == "accepted", record
    assert (record["status"], record["sequence"]) == ("IN_PROGRESS", 12)
