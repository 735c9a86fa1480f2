"""``gbagw keys …`` and the body of ``gbagw verify``, for the main CLI to mount.

The main CLI adds ``keys_app`` as the ``keys`` group and calls :func:`verify_command` with the
:class:`HeaderSpec` of the format it detected from the root namespace; this module knows no
agency format. The key directory is ``--dir``, else ``$GBAGW_KEYS``, else ``./var/keys``.
"""

from __future__ import annotations

import os
from base64 import b64decode
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from rich.console import Console
from rich.table import Table

from signing.algorithms import DS_NS
from signing.errors import SignatureRejected
from signing.header import HeaderSpec
from signing.keydir import DEFAULT_ROTATION_WINDOW, SANDBOX_AGENCIES, KeyDirectory
from signing.keys import fingerprint
from signing.trust import RegisteredCertificate, TrustConfigError, TrustStore
from signing.verifier import verify
from signing.xmlsafe import parse_untrusted

KEYS_ENV = "GBAGW_KEYS"

keys_app = typer.Typer(
    help="Keys and certificates the gateway signs with and trusts.", no_args_is_help=True
)

DirOption = Annotated[
    Path | None,
    typer.Option("--dir", help=f"key directory (default ${KEYS_ENV}, else ./var/keys)"),
]


def default_keys_dir() -> Path:
    return Path(os.environ.get(KEYS_ENV) or "var/keys")


@keys_app.command("init")
def init_command(
    directory: Annotated[
        Path | None, typer.Argument(help=f"where to create it (default ${KEYS_ENV})")
    ] = None,
    key_type: Annotated[str, typer.Option(help="rsa (RSA-2048) or ec (ECDSA P-256)")] = "rsa",
    agency: Annotated[
        list[str] | None,
        typer.Option(help="create only these sandbox agencies (repeatable; default: all)"),
    ] = None,
    force: Annotated[bool, typer.Option(help="replace an existing key directory")] = False,
) -> None:
    """Create a development CA, the gateway's key and one key per sandbox agency."""
    if key_type not in ("rsa", "ec"):
        raise typer.BadParameter("must be rsa or ec", param_hint="--key-type")
    target = directory or default_keys_dir()
    try:
        entries = KeyDirectory(target).init(
            key_type=key_type,  # type: ignore[arg-type]
            agencies=agency or SANDBOX_AGENCIES,
            force=force,
        )
    except FileExistsError as exc:
        raise typer.BadParameter(f"{exc} (use --force)") from None
    Console().print(f"Created {len(entries)} keys in {target}; trust list: {target / 'trust.yaml'}")


@keys_app.command("rotate")
def rotate_command(
    agency: Annotated[str, typer.Option(help="party code, e.g. HK-TD or GD-GBA-GW")],
    directory: DirOption = None,
    window_days: Annotated[
        float, typer.Option(help="days the old certificate stays accepted")
    ] = DEFAULT_ROTATION_WINDOW.days,
    certificate: Annotated[
        Path | None,
        typer.Option(help="register this PEM certificate (sent by the agency) instead"),
    ] = None,
) -> None:
    """Add a new certificate for a party; the old one is accepted until the window ends."""
    keys = KeyDirectory(directory or default_keys_dir())
    cert = x509.load_pem_x509_certificate(certificate.read_bytes()) if certificate else None
    try:
        entry = keys.rotate(agency, timedelta(days=window_days), certificate=cert)
    except (KeyError, ValueError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--agency") from None
    Console().print(
        f"{agency}: new certificate {entry.fingerprint[:16]}… accepted from "
        f"{entry.accepted_from:%Y-%m-%d %H:%M}Z; older ones until "
        f"{entry.accepted_from + timedelta(days=window_days):%Y-%m-%d %H:%M}Z"
    )


@keys_app.command("add")
def add_command(
    agency: Annotated[str, typer.Option(help="party code, e.g. MO-DSI")],
    certificate: Annotated[Path, typer.Option(help="the party's PEM certificate")],
    directory: DirOption = None,
) -> None:
    """Register a certificate a party sent (first registration; use rotate to replace one)."""
    keys = KeyDirectory(directory or default_keys_dir())
    cert = x509.load_pem_x509_certificate(certificate.read_bytes())
    try:
        entry = keys.add_certificate(agency, cert)
    except (ValueError, TrustConfigError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--agency") from None
    Console().print(f"{agency}: registered certificate {entry.fingerprint[:16]}…")


@keys_app.command("list")
def list_command(directory: DirOption = None) -> None:
    """Show every trusted certificate and until when it is accepted."""
    keys = KeyDirectory(directory or default_keys_dir())
    try:
        store = keys.trust_store()
        with_key = {e.fingerprint for e in keys.entries() if e.key}
    except TrustConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="--dir") from None
    Console().print(trust_table(store, with_key, datetime.now(UTC)))


def trust_table(store: TrustStore, with_key: set[str], now: datetime) -> Table:
    table = Table(title="Trusted certificates")
    for column in ("party", "fingerprint (sha256)", "key", "accepted from", "until", "status"):
        table.add_column(column)
    for registration in store:
        table.add_row(
            registration.party,
            registration.fingerprint[:16] + "…",
            _key_label(registration, with_key),
            f"{registration.valid_from:%Y-%m-%d %H:%M}Z",
            f"{registration.valid_until:%Y-%m-%d %H:%M}Z",
            _status(registration, store, now),
        )
    return table


def _key_label(registration: RegisteredCertificate, with_key: set[str]) -> str:
    public = registration.certificate.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        kind = f"EC {public.curve.name}"
    else:
        kind = f"RSA-{getattr(public, 'key_size', '?')}"
    return kind + (" +private" if registration.fingerprint in with_key else "")


def _status(registration: RegisteredCertificate, store: TrustStore, now: datetime) -> str:
    if now < registration.valid_from:
        return "[yellow]not yet[/]"
    if now > registration.valid_until:
        return "[red]expired[/]"
    others = store.accepted_for(registration.party, now)
    newer = [r for r in others if r.valid_until > registration.valid_until]
    return "[yellow]rotating out[/]" if newer else "[green]accepted[/]"


# --- gbagw verify ---------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyReport:
    """What ``gbagw verify`` says about one file; claims are unverified when rejected."""

    file: Path
    accepted: bool
    sender: str | None = None
    fingerprint: str | None = None
    message_id: str | None = None
    sent_at: datetime | None = None
    reason: str | None = None
    error: str | None = None
    #: from the unsigned document, only to help an operator read a rejection
    claimed_sender: str | None = None
    certificate_subject: str | None = None
    registered_party: str | None = None


def verify_file_report(
    file: Path,
    header: HeaderSpec,
    *,
    agency: str | None = None,
    keys_dir: Path | None = None,
    trust: TrustStore | None = None,
    now: datetime | None = None,
) -> VerifyReport:
    """Verify ``file`` as if received from ``agency`` (any registered party when None)."""
    data = file.read_bytes()
    store = (
        trust if trust is not None else KeyDirectory(keys_dir or default_keys_dir()).trust_store()
    )
    try:
        result = verify(data, store, header, expected_sender=agency, now=now)
    except SignatureRejected as exc:
        return VerifyReport(
            file=file,
            accepted=False,
            reason=exc.message,
            error=type(exc).__name__,
            **_claims(data, header, store),
        )
    return VerifyReport(
        file=file,
        accepted=True,
        sender=result.sender,
        fingerprint=result.fingerprint,
        message_id=result.message_id,
        sent_at=result.sent_at,
        certificate_subject=result.certificate.certificate.subject.rfc4514_string(),
        registered_party=result.certificate.party,
    )


def verify_command(
    file: Path,
    agency: str | None,
    keys_dir: Path | None,
    header: HeaderSpec,
    *,
    console: Console | None = None,
    now: datetime | None = None,
) -> int:
    """Print who signed ``file`` and whether it is accepted; return the exit code (0 / 1)."""
    console = console or Console()
    try:
        report = verify_file_report(file, header, agency=agency, keys_dir=keys_dir, now=now)
    except TrustConfigError as exc:
        console.print(f"[red]cannot load the trust list:[/] {exc}")
        return 2
    if report.accepted:
        sent = report.sent_at.isoformat() if report.sent_at else "?"
        console.print(
            f"[green]ACCEPTED[/] {file}: signed by [bold]{report.sender}[/] "
            f"(certificate {report.fingerprint}, {report.certificate_subject}); "
            f"message {report.message_id} sent {sent}"
        )
        return 0
    console.print(f"[red]REJECTED[/] {file}: {report.error}: {report.reason}")
    if report.certificate_subject:
        party = report.registered_party or "no party"
        console.print(
            f"  certificate in KeyInfo: {report.certificate_subject}, registered for {party}"
        )
    if report.claimed_sender:
        console.print(f"  claimed sender (unverified): {report.claimed_sender}")
    return 1


def _claims(data: bytes, header: HeaderSpec, trust: TrustStore) -> dict[str, str | None]:
    """Best-effort, unverified hints for a rejected file; never raises."""
    claims: dict[str, str | None] = {}
    try:
        root = parse_untrusted(data)
    except SignatureRejected:
        return claims
    found = root.find(header.sender)
    claims["claimed_sender"] = (found.text or "").strip() if found is not None else None
    element = next(root.iter(f"{{{DS_NS}}}X509Certificate"), None)
    try:
        cert = x509.load_der_x509_certificate(b64decode("".join((element.text or "").split())))
    except (AttributeError, ValueError):
        return claims
    claims["certificate_subject"] = cert.subject.rfc4514_string()
    registration = trust.by_fingerprint(fingerprint(cert))
    claims["registered_party"] = registration.party if registration else None
    return claims
