"""``gbagw keys …`` and the building blocks of ``gbagw verify``, for the main CLI to mount.

The main CLI adds ``keys_app`` as the ``keys`` group; ``gbagw verify`` reads a document with
:func:`signing.read_limited`, detects its format from the root namespace and calls
:func:`verify_document` with that format's :class:`HeaderSpec`; this module knows no agency
format. The key directory is ``--keys`` (``--dir`` is kept as an alias), else ``$GBAGW_KEYS``,
else ``./var/keys``.

``gbagw keys …`` exits 0 when done; 1 when a certificate file was read and refused (not a PEM
certificate, expired, a key the specs do not allow, registered already); 2 for a usage error
(an option out of range, a malformed party code, ``add`` for a registered party, ``rotate`` for
an unknown one) or a file that cannot be opened; 3 when the key directory cannot be used. Each
refusal is one line.

``gbagw verify`` prints one line per document, never a traceback:

* ``ACCEPTED <file>: signed by <party> (certificate <sha256>, <subject>); message … sent …``
* ``REJECTED <ReasonCode>: <file>: <why>`` — the reason code is the class name of the
  :class:`SignatureRejected` subclass (``DtdForbidden``, ``DigestMismatch`` …): stable, unique
  per refusal, and the same name tests and audit logs use;
* ``ERROR <Code>: <file>: <why>`` on standard error when the input or the trust list cannot be
  read (``InputUnreadable``, ``TrustConfigError``).
"""

from __future__ import annotations

import math
import os
from base64 import b64decode
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, NoReturn

import typer
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from rich.console import Console
from rich.table import Table
from rich.text import Text

from signing.algorithms import DS_NS
from signing.errors import SignatureRejected
from signing.header import HeaderSpec
from signing.keydir import (
    DEFAULT_ROTATION_WINDOW,
    MAX_ROTATION_WINDOW,
    SANDBOX_AGENCIES,
    CertificateRefused,
    KeyChangeRefused,
    KeyDirectory,
    certificate_problem,
    check_party_code,
)
from signing.keys import fingerprint
from signing.trust import RegisteredCertificate, TrustConfigError, TrustStore
from signing.verifier import Verified, verify
from signing.xmlsafe import Limits, one_line, parse_untrusted, read_limited

KEYS_ENV = "GBAGW_KEYS"

keys_app = typer.Typer(
    help="Keys and certificates the gateway signs with and trusts.", no_args_is_help=True
)

DirOption = Annotated[
    Path | None,
    typer.Option(
        "--keys",
        "--dir",
        envvar=KEYS_ENV,
        show_envvar=False,
        help=f"key directory (default ${KEYS_ENV}, else ./var/keys)",
    ),
]
#: exit codes of ``gbagw verify`` (and of ``verify_command``)
EXIT_ACCEPTED, EXIT_REJECTED, EXIT_UNREADABLE = 0, 1, 2
#: a key directory or trust list that cannot be used (the gateway's exit code 3)
EXIT_CONFIG = 3
#: a certificate file larger than this is not one (a chain of a few certificates is ~10 KB)
CERTIFICATE_LIMITS = Limits(max_bytes=1 << 20)


def console(*, stderr: bool = False) -> Console:
    """A console that never hard-wraps: piped, rich would wrap at 80 columns (tables too)."""
    out = Console(stderr=stderr, soft_wrap=True, highlight=False)
    if not out.is_terminal:
        out = Console(stderr=stderr, soft_wrap=True, highlight=False, width=240)
    return out


def config_error(exc: Exception) -> typer.Exit:
    """A key directory or trust list that cannot be used: one line, exit 3."""
    console(stderr=True).print(f"error: {exc}", markup=False)
    return typer.Exit(EXIT_CONFIG)


def default_keys_dir() -> Path:
    return Path(os.environ.get(KEYS_ENV) or "var/keys")


def refused(name: object, why: str) -> typer.Exit:
    """A certificate file read and refused: one line naming it, exit 1."""
    console(stderr=True).print(printable(f"error: {name}: {one_line(why)}"), markup=False)
    return typer.Exit(EXIT_REJECTED)


def _window_days(value: float) -> float:
    """``--window-days``: 0 (end the old acceptance now) to a year, never nan or inf."""
    top = MAX_ROTATION_WINDOW.days
    if not (math.isfinite(value) and 0 <= value <= top):
        raise typer.BadParameter(f"must be a number of days from 0 to {top}, not {value:g}")
    return value


def _party_code(value: str) -> str:
    try:
        return check_party_code(value)
    except KeyChangeRefused as exc:
        raise typer.BadParameter(str(exc)) from None


def _party_codes(values: list[str] | None) -> list[str] | None:
    return [_party_code(value) for value in values] if values is not None else None


@keys_app.command("init")
def init_command(
    ctx: typer.Context,
    directory: Annotated[
        Path | None,
        typer.Argument(help=f"where to create it (same as --keys; default ${KEYS_ENV})"),
    ] = None,
    keys: DirOption = None,
    key_type: Annotated[
        str, typer.Option("--key-type", metavar="rsa|ec", help="rsa (RSA-2048) or ec (ECDSA P-256)")
    ] = "rsa",
    agency: Annotated[
        list[str] | None,
        typer.Option(
            "--agency",
            metavar="CODE",
            help="create only these sandbox agencies (repeatable; default: all)",
            callback=_party_codes,
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="replace the key set already there, if any")
    ] = False,
) -> None:
    """Create a development CA, the gateway's key and one key per sandbox agency.

    A directory that already holds a usable key set (its trust list loads, the gateway's key
    is accepted now) is kept as it is: exit 0. One whose trust list is broken: exit 3 with
    the reason. --force replaces either. The directory argument wins over $GBAGW_KEYS, as
    --keys does; it and --keys both given must name the same directory.
    """
    if key_type not in ("rsa", "ec"):
        raise typer.BadParameter("must be rsa or ec", param_hint="--key-type")
    # typer carries its own copy of click: its ParameterSource is compared by name
    from_env = getattr(ctx.get_parameter_source("keys"), "name", None) == "ENVIRONMENT"
    if directory is not None and keys is not None and not from_env:
        if directory.resolve() != keys.resolve():
            raise typer.BadParameter(f"two key directories given: {directory} and {keys}")
    target = directory or keys or default_keys_dir()
    key_directory = KeyDirectory(target)
    if not force and key_directory.trust_file.exists():
        _keep_existing(key_directory)
    try:
        entries = key_directory.init(
            key_type=key_type,  # type: ignore[arg-type]
            agencies=agency or SANDBOX_AGENCIES,
            force=force,
        )
    except FileExistsError as exc:  # created by someone else meanwhile
        raise typer.BadParameter(f"{exc} (use --force)") from None
    except OSError as exc:  # a file where a directory should be, no permission, disk full …
        why = exc.strerror or type(exc).__name__
        raise config_error(Exception(f"cannot create keys in {target}: {why}")) from None
    console().print(
        f"Created {len(entries)} keys in {target}; trust list: {target / 'trust.yaml'}",
        markup=False,
    )


def _keep_existing(key_directory: KeyDirectory) -> NoReturn:
    """Exit 0 when ``key_directory`` is usable as it is, else 3 with the one-line reason."""
    target = key_directory.path
    try:
        parties = {registration.party for registration in key_directory.trust_store()}
        key_directory.gateway_key()
    except (TrustConfigError, KeyError, OSError, ValueError, TypeError, yaml.YAMLError) as exc:
        said = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc  # no quotes
        reason = " ".join(str(said).split()) or type(exc).__name__
        console(stderr=True).print(
            printable(f"error: {target} holds an unusable key set: {reason}; --force replaces it"),
            markup=False,
        )
        raise typer.Exit(EXIT_CONFIG) from None
    console().print(
        printable(f"keys already in {target} ({len(parties)} parties); --force replaces them"),
        markup=False,
    )
    raise typer.Exit(0)


@keys_app.command("rotate")
def rotate_command(
    agency: Annotated[
        str, typer.Option(help="party code, e.g. HK-TD or GD-GBA-GW", callback=_party_code)
    ],
    directory: DirOption = None,
    window_days: Annotated[
        float,
        typer.Option(
            help=(
                "days the old certificate stays accepted: 0 (now: its key leaked) to "
                f"{MAX_ROTATION_WINDOW.days}; fractions allowed"
            ),
            callback=_window_days,
        ),
    ] = DEFAULT_ROTATION_WINDOW.days,
    certificate: Annotated[
        Path | None,
        typer.Option(help="register this PEM certificate (sent by the agency) instead"),
    ] = None,
) -> None:
    """Add a new certificate for a party; the old one is accepted until the window ends.

    Without --certificate a new development key is made: only for parties whose key is held
    here (the gateway, sandbox agencies).
    """
    keys = KeyDirectory(directory or default_keys_dir())
    now = datetime.now(UTC).replace(microsecond=0)
    cert = _read_certificate(certificate, now) if certificate else None
    try:
        entry = keys.rotate(agency, timedelta(days=window_days), now=now, certificate=cert)
    except CertificateRefused as exc:
        raise refused(certificate, str(exc)) from None
    except KeyChangeRefused as exc:
        raise typer.BadParameter(str(exc), param_hint="--agency") from None
    except (TrustConfigError, OSError) as exc:
        raise config_error(exc) from None
    console().print(
        f"{agency}: new certificate {entry.fingerprint[:16]}… accepted from "
        f"{entry.accepted_from:%Y-%m-%d %H:%M}Z; older ones until "
        f"{entry.accepted_from + timedelta(days=window_days):%Y-%m-%d %H:%M}Z",
        markup=False,
    )


@keys_app.command("add")
def add_command(
    agency: Annotated[str, typer.Option(help="party code, e.g. MO-DSI", callback=_party_code)],
    certificate: Annotated[Path, typer.Option(help="the party's PEM certificate")],
    directory: DirOption = None,
) -> None:
    """Register a certificate a party sent (first registration; use rotate to replace one)."""
    keys = KeyDirectory(directory or default_keys_dir())
    cert = _read_certificate(certificate, datetime.now(UTC))
    try:
        entry = keys.add_certificate(agency, cert)
    except CertificateRefused as exc:
        raise refused(certificate, str(exc)) from None
    except KeyChangeRefused as exc:
        raise typer.BadParameter(str(exc), param_hint="--agency") from None
    except (TrustConfigError, OSError) as exc:
        raise config_error(exc) from None
    console().print(f"{agency}: registered certificate {entry.fingerprint[:16]}…", markup=False)


@keys_app.command("list")
def list_command(directory: DirOption = None) -> None:
    """Show every trusted certificate and until when it is accepted."""
    keys = KeyDirectory(directory or default_keys_dir())
    try:
        store = keys.trust_store()
        with_key = {e.fingerprint for e in keys.entries() if e.key}
    except TrustConfigError as exc:
        raise config_error(exc) from None
    console().print(trust_table(store, with_key, datetime.now(UTC)))


def _read_certificate(path: Path, now: datetime) -> x509.Certificate:
    """The certificate in ``path`` (``-``: standard input), one a party can sign with now:
    a file that cannot be opened is a usage error (2), one that is no such certificate is
    refused (1)."""
    try:
        data = read_limited(path, CERTIFICATE_LIMITS)
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise typer.BadParameter(f"cannot read {path}: {why}", param_hint="--certificate") from None
    if len(data) > CERTIFICATE_LIMITS.max_bytes:
        raise refused(path, f"over {CERTIFICATE_LIMITS.max_bytes} bytes: not a certificate")
    try:
        cert = x509.load_pem_x509_certificate(data)
    except ValueError:
        raise refused(path, "not a PEM certificate (-----BEGIN CERTIFICATE-----)") from None
    problem = certificate_problem(cert, now)
    if problem is not None:
        raise refused(path, problem)
    return cert


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


class InputUnreadable(Exception):
    """The document could not be read at all (missing, a directory, no permission …)."""

    def __init__(self, name: str, exc: OSError):
        why = exc.strerror or type(exc).__name__
        super().__init__(f"cannot read {name}: {why}")


@dataclass(frozen=True)
class VerifyReport:
    """What ``gbagw verify`` says about one document; claims are unverified when rejected."""

    #: the name the user gave (``-`` for standard input)
    file: str
    accepted: bool
    #: the accepted document: values are read only from ``verified.element`` (canonical form)
    verified: Verified | None = None
    #: class name of the :class:`SignatureRejected` subclass, e.g. ``DigestMismatch``
    reason_code: str | None = None
    reason: str | None = None
    #: from the unsigned document, only to help an operator read a rejection
    claimed_sender: str | None = None
    certificate_subject: str | None = None
    registered_party: str | None = None

    @property
    def sender(self) -> str | None:
        return self.verified.sender if self.verified else None

    @property
    def fingerprint(self) -> str | None:
        return self.verified.fingerprint if self.verified else None

    @property
    def message_id(self) -> str | None:
        return self.verified.message_id if self.verified else None

    @property
    def sent_at(self) -> datetime | None:
        return self.verified.sent_at if self.verified else None

    @property
    def error(self) -> str | None:
        """Former name of :attr:`reason_code`."""
        return self.reason_code

    @property
    def exit_code(self) -> int:
        return EXIT_ACCEPTED if self.accepted else EXIT_REJECTED


def read_document(name: str | Path, limits: Limits | None = None) -> bytes:
    """At most ``limits.max_bytes + 1`` bytes of ``name`` (``-``: standard input)."""
    try:
        return read_limited(name, limits)
    except OSError as exc:
        raise InputUnreadable(str(name), exc) from None


def load_trust(keys_dir: Path | None) -> TrustStore:
    """The trust list of ``keys_dir`` (default: ``$GBAGW_KEYS``, else ``./var/keys``).

    Raises :class:`TrustConfigError` for anything that stops it loading (missing, unreadable,
    malformed, fingerprint changed).
    """
    directory = keys_dir or default_keys_dir()
    try:
        return KeyDirectory(directory).trust_store()
    except TrustConfigError:
        raise
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise TrustConfigError(f"{directory}: {type(exc).__name__}: {exc}") from None


def rejected(
    file: str,
    exc: SignatureRejected,
    data: bytes | None = None,
    header: HeaderSpec | None = None,
    trust: TrustStore | None = None,
) -> VerifyReport:
    """The report of a refusal; with ``data``, ``header`` and ``trust``, unverified hints."""
    claims = _claims(data, header, trust) if data and header and trust is not None else {}
    return VerifyReport(
        file=file,
        accepted=False,
        reason_code=type(exc).__name__,
        reason=exc.message,
        claimed_sender=claims.get("claimed_sender"),
        certificate_subject=claims.get("certificate_subject"),
        registered_party=claims.get("registered_party"),
    )


def verify_document(
    data: bytes,
    header: HeaderSpec,
    trust: TrustStore,
    *,
    file: str = "-",
    agency: str | None = None,
    now: datetime | None = None,
    limits: Limits | None = None,
) -> VerifyReport:
    """Verify ``data`` as if received from ``agency`` (any registered party when None)."""
    try:
        result = verify(data, trust, header, expected_sender=agency, now=now, limits=limits)
    except SignatureRejected as exc:
        return rejected(file, exc, data, header, trust)
    return VerifyReport(file=file, accepted=True, verified=result)


def verify_file_report(
    file: Path,
    header: HeaderSpec,
    *,
    agency: str | None = None,
    keys_dir: Path | None = None,
    trust: TrustStore | None = None,
    now: datetime | None = None,
) -> VerifyReport:
    """Read ``file`` (bounded) and verify it; raises :class:`InputUnreadable` /
    :class:`TrustConfigError` when the file or the trust list cannot be read."""
    data = read_document(file)
    store = trust if trust is not None else load_trust(keys_dir)
    return verify_document(data, header, store, file=str(file), agency=agency, now=now)


def report_line(report: VerifyReport) -> Text:
    """The one line ``gbagw verify`` prints for ``report`` (no markup is interpreted)."""
    name = printable(report.file)
    verified = report.verified
    if verified is not None:
        subject = verified.certificate.certificate.subject.rfc4514_string()
        return Text.assemble(
            ("ACCEPTED", "green"),
            printable(
                f" {name}: signed by {verified.sender} (certificate {verified.fingerprint}, "
                f"{subject}); message {verified.message_id} sent {verified.sent_at.isoformat()}"
            ),
        )
    why = report.reason or ""
    if report.certificate_subject:
        party = report.registered_party or "no party"
        why += f"; certificate in KeyInfo: {report.certificate_subject}, registered for {party}"
    if report.claimed_sender:
        why += f"; claimed sender (unverified): {report.claimed_sender}"
    return Text.assemble(("REJECTED", "red"), printable(f" {report.reason_code}: {name}: {why}"))


def error_line(code: str, message: str) -> Text:
    """``ERROR <code>: <message>``, one line: for unreadable input or trust list (exit 2)."""
    return Text.assemble(("ERROR", "red"), printable(f" {code}: {message}"))


def report_json(report: VerifyReport) -> dict[str, object]:
    """The report as one JSON object; every key is always present (null when not known)."""
    verified = report.verified
    return {
        "file": printable(report.file),
        "verdict": "accepted" if report.accepted else "rejected",
        "reason_code": report.reason_code,
        "reason": report.reason,
        "signer": verified.sender if verified else None,
        "certificate_fingerprint": verified.fingerprint if verified else None,
        "certificate_subject": (
            verified.certificate.certificate.subject.rfc4514_string()
            if verified
            else report.certificate_subject
        ),
        "message_id": verified.message_id if verified else None,
        "sent_at": verified.sent_at.isoformat() if verified else None,
        "unverified": None
        if verified
        else {
            "claimed_sender": report.claimed_sender,
            "certificate_registered_for": report.registered_party,
        },
    }


def printable(text: str) -> str:
    """``text`` on one line and encodable: control, line-separator and surrogate characters
    (a file name with undecodable bytes, a newline in a claimed sender) become ``\\x..``."""
    if text.isprintable():
        return text
    return "".join(
        ch
        if ch.isprintable() or ch == " "
        else ch.encode("unicode_escape", "backslashreplace").decode("ascii", "backslashreplace")
        for ch in text
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
    """Print one line saying who signed ``file`` and whether it is accepted; return the exit
    code (0 accepted, 1 rejected, 2 file unreadable, 3 trust list unusable)."""
    console = console or Console(soft_wrap=True, highlight=False)
    try:
        report = verify_file_report(file, header, agency=agency, keys_dir=keys_dir, now=now)
    except InputUnreadable as exc:
        console.print(error_line("InputUnreadable", str(exc)))
        return EXIT_UNREADABLE
    except TrustConfigError as exc:
        console.print(error_line("TrustConfigError", f"cannot load the trust list: {exc}"))
        return EXIT_CONFIG
    console.print(report_line(report))
    return report.exit_code


def _claims(data: bytes, header: HeaderSpec, trust: TrustStore) -> dict[str, str | None]:
    """Best-effort, unverified hints for a rejected document; never raises."""
    claims: dict[str, str | None] = {}
    try:
        root = parse_untrusted(data)
        found = root.find(header.sender)
        claims["claimed_sender"] = (found.text or "").strip() if found is not None else None
        element = next(root.iter(f"{{{DS_NS}}}X509Certificate"), None)
        if element is None:
            return claims
        der = b64decode("".join((element.text or "").split()))
        cert = x509.load_der_x509_certificate(der)
        claims["certificate_subject"] = cert.subject.rfc4514_string()
        registration = trust.by_fingerprint(fingerprint(cert))
        claims["registered_party"] = registration.party if registration else None
    except Exception:  # noqa: BLE001 - hints only: a hostile document must not break the report
        pass
    return claims
