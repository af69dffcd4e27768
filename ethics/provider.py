"""Ethics' own personal data, registered like any app's: the consent history (pseudonymous events
plus their erasable evidence), the permission intervals and the person's requests."""

from __future__ import annotations

from ethics.models import ConsentEvent, ConsentEvidence, ConsentInterval, DataSubjectRequest
from ethics.personal_data import Person, Provider, Rows


def _export(person: Person) -> Rows:
    events = (
        list(
            ConsentEvent.objects.filter(pseudonym=person.pseudonym)
            .order_by("seq")
            .values(
                "seq",
                "purpose__code",
                "notice__version",
                "notice__text",
                "action",
                "lawful_basis",
                "source",
                "occurred_at",
                "hash",
            )
        )
        if person.pseudonym
        else []
    )
    if person.contact_id is None:
        return {"consent_event": events, "consent_evidence": [], "consent_interval": [], "request": []}
    evidence = ConsentEvidence.objects.filter(contact_id=person.contact_id).values(
        "event__seq", "ip_address", "user_agent", "form_id"
    )
    intervals = ConsentInterval.objects.filter(contact_id=person.contact_id).values(
        "purpose__code", "lawful_basis", "granted_from", "granted_until"
    )
    requests = DataSubjectRequest.objects.filter(contact_id=person.contact_id).values(
        "id", "kind", "status", "received_at", "due_at", "completed_at"
    )
    return {
        "consent_event": events,
        "consent_evidence": list(evidence),
        "consent_interval": list(intervals),
        "request": list(requests),
    }


def _erase(person: Person) -> dict[str, int]:
    """Evidence and intervals go; events stay, naming only a pseudonym nobody can link any more once
    the contact's uuid is gone. Requests stay as the record, without their link to the person."""
    if person.contact_id is None:
        return {"consent_evidence": 0, "consent_interval": 0, "request": 0}
    evidence, _ = ConsentEvidence.objects.filter(contact_id=person.contact_id).delete()
    intervals, _ = ConsentInterval.objects.filter(contact_id=person.contact_id).delete()
    requests = DataSubjectRequest.objects.filter(contact_id=person.contact_id).update(
        contact=None, subject_handles=[], changes={}
    )
    return {"consent_evidence": evidence, "consent_interval": intervals, "request": requests}


PROVIDER = Provider(
    name="ethics",
    models=(
        "ethics.ConsentEvent",
        "ethics.ConsentEvidence",
        "ethics.ConsentInterval",
        "ethics.DataSubjectRequest",
    ),
    export=_export,
    erase=_erase,
    order=500,
)
