"""Macao SIP 1.0 documents: render canonical models to SIP XML, validate, and parse replies.

The format knows neither signatures nor transport: it renders unsigned roots carrying the
``Id`` their signature will reference, validates against the project's own XSD (see
``schema/sip-1.0.xsd``, written from ``docs/specs/macau-sip-1.0.md``), and parses roots that
``signing/`` has already verified. Values are read with XPath ``string()``, so a comment that
splits a text node (comments are not signed) cannot truncate what is read.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

from lxml import etree

from gateway.domain import (
    Address,
    DocumentRef,
    Identity,
    IdType,
    MessageHeader,
    PendingDocument,
    Person,
    Receipt,
    Region,
    ResultRef,
    StatusEvent,
    StatusReport,
    Submission,
    Supplement,
)
from gateway.ports import AgencyFormat, DocumentInvalid
from gateway.render.documents import (
    DocumentWriter,
    Schema,
    content_fingerprint,
    xs_boolean,
    xs_datetime,
)
from signing.header import HeaderSpec

NS = "urn:mo-gov:sip:1.0"
SCHEMA_DIR = Path(__file__).parent / "schema"
XSD_PATH = SCHEMA_DIR / "sip-1.0.xsd"
WSDL_PATH = SCHEMA_DIR / "sip-1.0.wsdl"
#: the binding the transport addresses per agency: ``client.create_service(BINDING, url)``
BINDING = f"{{{NS}}}SIPBinding"
SCHEMA_VERSION = "1.0"

STATUS_CODES = frozenset(
    {
        "RECEBIDO",
        "ADMITIDO",
        "PENDENTE_DOCUMENTOS",
        "EM_APRECIACAO",
        "DEFERIDO",
        "INDEFERIDO",
        "DESISTIDO",
        "CONCLUIDO",
    }
)
ERROR_CODES = frozenset(
    {
        "ESQUEMA",
        "ASSINATURA",
        "PROCESSO_DESCONHECIDO",
        "CONFLITO_DUPLICADO",
        "NAO_AUTORIZADO",
        "INTERNO",
    }
)

_ID_TYPES: dict[IdType, str] = {
    "PRC_ID": "BIRPRC",  # residence permits 810000/820000 too
    "HK_ID": "HKID",
    "MO_ID": "BIR",
    "HKMO_PERMIT": "SALVOCONDUTO",
    "PASSPORT": "PASSAPORTE",
}
#: LocalEmissao is fixed by the document type; only a passport names its own issuer
_ISSUING_PLACES = {"BIR": "MAC", "HKID": "HKG", "BIRPRC": "CHN", "SALVOCONDUTO": "CHN"}
_REGIONS = {"HK": "HK", "MO": "MO", "CN-GD": "CN-GD", "OTHER": "OUTRA"}
_CHANNELS = {"ELECTRONIC": "ELECTRONICO", "COUNTER": "BALCAO", "POST": "CORREIO"}


def _q(name: str) -> str:
    return f"{{{NS}}}{name}"


def _path(*names: str) -> str:
    return "/".join(_q(n) for n in names)


# --- writing ------------------------------------------------------------------------------------


def _writer(name: str, message_id: str | None = None, id_prefix: str = "") -> DocumentWriter:
    signed_id = None if message_id is None else id_prefix + message_id
    return DocumentWriter(NS, "sip", name, VersaoEsquema=SCHEMA_VERSION, Id=signed_id)


# --- reading an already-verified tree -----------------------------------------------------------


def _text(parent: etree._Element, *names: str, raw: bool = False) -> str:
    """The element's whole text; stripped unless ``raw``, as XSD collapses codes and dates."""
    el = parent.find(_path(*names))
    if el is None:
        raise DocumentInvalid(etree.QName(parent).localname, [f"missing {'/'.join(names)}"])
    value = str(el.xpath("string()"))
    return value if raw else value.strip()


def _opt_text(parent: etree._Element, name: str, raw: bool = False) -> str | None:
    return None if parent.find(_q(name)) is None else _text(parent, name, raw=raw)


def _expect(root: etree._Element, name: str) -> None:
    if root.tag != _q(name):
        raise DocumentInvalid(str(etree.QName(root).localname), [f"expected sip:{name}"])


# --- shared pieces ---------------------------------------------------------------------------


def _render_header(w: DocumentWriter, h: MessageHeader) -> None:
    with w.element("Cabecalho"):
        w.leaf("IdMensagem", h.message_id)
        w.leaf("ReferenciaGateway", h.case_ref)
        w.leaf("DataHoraEnvio", xs_datetime(h.sent_at))
        w.leaf("Remetente", h.sender)
        w.leaf("Destinatario", h.recipient)


def _render_person(w: DocumentWriter, p: Person) -> None:
    if p.name_zh is not None:
        w.leaf("NomeChines", p.name_zh)
    with w.element("NomePortugues"):
        w.leaf("Apelido", p.surname)
        w.leaf("Nome", p.given)
    _render_identity(w, p.identity)


def _render_identity(w: DocumentWriter, ident: Identity) -> None:
    tipo = _ID_TYPES[ident.type]
    with w.element("Documento"):
        w.leaf("Tipo", tipo)
        w.leaf("Numero", ident.number)
        w.leaf("LocalEmissao", _ISSUING_PLACES.get(tipo, ident.issuing_country))


def _render_address(w: DocumentWriter, address: Address) -> None:
    with w.element("Morada"):
        for line in address.lines:
            w.leaf("Linha", line)
        w.leaf("Regiao", _REGIONS[address.region])


def _render_documents(w: DocumentWriter, docs: list[DocumentRef]) -> None:
    with w.element("Documentos"):
        for d in docs:
            with w.element("Documento"):
                w.leaf("IdDocumento", d.doc_id)
                w.leaf("Tipo", d.type)
                w.leaf("TipoMedia", d.media_type)
                w.leaf("Tamanho", str(d.size))
                w.leaf("Sha256", d.sha256)
                w.leaf("Uri", d.uri)


def _render_pending(w: DocumentWriter, name: str, pending: list[PendingDocument]) -> None:
    with w.element(name):
        for p in pending:
            with w.element("Documento"):
                w.leaf("Tipo", p.type)
                w.leaf("DataLimite", p.due_date.isoformat())


def _parse_event(ev: etree._Element) -> StatusEvent:
    res = ev.find(_q("Resultado"))
    return StatusEvent(
        seq=int(_text(ev, "Sequencia")),
        agency_status=_text(ev, "Estado"),
        changed_at=dt.datetime.fromisoformat(_text(ev, "DataHora")),
        remarks=_opt_text(ev, "Observacoes", raw=True),
        required_documents=[
            PendingDocument(
                type=_text(d, "Tipo"), due_date=dt.date.fromisoformat(_text(d, "DataLimite"))
            )
            for d in ev.iterfind(_path("DocumentosExigidos", "Documento"))
        ],
        result=None
        if res is None
        else ResultRef(
            doc_id=_text(res, "IdDocumento"),
            uri=_text(res, "Uri"),
            sha256=_text(res, "Sha256"),
        ),
    )


# --- the format ---------------------------------------------------------------------------------


class SipFormat:
    """Macao SIP 1.0 (SOAP body documents), one instance shared per process."""

    region: Region = "MO"
    namespace = NS  # gateway.registry.format_for_namespace dispatches inbound documents on it
    agency_pattern = r"MO-[A-Z]+"
    status_codes = STATUS_CODES
    header = HeaderSpec(
        sender=_path("Cabecalho", "Remetente"),
        message_id=_path("Cabecalho", "IdMensagem"),
        sent_at=_path("Cabecalho", "DataHoraEnvio"),
    )

    # --- gateway → agency ---

    def render_submission(self, submission: Submission) -> etree._Element:
        """``PedidoProcesso`` in normative order, with ``Id="pp-<message id>"``."""
        s = submission
        w = _writer("PedidoProcesso", s.header.message_id, "pp-")
        _render_header(w, s.header)
        with w.element("Servico"):
            w.leaf("CodigoServico", s.service.service_code)
            w.leaf("CodigoItemOrigem", s.service.source_item_code)
            w.leaf("DesignacaoChines", s.service.name_zh)
            w.leaf("DesignacaoPortugues", s.service.name_foreign)

        a = s.applicant
        with w.element("Requerente"):
            _render_person(w, a)
            w.leaf("DataNascimento", a.birth_date.isoformat())
            w.leaf("Telefone", a.phone)
            if a.email is not None:
                w.leaf("Email", a.email)
            if a.address is not None:
                _render_address(w, a.address)

        if s.agent is not None:
            with w.element("Procurador"):
                _render_person(w, s.agent)
                w.leaf("ReferenciaProcuracao", s.agent.authorisation_doc_id)

        with w.element("Dados"):
            for p in s.particulars:
                w.leaf("Campo", p.value, Nome=p.name, Moeda=p.currency)
        _render_documents(w, s.documents)
        _render_pending(w, "DocumentosEmFalta", s.deficiencies)

        if s.commitment is not None:
            with w.element("Compromisso"):
                w.leaf("Aceite", xs_boolean(s.commitment.accepted))
                w.leaf("DataHora", xs_datetime(s.commitment.at))
                w.leaf("Texto", s.commitment.text)
        with w.element("Consentimentos"):
            for c in s.consents:
                with w.element("Consentimento"):
                    w.leaf("Finalidade", c.purpose)
                    w.leaf("Biometrico", xs_boolean(c.biometric))
                    w.leaf("DataHora", xs_datetime(c.at))

        with w.element("Prazo"):
            w.leaf("DiasUteisCompromisso", str(s.time_limit.committed_days))
            if s.time_limit.statutory_days is not None:
                w.leaf("DiasUteisLegais", str(s.time_limit.statutory_days))
            w.leaf("DataLimite", s.time_limit.due_date.isoformat())

        with w.element("Entrega"):
            w.leaf("Canal", _CHANNELS[s.delivery.channel])
            if s.delivery.address is not None:
                _render_address(w, s.delivery.address)
        return w.finish()

    def render_supplement(self, supplement: Supplement) -> etree._Element:
        """``EntregaDocumentos`` (補正 answer), ``Id="ed-<message id>"``."""
        w = _writer("EntregaDocumentos", supplement.header.message_id, "ed-")
        _render_header(w, supplement.header)
        w.leaf("NumeroProcesso", supplement.agency_case_ref)
        _render_documents(w, supplement.documents)
        return w.finish()

    def render_query(self, case_ref: str, since: int | None = None) -> etree._Element:
        """``ConsultaEstado``: unsigned, so no ``Id``; the signed reply is what is trusted."""
        w = _writer("ConsultaEstado")
        w.leaf("ReferenciaGateway", case_ref)
        if since is not None:
            w.leaf("DesdeSequencia", str(since))
        return w.finish()

    # --- agency → gateway (rendered by a sandbox agency, parsed by the gateway) ---

    def render_receipt(self, receipt: Receipt) -> etree._Element:
        w = _writer("ReciboProcesso", receipt.header.message_id, "rp-")
        _render_header(w, receipt.header)
        w.leaf("NumeroProcesso", receipt.agency_case_ref)
        w.leaf("DataHoraRececao", xs_datetime(receipt.received_at))
        return w.finish()

    def render_status(self, report: StatusReport) -> etree._Element:
        """``EstadoProcesso`` with every event of the report (filter by ``since`` beforehand)."""
        w = _writer("EstadoProcesso", report.header.message_id, "ep-")
        _render_header(w, report.header)
        w.leaf("NumeroProcesso", report.agency_case_ref)
        with w.element("Eventos"):
            for e in report.events:
                with w.element("Evento"):
                    w.leaf("Sequencia", str(e.seq))
                    w.leaf("Estado", e.agency_status)
                    w.leaf("DataHora", xs_datetime(e.changed_at))
                    if e.remarks is not None:
                        w.leaf("Observacoes", e.remarks)
                    _render_pending(w, "DocumentosExigidos", e.required_documents)
                    if e.result is not None:
                        with w.element("Resultado"):
                            w.leaf("IdDocumento", e.result.doc_id)
                            w.leaf("Uri", e.result.uri)
                            w.leaf("Sha256", e.result.sha256)
        return w.finish()

    def render_error(self, code: str, message: str) -> etree._Element:
        """``sip:Erro``, the SOAP fault detail (unsigned)."""
        w = _writer("Erro")
        w.leaf("Codigo", code)
        w.leaf("Mensagem", message)
        return w.finish()

    # --- parsing (input already validated and signature-verified) ---

    def parse_header(self, root: etree._Element) -> MessageHeader:
        return MessageHeader(
            message_id=_text(root, "Cabecalho", "IdMensagem"),
            case_ref=_text(root, "Cabecalho", "ReferenciaGateway"),
            sent_at=dt.datetime.fromisoformat(_text(root, "Cabecalho", "DataHoraEnvio")),
            sender=_text(root, "Cabecalho", "Remetente"),
            recipient=_text(root, "Cabecalho", "Destinatario"),
        )

    def parse_receipt(self, root: etree._Element) -> Receipt:
        _expect(root, "ReciboProcesso")
        return Receipt(
            header=self.parse_header(root),
            agency_case_ref=_text(root, "NumeroProcesso"),
            received_at=dt.datetime.fromisoformat(_text(root, "DataHoraRececao")),
        )

    def parse_status(self, root: etree._Element) -> StatusReport:
        """All events, in document order; ``Sequencia`` must increase strictly (spec)."""
        _expect(root, "EstadoProcesso")
        events = [_parse_event(ev) for ev in root.iterfind(_path("Eventos", "Evento"))]
        seqs = [e.seq for e in events]
        if any(b <= a for a, b in zip(seqs, seqs[1:], strict=False)):
            raise DocumentInvalid("EstadoProcesso", [f"Sequencia not increasing: {seqs}"])
        return StatusReport(
            header=self.parse_header(root),
            agency_case_ref=_text(root, "NumeroProcesso"),
            events=events,
        )

    def parse_supplement(self, root: etree._Element) -> Supplement:
        """For a sandbox agency receiving ``EntregaDocumentos``."""
        _expect(root, "EntregaDocumentos")
        return Supplement(
            header=self.parse_header(root),
            agency_case_ref=_text(root, "NumeroProcesso"),
            documents=[
                DocumentRef(
                    doc_id=_text(d, "IdDocumento"),
                    type=_text(d, "Tipo"),
                    media_type=_text(d, "TipoMedia"),
                    size=int(_text(d, "Tamanho")),
                    sha256=_text(d, "Sha256"),
                    uri=_text(d, "Uri"),
                )
                for d in root.iterfind(_path("Documentos", "Documento"))
            ],
        )

    def parse_query(self, root: etree._Element) -> tuple[str, int | None]:
        _expect(root, "ConsultaEstado")
        since = _opt_text(root, "DesdeSequencia")
        return _text(root, "ReferenciaGateway"), None if since is None else int(since)

    def parse_error(self, root: etree._Element) -> tuple[str, str]:
        _expect(root, "Erro")
        return _text(root, "Codigo"), _text(root, "Mensagem", raw=True)

    def submission_fingerprint(self, root: etree._Element) -> str:
        """SHA-256 of the content alone, so a sandbox tells a retry from a conflicting repeat.

        Drops what legitimately differs between two sends of the same case content: the
        signature, ``IdMensagem``, ``DataHoraEnvio``, the ``Id`` derived from the message id,
        comments, and indentation between elements (SIP has no mixed content).
        """
        return content_fingerprint(root, _q("Cabecalho"), (_q("IdMensagem"), _q("DataHoraEnvio")))

    # --- validation ---

    def validate(self, root: etree._Element) -> None:
        """XSD validation naming every error with its line and path; signed or not."""
        _SCHEMA.validate(root)


_SCHEMA = Schema(XSD_PATH)


if TYPE_CHECKING:  # the type checker proves the format has the port's shape, member by member
    _port: AgencyFormat = SipFormat()
