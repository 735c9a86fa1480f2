"""API clients: issue a credential once, keep only its hash, find the caller by its token.

Tokens are 256 random bits, so a plain SHA-256 is a safe verifier (a slow password hash
guards guessable secrets; these are not) and lets a look-up be one indexed equality.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.store.tables import ApiClient

TOKEN_PREFIX = "gbagw_"
ROLES = ("platform", "agency", "operator")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class ClientError(ValueError):
    """A client cannot be added, found or revoked as asked (the message says why)."""

    #: the HTTP status the audit log records for the refusal
    status = 422


class ClientExists(ClientError):
    status = 409


class UnknownClient(ClientError):
    status = 404


@dataclass(frozen=True)
class Role:
    """``platform``, ``operator`` or ``agency`` speaking for one agency code."""

    name: str
    agency: str | None = None

    @classmethod
    def parse(cls, text: str) -> Role:
        """``platform``, ``operator`` or ``agency:CODE``."""
        name, _, agency = text.partition(":")
        if name not in ROLES:
            raise ClientError(f"role {text!r}: expected platform, operator or agency:CODE")
        if (name == "agency") != bool(agency):
            raise ClientError(f"role {text!r}: an agency role names its code (agency:CODE)")
        return cls(name, agency.upper() or None)

    def __str__(self) -> str:
        return f"agency:{self.agency}" if self.agency else self.name


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_client(
    session: Session, name: str, role: Role, *, now: dt.datetime | None = None
) -> tuple[ApiClient, str]:
    """A new client and its token; the token exists only in the return value."""
    if not NAME_PATTERN.match(name):
        raise ClientError(
            f"client name {name!r}: 1-64 letters, digits, '.', '_' or '-', starting alnum"
        )
    if session.scalar(select(ApiClient.id).where(ApiClient.name == name)) is not None:
        raise ClientExists(f"client {name!r} exists already")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    client = ApiClient(
        id=str(uuid.uuid4()),
        name=name,
        role=role.name,
        agency=role.agency,
        token_sha256=token_digest(token),
        created_at=now or dt.datetime.now(dt.UTC),
    )
    session.add(client)
    session.flush()
    return client, token


def client_for_token(session: Session, token: str) -> ApiClient | None:
    """The active client this token belongs to, or None (unknown or revoked)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 128:
        return None
    client = session.scalar(select(ApiClient).where(ApiClient.token_sha256 == token_digest(token)))
    if client is None or client.revoked_at is not None:
        return None
    return client


def list_clients(session: Session) -> list[ApiClient]:
    return list(session.scalars(select(ApiClient).order_by(ApiClient.created_at, ApiClient.name)))


def revoke_client(session: Session, name: str, *, now: dt.datetime | None = None) -> bool:
    """Revoke by name; True when it was active (revoking twice is not an error)."""
    client = session.scalar(select(ApiClient).where(ApiClient.name == name))
    if client is None:
        raise UnknownClient(f"no client named {name!r}")
    if client.revoked_at is not None:
        return False
    client.revoked_at = now or dt.datetime.now(dt.UTC)
    return True


def reissue_token(
    session: Session, name: str, role: Role, *, now: dt.datetime | None = None
) -> str:
    """A fresh token for client ``name`` (created with ``role`` when missing); the old token
    stops working. For clients the gateway runs itself (the embedded sandboxes' pushes), whose
    tokens live only as long as the process that holds them."""
    client = session.scalar(select(ApiClient).where(ApiClient.name == name))
    if client is None:
        return add_client(session, name, role, now=now)[1]
    if (client.role, client.agency) != (role.name, role.agency):
        raise ClientExists(f"client {name!r} exists with role {client.role}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    client.token_sha256 = token_digest(token)
    client.revoked_at = None
    return token


def sandbox_push_tokens(
    session: Session, agencies: list[str], *, holder: str = "sandbox"
) -> dict[str, str]:
    """agency code → a fresh token of client ``HOLDER-push-CODE`` (role agency:CODE); each
    holder (the embedded run, a test cluster) has its own clients, so one never revokes
    another's tokens."""
    return {
        code: reissue_token(session, f"{holder}-push-{code}", Role("agency", code))
        for code in agencies
    }
