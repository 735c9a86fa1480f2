"""``gbagw clients add|list|revoke|audit``: who may call the public API, and what they did.

A token is printed once, by ``add``, and never again: the store keeps only its SHA-256.
``add`` and ``revoke`` are themselves written to the audit log (actor ``cli``), refused or not.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from gateway.cli.common import CONFIG, REJECTED, USAGE, JsonOpt, err, out

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from gateway.store.clients import Role
    from gateway.store.tables import ApiClient, AuditEntry

clients_app = typer.Typer(
    no_args_is_help=True, help="API clients: bearer tokens, roles, the audit log."
)

NameArg = Annotated[str, typer.Argument(help="The client's name (letters, digits, . _ -).")]


def register(app: typer.Typer) -> None:
    clients_app.rich_markup_mode = None
    clients_app.pretty_exceptions_enable = False
    app.add_typer(clients_app, name="clients")


def _role(text: str) -> Role:
    from gateway.store.clients import ClientError, Role

    try:
        return Role.parse(text)
    except ClientError as exc:
        raise typer.BadParameter(str(exc)) from None


@contextmanager
def _store() -> Iterator[sessionmaker[Session]]:
    from gateway.cli.service import open_runtime

    runtime = open_runtime()
    try:
        yield runtime.sessions
    finally:
        runtime.close()


def _known_agency(role: Role) -> None:
    """An agency role must name an agency of the directory the gateway routes to."""
    from gateway.agencies.directory import AgencyDirectory, DirectoryError
    from gateway.config import settings

    if role.agency is None:
        return
    try:
        directory = AgencyDirectory.load(settings().agencies)
    except DirectoryError as exc:
        err.print(f"error {exc}", markup=False)
        raise typer.Exit(CONFIG) from None
    known = sorted(a.code for a in directory)
    if role.agency not in known:
        err.print(
            f"error no agency {role.agency} in the agency directory ({directory.source}); "
            f"known: {', '.join(known)}",
            markup=False,
        )
        raise typer.Exit(USAGE)  # a bad argument, like a role that does not parse


def _record(session: Session, command: str, name: str, status: int) -> None:
    from gateway.store.audit import CLI_ACTOR, Write, record_write

    write = Write("CLI", f"clients {command}", status, actor=CLI_ACTOR, target=name)
    record_write(session, write)


def _refused(sessions: sessionmaker[Session], command: str, name: str, exc: Any) -> typer.Exit:
    """Audit the refusal and say why. A malformed argument (a name the pattern refuses: 422)
    is a usage error (2), as a role that does not parse is; a well-formed one the store
    refuses (a name taken, no such client) is a refusal (1)."""
    from gateway.store.db import transaction

    with transaction(sessions) as session:
        _record(session, command, name, exc.status)
    err.print(f"error {exc}", markup=False)
    return typer.Exit(USAGE if exc.status == 422 else REJECTED)


def _client_view(client: ApiClient) -> dict[str, Any]:
    return {
        "id": client.id,
        "name": client.name,
        "role": f"agency:{client.agency}" if client.agency else client.role,
        "created_at": client.created_at.isoformat(),
        "revoked_at": client.revoked_at.isoformat() if client.revoked_at else None,
    }


@clients_app.command("add")
def add(
    name: NameArg,
    role: Annotated[
        str,
        typer.Option(
            "--role", help="platform, operator or agency:CODE (an agency of the directory)."
        ),
    ],
    as_json: JsonOpt = False,
) -> None:
    """Issue a bearer token for a new client; it is shown this once and never again."""
    from gateway.store.clients import ClientError, add_client
    from gateway.store.db import transaction

    parsed = _role(role)
    _known_agency(parsed)
    with _store() as sessions:
        try:
            with transaction(sessions) as session:
                client, token = add_client(session, name, parsed)
                _record(session, "add", name, 201)
                view = _client_view(client)
        except ClientError as exc:
            raise _refused(sessions, "add", name, exc) from None
    if as_json:
        out.out(json.dumps({**view, "token": token}), highlight=False)
        return
    err.print(
        f"added client {name} ({view['role']}); its bearer token follows and will not be shown "
        "again: the gateway keeps only its hash",
        markup=False,
    )
    out.out(token, highlight=False)


@clients_app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """Every client, oldest first: name, role, when added and revoked (never a token)."""
    from gateway.store.clients import list_clients
    from gateway.store.db import transaction

    with _store() as sessions, transaction(sessions, read_only=True) as session:
        views = [_client_view(c) for c in list_clients(session)]
    if as_json:
        out.out(json.dumps(views), highlight=False)
        return
    table = Table(title=f"{len(views)} API clients")
    for column in ("name", "role", "added", "revoked"):
        table.add_column(column)
    for v in views:
        table.add_row(v["name"], v["role"], v["created_at"][:19], (v["revoked_at"] or "")[:19])
    out.print(table)


@clients_app.command("revoke")
def revoke(name: NameArg) -> None:
    """Revoke a client's token at once (revoking twice is not an error)."""
    from gateway.store.clients import ClientError, revoke_client
    from gateway.store.db import transaction

    with _store() as sessions:
        try:
            with transaction(sessions) as session:
                was_active = revoke_client(session, name)
                _record(session, "revoke", name, 200)
        except ClientError as exc:
            raise _refused(sessions, "revoke", name, exc) from None
    out.print(
        f"revoked client {name}" if was_active else f"client {name} was revoked already",
        markup=False,
    )


@clients_app.command("audit")
def audit(
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 100,
    client: Annotated[
        str | None, typer.Option("--client", help="Only this client's writes (cli: gbagw's).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """The audit log, newest first: every write to the API (refused ones too) and client
    changes — who, what, the result, when and from where."""
    from gateway.store.audit import recent_writes
    from gateway.store.db import transaction

    with _store() as sessions, transaction(sessions, read_only=True) as session:
        entries = recent_writes(session, limit=limit, actor=client)
    if as_json:
        out.out(json.dumps([_entry_view(e) for e in entries]), highlight=False)
        return
    table = Table(title=f"{len(entries)} audit entries")
    for column in ("at", "who", "what", "target", "status", "from"):
        table.add_column(column)
    for e in entries:
        table.add_row(
            f"{e.at:%Y-%m-%d %H:%M:%S}",
            f"{e.actor} ({e.role})" if e.role else (e.actor or "-"),
            f"{e.method} {e.route}",
            e.target or "",
            str(e.status),
            e.address or "",
        )
    out.print(table)


def _entry_view(entry: AuditEntry) -> dict[str, Any]:
    columns = ("id", "actor", "client_id", "role", "method", "route", "target", "status")
    return {
        **{c: getattr(entry, c) for c in columns},
        "at": entry.at.isoformat(),
        "address": entry.address,
    }
