"""Records management of contacts: the controller's own create, list, read and correct, and the
personal-data provider data-subject requests export and erase through.

This is the one personalization module besides the models that touches contacts directly, and it
does so for administering the records, never for processing them for a purpose: everything that
segments, recommends, trains or sends reaches contacts through the consent gate
(`ethics.selectors.consented_contacts`). `tests/ethics/test_gate.py` enforces both rules.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Prefetch, QuerySet
from django.http import Http404
from django.utils import timezone

from ethics.models import ConsentInterval
from ethics.personal_data import Person, Provider, Rows
from ethics.retention import RetentionKind
from personalization.models import Contact, ContactHandle

EDITABLE = ("kind", "name", "email", "language", "region", "time_zone", "attributes", "is_restricted")


def contact_list() -> QuerySet[Contact]:
    return Contact.objects.prefetch_related(
        Prefetch("handles", queryset=ContactHandle.objects.order_by("network", "handle"))
    ).order_by("-created_at", "-id")


def contact_get(*, contact_id: int) -> Contact:
    contact = contact_list().filter(pk=contact_id).first()
    if contact is None:
        raise Http404("No such contact")
    return contact


def _normalize(handles: list[dict[str, str]]) -> list[tuple[str, str]]:
    return sorted({(h["network"].strip().lower(), h["handle"].strip().lstrip("@").lower()) for h in handles})


def contact_create(*, handles: list[dict[str, str]] | None = None, **fields: Any) -> Contact:
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise ValidationError({name: "Not a contact field." for name in unknown})
    try:
        with transaction.atomic():
            contact = Contact.objects.create(**fields)
            ContactHandle.objects.bulk_create(
                ContactHandle(contact=contact, network=network, handle=handle)
                for network, handle in _normalize(handles or [])
            )
    except IntegrityError as error:
        raise ValidationError({"handles": "A handle is already used by another contact."}) from error
    return contact


def contact_update(
    *, contact: Contact, handles: list[dict[str, str]] | None = None, **fields: Any
) -> Contact:
    """Correct a contact (rectification, or an admin's edit); handles, when given, replace the set."""
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise ValidationError({name: "Not a contact field." for name in unknown})
    for name, value in fields.items():
        setattr(contact, name, value)
    contact.updated_at = timezone.now()
    try:
        with transaction.atomic():
            contact.full_clean(exclude=["uuid"])
            contact.save()
            if handles is not None:
                ContactHandle.objects.filter(contact=contact).delete()
                ContactHandle.objects.bulk_create(
                    ContactHandle(contact=contact, network=network, handle=handle)
                    for network, handle in _normalize(handles)
                )
    except IntegrityError as error:
        raise ValidationError({"handles": "A handle is already used by another contact."}) from error
    return contact


# Personal data (ethics.personal_data) -------------------------------------------------------------


def _export(person: Person) -> Rows:
    if person.contact_id is None:
        return {"contact": [], "contact_handle": []}
    contact = Contact.objects.filter(pk=person.contact_id).values().first()
    handles = ContactHandle.objects.filter(contact_id=person.contact_id).values("network", "handle")
    return {"contact": [contact] if contact else [], "contact_handle": list(handles)}


def _erase(person: Person) -> dict[str, int]:
    if person.contact_id is None:
        return {"contact": 0, "contact_handle": 0}
    handles, _ = ContactHandle.objects.filter(contact_id=person.contact_id).delete()
    # Deleting the contact cascades to what hangs off it elsewhere (consent evidence, intervals).
    contacts = Contact.objects.filter(pk=person.contact_id).delete()[1].get("personalization.Contact", 0)
    return {"contact": contacts, "contact_handle": handles}


PROVIDER = Provider(
    name="personalization",
    models=("personalization.Contact", "personalization.ContactHandle"),
    export=_export,
    erase=_erase,
    order=900,  # last: the others find the person's data through the contact and its handles
)


def _stale(cutoff: datetime) -> QuerySet[Contact]:
    """Contacts untouched since the cutoff who hold no current permission for any purpose."""
    current = ConsentInterval.objects.filter(contact_id=OuterRef("pk"), granted_until__isnull=True)
    return Contact.objects.filter(updated_at__lt=cutoff).exclude(Exists(current))


def _purge_stale(cutoff: datetime) -> int:
    """Each stale contact is erased everywhere (every provider), as an erasure request would."""
    from ethics.personal_data import person_erase
    from ethics.selectors import person_for

    removed = 0
    for contact in _stale(cutoff).order_by("id").iterator(chunk_size=500):
        person_erase(person=person_for(contact=contact))
        removed += 1
    return removed


RETENTION = RetentionKind(
    kind="contacts",
    label="Contacts without current consent (by last update)",
    count=lambda c: _stale(c).count(),
    purge=_purge_stale,
)
