"""Macao SIP 1.0 format: rendering follows the spec, the XSD rejects what the spec forbids."""

from __future__ import annotations

import copy
import datetime as dt
import string
from collections.abc import Callable

import pytest
import zeep
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from pydantic import BaseModel
from zeep.helpers import serialize_object

from adapters.macau import FORMAT
from adapters.macau.format import BINDING, NS, WSDL_PATH, SipFormat
from gateway.domain import (
    Address,
    Commitment,
    Consent,
    Delivery,
    DocumentRef,
    Identity,
    MessageHeader,
    Particular,
    PendingDocument,
    Receipt,
    ResultRef,
    StatusEvent,
    StatusReport,
    Submission,
    SubmissionAgent,
    SubmissionApplicant,
    SubmissionService,
    Supplement,
    TimeLimit,
)
from gateway.ports import AgencyFormat, DocumentInvalid
from signing.parties import GATEWAY_PARTY

MO = dt.timezone(dt.timedelta(hours=8))
UTC = dt.UTC
SENT = dt.datetime(2025, 3, 11, 14, 2, 10, tzinfo=MO)
CASE_REF = "GBA-0123456789ABCDEFGHIJ"
MSG_ID = "6f1c2e4a-8b7d-4c3e-9a10-2b3c4d5e6f70"
SHA = "323c9e26eb0384579b24ded4da6e0b7703adf6ff33f78a3ccdb03c6534fe0b1e"
S = f"{{{NS}}}"


def q(*names: str) -> str:
    return "/".join(S + n for n in names)


def children(el: etree._Element) -> list[str]:
    return [etree.QName(c).localname for c in el]


def doc_ref(code: str, sha: str = SHA) -> DocumentRef:
    return DocumentRef(
        doc_id=f"{code}-{sha[:12]}",
        type=f"DSAT-{code}",
        media_type="application/pdf",
        size=1332318,
        sha256=sha,
        uri=f"https://att.gdzwfw.example/files/{code}.pdf",
    )


def make_submission() -> Submission:
    """Every optional part present, and the mappings the spec singles out."""
    return Submission(
        header=MessageHeader(
            message_id=MSG_ID,
            case_ref=CASE_REF,
            sent_at=SENT,
            sender=GATEWAY_PARTY,
            recipient="MO-DSAT",
        ),
        service=SubmissionService(
            service_code="DSAT-VN-001",
            source_item_code="11440000006939027K2440172041000",
            name_zh="澳門機動車輛入出橫琴",
            name_foreign="Circulação de veículos de Macau no Interior",
        ),
        applicant=SubmissionApplicant(
            name_zh="黃麗華",
            surname="WONG",
            given="LAI WA",
            identity=Identity(
                type="PRC_ID",
                number="820000198511031234",
                issuing_country="CHN",
                residence_permit=True,
            ),
            birth_date=dt.date(1985, 11, 3),
            phone="+85366123456",
            email="wong@example.mo",
            address=Address(lines=["12 Rua Augusta", "Lisboa"], region="OTHER"),
        ),
        agent=SubmissionAgent(
            name_zh="陳大文",
            surname="CHAN",
            given="TAI MAN",
            identity=Identity(type="MO_ID", number="5215299(8)", issuing_country="MAC"),
            authorisation_doc_id=f"M09-{SHA[:12]}",
        ),
        particulars=[
            Particular(name="MatriculaVeiculo", value="MN-12-34"),
            Particular(name="ValorSeguro", value="1234.50", currency="MOP"),
            Particular(name="SegundoCondutor", value="true"),
            Particular(name="ValidadeLicenca", value="2025-12-31"),
        ],
        documents=[doc_ref("M01"), doc_ref("M02")],
        deficiencies=[PendingDocument(type="DSAT-M04", due_date=dt.date(2025, 3, 25))],
        commitment=Commitment(
            accepted=True,
            at=dt.datetime(2025, 3, 11, 6, 0, 0, tzinfo=UTC),
            text="本人承諾所填資料真實。",
        ),
        consents=[
            Consent(purpose="CROSS_BORDER_TRANSFER", biometric=False, at=SENT),
            Consent(purpose="BIOMETRIC_VERIFICATION", biometric=True, at=SENT),
        ],
        time_limit=TimeLimit(committed_days=10, statutory_days=20, due_date=dt.date(2025, 3, 25)),
        delivery=Delivery(
            channel="POST", address=Address(lines=["氹仔布拉干薩街88號"], region="MO")
        ),
    )


def agency_header(message_id: str = MSG_ID) -> MessageHeader:
    return MessageHeader(
        message_id=message_id,
        case_ref=CASE_REF,
        sent_at=dt.datetime(2025, 3, 12, 9, 30, tzinfo=MO),
        sender="MO-DSAT",
        recipient="GD-GBA-GW",
    )


def make_status() -> StatusReport:
    return StatusReport(
        header=agency_header(),
        agency_case_ref="DSAT/2025/000123",
        events=[
            StatusEvent(seq=1, agency_status="RECEBIDO", changed_at=SENT),
            StatusEvent(
                seq=3,
                agency_status="PENDENTE_DOCUMENTOS",
                changed_at=dt.datetime(2025, 3, 13, 10, 0, tzinfo=MO),
                remarks="請補交車輛保險單。",
                required_documents=[
                    PendingDocument(type="DSAT-M04", due_date=dt.date(2025, 3, 27))
                ],
            ),
            StatusEvent(
                seq=7,
                agency_status="CONCLUIDO",
                changed_at=dt.datetime(2025, 3, 20, 10, 0, tzinfo=MO),
                result=ResultRef(doc_id="R-1", uri="https://dsat.gov.mo/r/1", sha256=SHA),
            ),
        ],
    )


def roundtrip(root: etree._Element) -> etree._Element:
    """What the other side reads: serialised bytes parsed again (gives real line numbers)."""
    return etree.fromstring(etree.tostring(root))


@pytest.fixture(scope="module")
def sub_root() -> etree._Element:
    return FORMAT.render_submission(make_submission())


# --- rendering --------------------------------------------------------------------------------


def test_format_satisfies_the_port() -> None:
    fmt: AgencyFormat = FORMAT
    assert fmt.region == "MO"
    assert FORMAT.namespace == "urn:mo-gov:sip:1.0"
    assert fmt.status_codes == {
        "RECEBIDO", "ADMITIDO", "PENDENTE_DOCUMENTOS", "EM_APRECIACAO",
        "DEFERIDO", "INDEFERIDO", "DESISTIDO", "CONCLUIDO",
    }  # fmt: skip
    assert isinstance(FORMAT, SipFormat)


def test_full_submission_renders_valid(sub_root: etree._Element) -> None:
    FORMAT.validate(sub_root)
    FORMAT.validate(roundtrip(sub_root))
    assert sub_root.tag == S + "PedidoProcesso"
    assert sub_root.prefix == "sip"
    assert sub_root.get("Id") == "pp-" + MSG_ID
    assert sub_root.get("VersaoEsquema") == "1.0"


def test_child_order_is_the_spec_order(sub_root: etree._Element) -> None:
    assert children(sub_root) == [
        "Cabecalho", "Servico", "Requerente", "Procurador", "Dados", "Documentos",
        "DocumentosEmFalta", "Compromisso", "Consentimentos", "Prazo", "Entrega",
    ]  # fmt: skip
    assert children(sub_root.find(q("Cabecalho"))) == [
        "IdMensagem", "ReferenciaGateway", "DataHoraEnvio", "Remetente", "Destinatario",
    ]  # fmt: skip
    assert children(sub_root.find(q("Servico"))) == [
        "CodigoServico", "CodigoItemOrigem", "DesignacaoChines", "DesignacaoPortugues",
    ]  # fmt: skip
    assert children(sub_root.find(q("Requerente"))) == [
        "NomeChines", "NomePortugues", "Documento", "DataNascimento", "Telefone", "Email", "Morada",
    ]  # fmt: skip
    assert children(sub_root.find(q("Procurador"))) == [
        "NomeChines", "NomePortugues", "Documento", "ReferenciaProcuracao",
    ]  # fmt: skip
    assert children(sub_root.find(q("Requerente", "NomePortugues"))) == ["Apelido", "Nome"]
    assert children(sub_root.find(q("Requerente", "Documento"))) == [
        "Tipo", "Numero", "LocalEmissao",
    ]  # fmt: skip
    assert children(sub_root.find(q("Documentos", "Documento"))) == [
        "IdDocumento", "Tipo", "TipoMedia", "Tamanho", "Sha256", "Uri",
    ]  # fmt: skip
    assert children(sub_root.find(q("Compromisso"))) == ["Aceite", "DataHora", "Texto"]
    assert children(sub_root.find(q("Consentimentos", "Consentimento"))) == [
        "Finalidade", "Biometrico", "DataHora",
    ]  # fmt: skip
    assert children(sub_root.find(q("Prazo"))) == [
        "DiasUteisCompromisso", "DiasUteisLegais", "DataLimite",
    ]  # fmt: skip
    assert children(sub_root.find(q("Entrega"))) == ["Canal", "Morada"]


def test_values_are_in_macao_vocabulary(sub_root: etree._Element) -> None:
    def t(*path: str) -> str | None:
        return sub_root.findtext(q(*path))

    assert t("Cabecalho", "DataHoraEnvio") == "2025-03-11T14:02:10+08:00"
    assert t("Cabecalho", "Remetente") == "GD-GBA-GW"
    assert t("Servico", "DesignacaoPortugues") == "Circulação de veículos de Macau no Interior"
    assert t("Requerente", "Documento", "Tipo") == "BIRPRC"
    assert t("Requerente", "Documento", "LocalEmissao") == "CHN"
    assert t("Requerente", "Morada", "Regiao") == "OUTRA"
    assert t("Procurador", "Documento", "Tipo") == "BIR"
    assert t("Procurador", "Documento", "Numero") == "5215299(8)"
    assert t("Procurador", "ReferenciaProcuracao") == f"M09-{SHA[:12]}"
    assert t("Compromisso", "Aceite") == "true"
    assert t("Compromisso", "DataHora") == "2025-03-11T14:00:00+08:00"  # 06:00Z in Macao time
    assert [c.findtext(q("Biometrico")) for c in sub_root.iterfind(q("Consentimentos", "*"))] == [
        "false", "true",
    ]  # fmt: skip
    assert t("Entrega", "Canal") == "CORREIO"
    assert t("DocumentosEmFalta", "Documento", "DataLimite") == "2025-03-25"
    amount = sub_root.find(q("Dados", "Campo") + "[@Nome='ValorSeguro']")
    assert (amount.text, amount.get("Moeda")) == ("1234.50", "MOP")
    assert sub_root.find(q("Dados", "Campo")).get("Moeda") is None


@pytest.mark.parametrize(
    ("id_type", "country", "tipo", "local"),
    [
        ("MO_ID", "MAC", "BIR", "MAC"),
        ("HK_ID", "HKG", "HKID", "HKG"),
        ("HKMO_PERMIT", "HKG", "SALVOCONDUTO", "CHN"),  # the type decides, not the holder
        ("PRC_ID", "HKG", "BIRPRC", "CHN"),  # an 810000 residence permit
        ("PASSPORT", "PRT", "PASSAPORTE", "PRT"),
    ],
)
def test_identity_codes(id_type: str, country: str, tipo: str, local: str) -> None:
    s = make_submission()
    ident = Identity(type=id_type, number="H12345678", issuing_country=country)
    s = s.model_copy(update={"applicant": s.applicant.model_copy(update={"identity": ident})})
    root = FORMAT.render_submission(s)
    assert root.findtext(q("Requerente", "Documento", "Tipo")) == tipo
    assert root.findtext(q("Requerente", "Documento", "LocalEmissao")) == local


@pytest.mark.parametrize(
    ("channel", "canal"),
    [("ELECTRONIC", "ELECTRONICO"), ("COUNTER", "BALCAO"), ("POST", "CORREIO")],
)
def test_delivery_channels(channel: str, canal: str) -> None:
    s = make_submission()
    s = s.model_copy(update={"delivery": Delivery(channel=channel)})
    root = FORMAT.render_submission(s)
    FORMAT.validate(root)
    assert children(root.find(q("Entrega"))) == ["Canal"]
    assert root.findtext(q("Entrega", "Canal")) == canal


def test_minimal_submission_keeps_empty_wrappers() -> None:
    s = make_submission().model_copy(
        update={"agent": None, "commitment": None, "particulars": [], "documents": [],
                "deficiencies": []}
    )  # fmt: skip
    root = FORMAT.render_submission(s)
    FORMAT.validate(root)
    assert children(root) == [
        "Cabecalho", "Servico", "Requerente", "Dados", "Documentos", "DocumentosEmFalta",
        "Consentimentos", "Prazo", "Entrega",
    ]  # fmt: skip
    assert len(root.find(q("Dados"))) == 0


def test_naive_datetime_is_refused() -> None:
    s = make_submission()
    header = s.header.model_copy(update={"sent_at": dt.datetime(2025, 3, 11, 14, 2, 10)})
    with pytest.raises(ValueError, match="naive"):
        FORMAT.render_submission(s.model_copy(update={"header": header}))


# --- the schema rejects what the spec forbids -------------------------------------------------

Mutation = Callable[[etree._Element], object]


def _set(path: str, value: str) -> Mutation:
    return lambda r: setattr(r.find(path), "text", value)


def _drop(path: str) -> Mutation:
    def go(root: etree._Element) -> None:
        el = root.find(path)
        el.getparent().remove(el)

    return go


def _document_as_attributes(root: etree._Element) -> None:
    doc = root.find(q("Requerente", "Documento"))
    for c in list(doc):
        doc.set(etree.QName(c).localname, c.text)
        doc.remove(c)


def _swap_dados_documentos(root: etree._Element) -> None:
    dados = root.find(q("Dados"))
    root.remove(dados)
    root.find(q("Documentos")).addnext(dados)


def _append_unknown(root: etree._Element) -> None:
    etree.SubElement(root, S + "Extra").text = "x"


def _empty_consents(root: etree._Element) -> None:
    cons = root.find(q("Consentimentos"))
    for c in list(cons):
        cons.remove(c)


SUBMISSION_VIOLATIONS: dict[str, tuple[Mutation, str]] = {
    "missing wrapper": (_drop(q("DocumentosEmFalta")), "DocumentosEmFalta"),
    "bad ReferenciaGateway": (_set(q("Cabecalho", "ReferenciaGateway"), "GBA-abc"), "GBA-abc"),
    "DataHoraEnvio in UTC": (
        _set(q("Cabecalho", "DataHoraEnvio"), "2025-03-11T06:02:10Z"),
        "DataHoraEnvio",
    ),
    "DataHoraEnvio without offset": (
        _set(q("Cabecalho", "DataHoraEnvio"), "2025-03-11T14:02:10"),
        "DataHoraEnvio",
    ),
    "Documento in attribute form": (_document_as_attributes, "Documento"),
    "Canal ELECTRONIC (HK spelling)": (_set(q("Entrega", "Canal"), "ELECTRONIC"), "ELECTRONIC"),
    "Regiao OTHER": (_set(q("Requerente", "Morada", "Regiao"), "OTHER"), "OTHER"),
    "missing VersaoEsquema": (lambda r: r.attrib.pop("VersaoEsquema"), "VersaoEsquema"),
    "VersaoEsquema 1.1": (lambda r: r.set("VersaoEsquema", "1.1"), "VersaoEsquema"),
    "missing Id": (lambda r: r.attrib.pop("Id"), "'Id'"),
    "Dados after Documentos": (_swap_dados_documentos, "Dados"),
    "boolean 1": (_set(q("Compromisso", "Aceite"), "1"), "Aceite"),
    "upper-case Sha256": (_set(q("Documentos", "Documento", "Sha256"), SHA.upper()), "Sha256"),
    "http Uri": (_set(q("Documentos", "Documento", "Uri"), "http://att.example/a.pdf"), "Uri"),
    "agency as sender": (_set(q("Cabecalho", "Remetente"), "MO-DSAT"), "Remetente"),
    "HK agency": (_set(q("Cabecalho", "Destinatario"), "HK-TD"), "Destinatario"),
    "local phone": (_set(q("Requerente", "Telefone"), "66123456"), "Telefone"),
    "BIR type in HK spelling": (_set(q("Requerente", "Documento", "Tipo"), "MOBIR"), "MOBIR"),
    "no consent": (_empty_consents, "Consentimentos"),
    "birth date with zone": (
        _set(q("Requerente", "DataNascimento"), "1985-11-03+08:00"),
        "DataNascimento",
    ),
    "unknown element": (_append_unknown, "Extra"),
}


@pytest.mark.parametrize("case", SUBMISSION_VIOLATIONS)
def test_submission_violation_is_rejected(sub_root: etree._Element, case: str) -> None:
    mutate, mentioned = SUBMISSION_VIOLATIONS[case]
    root = copy.deepcopy(sub_root)
    mutate(root)
    with pytest.raises(DocumentInvalid) as exc:
        FORMAT.validate(roundtrip(root))
    assert exc.value.document == "PedidoProcesso"
    assert mentioned in str(exc.value)
    assert all(e.startswith("line ") and not e.startswith("line 0") for e in exc.value.errors)


STATUS_VIOLATIONS: dict[str, tuple[Mutation, str]] = {
    "unknown Estado": (_set(q("Eventos", "Evento", "Estado"), "APPROVED"), "APPROVED"),
    "Sequencia 0": (_set(q("Eventos", "Evento", "Sequencia"), "0"), "Sequencia"),
    "missing DocumentosExigidos": (_drop(q("Eventos", "Evento", "DocumentosExigidos")), "Exig"),
    "missing Eventos": (_drop(q("Eventos")), "Eventos"),
    "gateway as sender": (_set(q("Cabecalho", "Remetente"), "GD-GBA-GW"), "Remetente"),
}


@pytest.mark.parametrize("case", STATUS_VIOLATIONS)
def test_status_violation_is_rejected(case: str) -> None:
    mutate, mentioned = STATUS_VIOLATIONS[case]
    root = FORMAT.render_status(make_status())
    mutate(root)
    with pytest.raises(DocumentInvalid, match=mentioned):
        FORMAT.validate(root)


def test_every_error_is_reported(sub_root: etree._Element) -> None:
    root = copy.deepcopy(sub_root)
    _set(q("Cabecalho", "ReferenciaGateway"), "GBA-abc")(root)
    _set(q("Requerente", "Telefone"), "66123456")(root)
    with pytest.raises(DocumentInvalid) as exc:
        FORMAT.validate(etree.fromstring(etree.tostring(root, pretty_print=True)))
    first, second = exc.value.errors
    assert first.startswith("line 4: /sip:PedidoProcesso/sip:Cabecalho/sip:ReferenciaGateway:")
    assert "GBA-abc" in first
    assert "/sip:Requerente/sip:Telefone:" in second and "66123456" in second


def test_other_roots_reject_violations() -> None:
    supp = FORMAT.render_supplement(make_supplement([]))
    with pytest.raises(DocumentInvalid, match="Documentos"):
        FORMAT.validate(supp)  # EntregaDocumentos needs at least one document
    with pytest.raises(DocumentInvalid, match="Codigo"):
        FORMAT.validate(FORMAT.render_error("SCHEMA", "x"))  # the HK code
    query = FORMAT.render_query(CASE_REF, None)
    query.set("Id", "q-1")
    with pytest.raises(DocumentInvalid, match="'Id'"):
        FORMAT.validate(query)  # unsigned roots carry no Id


def test_signature_slot_takes_only_xmldsig(sub_root: etree._Element) -> None:
    root = copy.deepcopy(sub_root)
    etree.SubElement(root, "{http://www.w3.org/2000/09/xmldsig#}Signature")
    FORMAT.validate(root)
    root.append(etree.Element("{http://www.w3.org/2000/09/xmldsig#}Signature"))
    with pytest.raises(DocumentInvalid):
        FORMAT.validate(root)  # at most one, and last


# --- agency documents: render → validate → parse --------------------------------------------


def make_supplement(docs: list[DocumentRef] | None = None) -> Supplement:
    return Supplement(
        header=MessageHeader(
            message_id=MSG_ID,
            case_ref=CASE_REF,
            sent_at=SENT,
            sender=GATEWAY_PARTY,
            recipient="MO-DSAT",
        ),
        agency_case_ref="DSAT/2025/000123",
        documents=[doc_ref("M04")] if docs is None else docs,
    )


def test_receipt_round_trip() -> None:
    receipt = Receipt(
        header=agency_header(),
        agency_case_ref="DSAT/2025/000123",
        received_at=dt.datetime(2025, 3, 12, 1, 29, 59, tzinfo=UTC),
    )
    root = FORMAT.render_receipt(receipt)
    FORMAT.validate(root)
    assert root.get("Id") == "rp-" + MSG_ID
    assert root.findtext(q("DataHoraRececao")) == "2025-03-12T09:29:59+08:00"
    assert FORMAT.parse_receipt(roundtrip(root)) == receipt


def test_status_round_trip() -> None:
    report = make_status()
    root = FORMAT.render_status(report)
    FORMAT.validate(root)
    assert children(root.find(q("Eventos", "Evento"))) == [
        "Sequencia", "Estado", "DataHora", "DocumentosExigidos",
    ]  # fmt: skip
    assert FORMAT.parse_status(roundtrip(root)) == report
    empty = report.model_copy(update={"events": []})
    root = FORMAT.render_status(empty)
    FORMAT.validate(root)
    assert FORMAT.parse_status(root) == empty


@pytest.mark.parametrize("order", [(1, 0), (0, 0)])
def test_status_sequence_must_increase_strictly(order: tuple[int, int]) -> None:
    report = make_status()
    events = [report.events[i] for i in order]
    root = FORMAT.render_status(report.model_copy(update={"events": events}))
    FORMAT.validate(root)  # XSD 1.0 cannot say it; the parser does
    with pytest.raises(DocumentInvalid, match="Sequencia"):
        FORMAT.parse_status(root)


def test_parsers_read_through_comments_and_whitespace() -> None:
    """A comment splitting a text node (comments are unsigned) must not truncate the value."""
    root = FORMAT.render_receipt(
        Receipt(header=agency_header(), agency_case_ref="DSAT/2025/000123", received_at=SENT)
    )
    num = root.find(q("NumeroProcesso"))
    num.text = "DSAT/2025/"
    num.append(etree.Comment("x"))
    num[0].tail = "000123"
    root.find(q("DataHoraRececao")).text = "\n  2025-03-11T14:02:10+08:00\n"  # XSD collapses
    FORMAT.validate(root)
    parsed = FORMAT.parse_receipt(root)
    assert (parsed.agency_case_ref, parsed.received_at) == ("DSAT/2025/000123", SENT)


def test_parsers_check_the_root() -> None:
    with pytest.raises(DocumentInvalid, match="ReciboProcesso"):
        FORMAT.parse_receipt(FORMAT.render_status(make_status()))


def test_supplement_round_trip() -> None:
    supplement = make_supplement()
    root = FORMAT.render_supplement(supplement)
    FORMAT.validate(root)
    assert root.get("Id") == "ed-" + MSG_ID
    assert children(root) == ["Cabecalho", "NumeroProcesso", "Documentos"]
    assert FORMAT.parse_supplement(roundtrip(root)) == supplement


@pytest.mark.parametrize("since", [None, 0, 5])
def test_query_round_trip(since: int | None) -> None:
    root = FORMAT.render_query(CASE_REF, since)
    FORMAT.validate(root)
    assert root.get("Id") is None
    assert FORMAT.parse_query(roundtrip(root)) == (CASE_REF, since)


def test_error_round_trip() -> None:
    root = FORMAT.render_error("CONFLITO_DUPLICADO", "Referência já usada com outro conteúdo")
    FORMAT.validate(root)
    assert FORMAT.parse_error(roundtrip(root)) == (
        "CONFLITO_DUPLICADO", "Referência já usada com outro conteúdo",
    )  # fmt: skip


def test_header_from_submission(sub_root: etree._Element) -> None:
    h = FORMAT.parse_header(sub_root)
    assert (h.message_id, h.case_ref, h.sent_at, h.sender, h.recipient) == (
        MSG_ID, CASE_REF, SENT, "GD-GBA-GW", "MO-DSAT",
    )  # fmt: skip
    assert sub_root.findtext(FORMAT.header.message_id) == MSG_ID
    assert sub_root.findtext(FORMAT.header.sender) == "GD-GBA-GW"
    assert sub_root.findtext(FORMAT.header.sent_at) == "2025-03-11T14:02:10+08:00"


# --- fingerprint ------------------------------------------------------------------------------


def test_fingerprint_ignores_message_id_time_and_signature() -> None:
    s = make_submission()
    first = FORMAT.render_submission(s)
    retry = s.model_copy(
        update={
            "header": s.header.model_copy(
                update={
                    "message_id": "0e0d3c1b-aaaa-4bbb-8ccc-000000000001",
                    "sent_at": SENT + dt.timedelta(hours=3),
                }
            )
        }
    )
    second = FORMAT.render_submission(retry)
    etree.SubElement(second, "{http://www.w3.org/2000/09/xmldsig#}Signature").text = "sig"
    second.find(q("Servico", "CodigoServico")).append(etree.Comment("unsigned"))
    assert etree.tostring(first) != etree.tostring(second)
    assert FORMAT.submission_fingerprint(first) == FORMAT.submission_fingerprint(second)
    pretty = etree.fromstring(etree.tostring(first, pretty_print=True))
    assert FORMAT.submission_fingerprint(pretty) == FORMAT.submission_fingerprint(first)
    assert first.get("Id") == "pp-" + MSG_ID  # the original is left untouched
    assert first.find(q("Cabecalho", "IdMensagem")) is not None


@pytest.mark.parametrize(
    "update",
    [
        {"particulars": [Particular(name="MatriculaVeiculo", value="MN-12-35")]},
        {"documents": [doc_ref("M01")]},
        {"deficiencies": []},
    ],
)
def test_fingerprint_changes_with_content(update: dict[str, object]) -> None:
    s = make_submission()
    a = FORMAT.submission_fingerprint(FORMAT.render_submission(s))
    b = FORMAT.submission_fingerprint(FORMAT.render_submission(s.model_copy(update=update)))
    assert a != b


def test_fingerprint_changes_with_case_ref_and_recipient() -> None:
    s = make_submission()
    a = FORMAT.submission_fingerprint(FORMAT.render_submission(s))
    for field, value in [("case_ref", "GBA-0123456789ABCDEFGHIK"), ("recipient", "MO-DSI")]:
        header = s.header.model_copy(update={field: value})
        other = FORMAT.render_submission(s.model_copy(update={"header": header}))
        assert FORMAT.submission_fingerprint(other) != a


# --- WSDL under zeep --------------------------------------------------------------------------


class OfflineTransport(zeep.Transport):
    """Fails the test if zeep reaches for the network while loading the WSDL and XSD."""

    def _load_remote_data(self, url: str) -> bytes:
        raise AssertionError(f"zeep tried to fetch {url}")


@pytest.fixture(scope="module")
def client() -> zeep.Client:
    return zeep.Client(str(WSDL_PATH), transport=OfflineTransport())


def test_wsdl_loads_offline(client: zeep.Client) -> None:
    binding = client.wsdl.bindings[BINDING]
    ops = binding.all()
    assert set(ops) == {"SubmeterProcesso", "ConsultarEstado", "EntregarDocumentos"}
    io = {name: (op.input.body.qname, op.output.body.qname) for name, op in ops.items()}
    assert io == {
        "SubmeterProcesso": (S + "PedidoProcesso", S + "ReciboProcesso"),
        "ConsultarEstado": (S + "ConsultaEstado", S + "EstadoProcesso"),
        "EntregarDocumentos": (S + "EntregaDocumentos", S + "ReciboProcesso"),
    }
    for name, op in ops.items():
        assert op.soapaction == f"urn:mo-gov:sip:1.0/{name}"
        assert [f.name for f in op.faults.values()] == ["Erro"]
    port = client.wsdl.services["ServicoIntercambioProcessos"].ports["SIPPort"]
    assert port.binding_options["address"] == "http://127.0.0.1:8702/sip"


@pytest.mark.parametrize(
    ("operation", "root"),
    [
        ("SubmeterProcesso", lambda: FORMAT.render_submission(make_submission())),
        ("ConsultarEstado", lambda: FORMAT.render_query(CASE_REF, 2)),
        ("EntregarDocumentos", lambda: FORMAT.render_supplement(make_supplement())),
    ],
)
def test_zeep_builds_envelopes_our_schema_accepts(
    client: zeep.Client, operation: str, root: Callable[[], etree._Element]
) -> None:
    """zeep reads our document through the WSDL types and re-renders it schema-valid."""
    doc = root()
    service = client.create_service(BINDING, "https://mo-dsat.example/sip")
    value = client.get_element(doc.tag).parse(doc, client.wsdl.types)
    envelope = client.create_message(service, operation, **serialize_object(value, dict))
    body = envelope.find("{http://schemas.xmlsoap.org/soap/envelope/}Body")
    assert len(body) == 1 and body[0].tag == doc.tag
    FORMAT.validate(body[0])
    # The gateway sends the signed element itself in that body (zeep would re-prefix it).
    body.replace(body[0], doc)
    sent = etree.fromstring(etree.tostring(envelope))[0][0]
    assert etree.tostring(sent, method="c14n", exclusive=True) == etree.tostring(
        doc, method="c14n", exclusive=True
    )


# --- property: whatever valid content, the document is valid --------------------------------


def model(cls: type[BaseModel], **fields: st.SearchStrategy[object]) -> st.SearchStrategy:
    """``st.builds`` would infer the camelCase aliases of ``Wire`` models as extra arguments."""
    return st.fixed_dictionaries(fields).map(lambda kw: cls(**kw))


def chars(alphabet: str, min_size: int, max_size: int) -> st.SearchStrategy[str]:
    """Fixed alphabets: much faster to draw than ``st.from_regex``."""
    return st.text(st.sampled_from(alphabet), min_size=min_size, max_size=max_size)


UPPER, DIGITS = string.ascii_uppercase, string.digits
codes = st.tuples(chars(UPPER, 1, 1), chars(UPPER + DIGITS + "_-", 0, 11)).map("".join)
texts = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Cn", "Co")), min_size=1, max_size=12
)
aware = st.datetimes(
    min_value=dt.datetime(1970, 1, 2),
    max_value=dt.datetime(2099, 12, 30),
    timezones=st.sampled_from([UTC, MO, dt.timezone(dt.timedelta(hours=-5, minutes=-30))]),
)
dates = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 12, 31))
identities = model(
    Identity,
    type=st.sampled_from(["PRC_ID", "HK_ID", "MO_ID", "HKMO_PERMIT", "PASSPORT"]),
    number=st.tuples(
        chars(UPPER + DIGITS, 1, 18), st.none() | chars(UPPER + DIGITS, 1, 1).map("({})".format)
    ).map(lambda t: t[0] + (t[1] or "")),
    issuing_country=chars(UPPER, 3, 3),
    residence_permit=st.booleans(),
)
addresses = model(
    Address,
    lines=st.lists(texts, min_size=1, max_size=3),
    region=st.sampled_from(["HK", "MO", "CN-GD", "OTHER"]),
)
documents = model(
    DocumentRef,
    doc_id=codes,
    type=codes,
    media_type=st.sampled_from(["application/pdf", "image/jpeg"]),
    size=st.integers(min_value=0, max_value=10**10),
    sha256=st.binary(min_size=32, max_size=32).map(bytes.hex),
    uri=chars(string.ascii_letters + DIGITS + "/._-", 0, 20).map("https://att.example/".__add__),
)
pending = model(PendingDocument, type=codes, due_date=dates)
person = {
    "name_zh": st.none() | texts,
    "surname": texts,
    "given": st.text(st.characters(blacklist_categories=("Cs", "Cc", "Cn", "Co")), max_size=12),
    "identity": identities,
}
submissions = model(
    Submission,
    header=model(
        MessageHeader,
        message_id=st.uuids().map(str),
        case_ref=chars(UPPER + DIGITS, 20, 20).map("GBA-".__add__),
        sent_at=aware,
        sender=st.just(GATEWAY_PARTY),
        recipient=chars(UPPER, 1, 6).map("MO-".__add__),
    ),
    service=model(
        SubmissionService,
        service_code=codes,
        source_item_code=codes,
        name_zh=texts,
        name_foreign=texts,
    ),
    applicant=model(
        SubmissionApplicant,
        **person,
        birth_date=dates,
        phone=st.integers(min_value=10**6, max_value=10**15 - 1).map("+{}".format),
        email=st.none() | chars(string.ascii_lowercase + DIGITS + ".", 1, 8).map("{0}@{0}".format),
        address=st.none() | addresses,
    ),
    agent=st.none() | model(SubmissionAgent, **person, authorisation_doc_id=codes),
    particulars=st.lists(
        model(
            Particular,
            name=codes,
            value=st.text(st.characters(blacklist_categories=("Cs", "Cc", "Cn")), max_size=10),
            currency=st.none() | chars(UPPER, 3, 3),
        ),
        max_size=4,
    ),
    documents=st.lists(documents, max_size=3),
    deficiencies=st.lists(pending, max_size=2),
    commitment=st.none() | model(Commitment, accepted=st.booleans(), at=aware, text=texts),
    consents=st.lists(
        model(
            Consent,
            purpose=st.sampled_from(
                ["CROSS_BORDER_TRANSFER", "CASE_PROCESSING", "BIOMETRIC_VERIFICATION"]
            ),
            biometric=st.booleans(),
            at=aware,
        ),
        min_size=1,
        max_size=3,
    ),
    time_limit=model(
        TimeLimit,
        committed_days=st.integers(min_value=1, max_value=365),
        statutory_days=st.none() | st.integers(min_value=1, max_value=365),
        due_date=dates,
    ),
    delivery=model(
        Delivery,
        channel=st.sampled_from(["ELECTRONIC", "COUNTER", "POST"]),
        address=st.none() | addresses,
    ),
)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(submissions)
def test_any_valid_submission_renders_schema_valid(submission: Submission) -> None:
    root = FORMAT.render_submission(submission)
    FORMAT.validate(roundtrip(root))
    h = FORMAT.parse_header(root)
    assert h.sent_at == submission.header.sent_at.replace(microsecond=0)
    assert h.sent_at.utcoffset() == dt.timedelta(hours=8)
    assert (h.message_id, h.case_ref) == (submission.header.message_id, submission.header.case_ref)
