"""Which parts of a stored application are personal data, and what remains once removed.

The application is stored as Guangdong filed it (JSON, by alias). Its people are the
``applicant`` and the ``agent``; the form may name them again (a legal representative), and
``texts`` keeps their names and addresses converted. Retention keeps only what identifies the
filing, never the person (:func:`without_personal_data`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.domain import Application

ROLES = ("applicant", "agent")
#: what the removal marker keeps: the filing, the service, the channel — no person
KEPT = ("applicationNo", "itemCode", "itemVersion", "targetRegion", "channel", "submittedAt")
REMOVED = "personalDataRemoved"


def people(application: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """``(role, person)`` for the applicant and the agent, when present."""
    for role in ROLES:
        person = application.get(role)
        if isinstance(person, Mapping):
            yield role, person


def id_number(person: Mapping[str, Any]) -> str | None:
    """The person's ID number: ``identity.number`` as filing stores the application (the
    canonical model, by alias), or ``idNumber`` as Guangdong's wire JSON has it."""
    identity = person.get("identity")
    value = identity.get("number") if isinstance(identity, Mapping) else person.get("idNumber")
    return value if isinstance(value, str) and value.strip() else None


def names(application: Mapping[str, Any], texts: Iterable[Mapping[str, Any]] = ()) -> set[str]:
    """Every written form of the people's names: as filed, Traditional, Latin (both orders,
    and the given name alone), and the converted forms ``texts`` kept for name fields."""
    found: set[str] = set()
    for _, person in people(application):
        latin = person.get("nameLatin")
        latin = latin if isinstance(latin, Mapping) else {}
        found |= _name_forms(
            person.get("name"),
            person.get("nameTraditional"),
            latin.get("surname"),
            latin.get("given"),
        )
    for text in texts:
        if str(text.get("path", "")).rsplit(".", 1)[-1] in ("name", "nameTraditional"):
            found.update(v for v in (text.get("original"), text.get("converted")) if v)
    return {n.strip() for n in found if n and n.strip()}


def names_of(application: Application) -> set[str]:
    """:func:`names` of a validated application, read from the model (no JSON dump)."""
    a, g = application.applicant, application.agent
    found = _name_forms(a.name, a.name_traditional, a.name_latin.surname, a.name_latin.given)
    if g is not None:
        found |= _name_forms(g.name, None, g.name_latin.surname, g.name_latin.given)
    return {stripped for n in found if (stripped := n.strip())}


def _name_forms(name: Any, traditional: Any, surname: Any, given: Any) -> set[str]:
    found = {v for v in (name, traditional) if isinstance(v, str)}
    surname, given = str(surname or ""), str(given or "")
    if surname and given:
        found.update({f"{surname} {given}", f"{given} {surname}"})
    if len(given) >= 4:  # documents carry it alone; a lone surname (MA, NG) is no one
        found.add(given)
    return found


def without_personal_data(application: Mapping[str, Any], now: dt.datetime) -> dict[str, Any]:
    """The removal marker that replaces an application: the filing's identifiers and when
    its personal data was removed."""
    kept = {key: application[key] for key in KEPT if key in application}
    delivery = application.get("delivery")
    if isinstance(delivery, Mapping) and "channel" in delivery:
        kept["delivery"] = {"channel": delivery["channel"]}
    return {**kept, REMOVED: now.astimezone(dt.UTC).isoformat()}
