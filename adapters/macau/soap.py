"""SOAP 1.1 envelopes and faults for SIP, on the agency (server) side and for reading faults.

The gateway's *client* never builds envelopes by hand (zeep does, from the WSDL); this module is
what a SIP endpoint — the sandbox agency — needs, plus :func:`read_fault`, which the client and
the conformance kit use to read ``detail/sip:Erro`` from an envelope they parsed safely.

Two rules shape it:

* a request is parsed once with :func:`signing.parse_untrusted` (no DTD or entities, bounded
  size and depth, no comments or PIs) before anything reads it;
* a signed payload is put into a response envelope as the very bytes that were signed
  (concatenation, no re-serialisation), so what the client extracts is what the agency signed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lxml import etree

from adapters.macau import FORMAT
from adapters.macau.format import NS
from signing import Limits, SignatureRejected, parse_untrusted

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
CONTENT_TYPE = "text/xml; charset=utf-8"
ENVELOPE = f"{{{SOAP_ENV}}}Envelope"
HEADER = f"{{{SOAP_ENV}}}Header"
BODY = f"{{{SOAP_ENV}}}Body"
FAULT = f"{{{SOAP_ENV}}}Fault"
#: a payload may be as big and deep as a standalone document; the envelope adds two levels
ENVELOPE_LIMITS = Limits(max_bytes=(1 << 20) + 4096, max_depth=34)

FaultCode = Literal["Client", "Server", "MustUnderstand", "VersionMismatch"]

#: faultstring per Erro/Codigo, in Portuguese as the spec requires (Mensagem carries the detail)
FAULT_STRINGS = {
    "ESQUEMA": "O documento não está conforme o esquema SIP 1.0",
    "ASSINATURA": "A assinatura do documento foi rejeitada",
    "PROCESSO_DESCONHECIDO": "Processo desconhecido",
    "CONFLITO_DUPLICADO": "Referência já utilizada com outra mensagem e outro conteúdo",
    "NAO_AUTORIZADO": "Remetente ou destinatário não autorizado",
    "INTERNO": "Serviço temporariamente indisponível; tente mais tarde",
}


class SoapFault(Exception):
    """A fault to answer with; raised anywhere in request handling, rendered once."""

    def __init__(self, code: FaultCode, codigo: str, mensagem: str):
        super().__init__(f"{code}/{codigo}: {mensagem}")
        self.code = code
        self.codigo = codigo
        self.mensagem = mensagem

    @property
    def faultstring(self) -> str:
        return FAULT_STRINGS.get(self.codigo, FAULT_STRINGS["INTERNO"])

    def to_bytes(self) -> bytes:
        return fault_envelope(self.code, self.faultstring, self.codigo, self.mensagem)


def client_fault(codigo: str, mensagem: str) -> SoapFault:
    return SoapFault("Client", codigo, mensagem)


def server_fault(mensagem: str = "Serviço indisponível") -> SoapFault:
    return SoapFault("Server", "INTERNO", mensagem)


# --- agency side: reading a request -----------------------------------------------------------


def read_request(data: bytes, limits: Limits = ENVELOPE_LIMITS) -> etree._Element:
    """The one payload element of a SOAP 1.1 request, or a ``soap:Client`` :class:`SoapFault`.

    The envelope is parsed with the signing module's hardened parser, so a DTD, entity,
    comment, processing instruction or oversized document is refused before it is read.
    """
    try:
        root = parse_untrusted(data, limits)
    except SignatureRejected as exc:
        raise client_fault("ESQUEMA", f"envelope refused ({exc.reason}): {exc.message}") from None
    if root.tag != ENVELOPE:
        if etree.QName(root).localname == "Envelope":
            raise SoapFault("VersionMismatch", "ESQUEMA", "only SOAP 1.1 envelopes are accepted")
        raise client_fault("ESQUEMA", "the request is not a SOAP 1.1 envelope")
    parts = [child for child in root if isinstance(child.tag, str)]
    if [p.tag for p in parts] not in ([BODY], [HEADER, BODY]):
        raise client_fault("ESQUEMA", "the envelope must hold an optional Header, then a Body")
    if parts[0].tag == HEADER:
        for entry in parts[0]:
            if entry.get(f"{{{SOAP_ENV}}}mustUnderstand") in ("1", "true"):
                raise SoapFault(
                    "MustUnderstand", "ESQUEMA", f"header {etree.QName(entry).text} not understood"
                )
    body = parts[-1]
    payload = [child for child in body if isinstance(child.tag, str)]
    if (body.text or "").strip() or any((p.tail or "").strip() for p in payload):
        raise client_fault("ESQUEMA", "the Body holds text outside its payload element")
    if len(payload) != 1:
        raise client_fault("ESQUEMA", f"the Body must hold one payload element, not {len(payload)}")
    return payload[0]


def standalone(element: etree._Element) -> bytes:
    """``element`` serialised as its own document, for :func:`signing.verify`.

    lxml copies the namespace declarations inherited from the envelope onto the element; the
    signature is over exclusive C14N, which drops those that are unused, so it still verifies.
    """
    return etree.tostring(element, encoding="UTF-8", xml_declaration=False)


# --- agency side: writing a response ------------------------------------------------------------


def strip_declaration(document: bytes) -> bytes:
    """The document without its XML declaration, so it can sit inside an envelope."""
    data = document.lstrip()
    if data.startswith(b"<?xml"):
        end = data.find(b"?>")
        if end < 0:
            raise ValueError("unterminated XML declaration")
        data = data[end + 2 :].lstrip()
    return data


def response_envelope(payload: bytes) -> bytes:
    """A response envelope around ``payload``, which stays byte-for-byte what was signed.

    ``payload`` must be one UTF-8 element (with or without an XML declaration) produced by the
    agency itself — never untrusted input, which is inserted unparsed.
    """
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        + f'<soap:Envelope xmlns:soap="{SOAP_ENV}"><soap:Body>'.encode()
        + strip_declaration(payload)
        + b"</soap:Body></soap:Envelope>"
    )


def fault_envelope(code: FaultCode, faultstring: str, codigo: str, mensagem: str) -> bytes:
    """A SOAP 1.1 fault: ``soap:<code>``, Portuguese faultstring, ``detail/sip:Erro``."""
    envelope = etree.Element(ENVELOPE, nsmap={"soap": SOAP_ENV})
    fault = etree.SubElement(etree.SubElement(envelope, BODY), FAULT)
    etree.SubElement(fault, "faultcode").text = f"soap:{code}"
    etree.SubElement(fault, "faultstring").text = faultstring
    detail = etree.SubElement(fault, "detail")
    detail.append(FORMAT.render_error(codigo, mensagem))
    return etree.tostring(envelope, encoding="UTF-8", xml_declaration=True)


# --- either side: reading a fault ---------------------------------------------------------------


@dataclass(frozen=True)
class FaultInfo:
    """A received SOAP 1.1 fault: ``code`` is the local part (``Client``, ``Server.Busy`` …)."""

    code: str | None
    faultstring: str
    codigo: str | None = None
    mensagem: str = ""

    @property
    def is_client(self) -> bool:
        return self.code is not None and (self.code == "Client" or self.code.startswith("Client."))

    @property
    def is_server(self) -> bool:
        return self.code is not None and (self.code == "Server" or self.code.startswith("Server."))


def read_fault(envelope: etree._Element) -> FaultInfo | None:
    """The fault in an already safely parsed envelope, or None when its Body holds no fault.

    ``faultcode`` is a QName: its prefix is resolved against the element's own namespace
    declarations, so ``env:Client`` counts only when ``env`` is the SOAP 1.1 namespace.
    """
    fault = envelope.find(f"{BODY}/{FAULT}")
    if fault is None:
        return None
    code_el = fault.find("faultcode")
    code: str | None = None
    if code_el is not None:
        text = str(code_el.xpath("string()")).strip()
        prefix, _, local = text.rpartition(":")
        if code_el.nsmap.get(prefix or None) == SOAP_ENV:
            code = local
    erro = fault.find(f"detail/{{{NS}}}Erro")
    codigo, mensagem = None, ""
    if erro is not None:
        codigo = str(erro.xpath(f"string(*[local-name()='Codigo' and namespace-uri()='{NS}'])"))
        mensagem = str(erro.xpath(f"string(*[local-name()='Mensagem' and namespace-uri()='{NS}'])"))
        codigo = codigo.strip() or None
    return FaultInfo(
        code=code,
        faultstring=str(fault.xpath("string(faultstring)")).strip(),
        codigo=codigo,
        mensagem=mensagem.strip(),
    )


def body_payload(envelope: etree._Element) -> etree._Element | None:
    """The single element in a response Body (None when there is not exactly one)."""
    body = envelope.find(BODY) if envelope.tag == ENVELOPE else None
    if body is None:
        return None
    payload = [child for child in body if isinstance(child.tag, str)]
    return payload[0] if len(payload) == 1 else None
