"""Reads of ethics, and THE CONSENT GATE.

`consented_contacts` is the only way personalization may reach contacts: it yields those with
permission for a purpose at a time (now by default), never restricted ones; erased contacts no
longer exist. Tenant isolation is the schema's; the API layer decides who may call these.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from ethics import ledger
from ethics.models import (
    ConsentEvent,
    ConsentInterval,
    DataSubjectRequest,
    FairnessSettings,
    LedgerCheck,
    LedgerKey,
    ModelStatus,
    ModelVersion,
    Notice,
    Purpose,
    RetentionPolicy,
)
from ethics.personal_data import Person
from ethics.retention import retention_kinds
from personalization.models import Contact, ContactHandle


def consented_contacts(*, purpose: str, at: datetime | None = None) -> QuerySet[Contact]:
    """Contacts with permission for `purpose` at `at` (default: now), restricted ones left out.

    One indexed range query over the interval table (`consent_interval_at`), whatever the size of
    the ledger. A withdrawal closes the interval in its own transaction, so it holds for every
    query that starts after it commits."""
    if at is not None and timezone.is_naive(at):
        raise ValueError("`at` must be timezone-aware")
    when = at or timezone.now()
    permitted = ConsentInterval.objects.filter(
        Q(granted_until__isnull=True) | Q(granted_until__gt=when),
        contact_id=OuterRef("pk"),
        purpose__code=purpose,
        purpose__is_active=True,
        granted_from__lte=when,
    )
    return Contact.objects.filter(Exists(permitted), is_restricted=False)


def purpose_list() -> QuerySet[Purpose]:
    """Purposes with their notices, newest version first (the first is the current one)."""
    return Purpose.objects.prefetch_related(
        Prefetch("notices", queryset=Notice.objects.order_by("-version"))
    ).order_by("code")


def purpose_by_code(*, code: str) -> Purpose:
    purpose = Purpose.objects.filter(code=code).first()
    if purpose is None:
        raise ValidationError({"purpose": f"No purpose with the code '{code}'."})
    return purpose


def purpose_get(*, purpose_id: int) -> Purpose:
    purpose = purpose_list().filter(pk=purpose_id).first()
    if purpose is None:
        raise Http404("No such purpose")
    return purpose


def notice_current(*, purpose: Purpose) -> Notice | None:
    return Notice.objects.filter(purpose=purpose).order_by("-version").first()


def notice_list(*, purpose: Purpose) -> QuerySet[Notice]:
    return Notice.objects.filter(purpose=purpose).order_by("-version")


def ledger_secret() -> str | None:
    key = LedgerKey.objects.order_by("pk").first()
    return key.secret if key is not None else None


def contact_pseudonym(*, contact: Contact) -> str:
    """The contact's ledger pseudonym; empty while the tenant has never appended an event."""
    secret = ledger_secret()
    return ledger.pseudonym(secret, str(contact.uuid)) if secret else ""


def consent_history(*, contact: Contact) -> QuerySet[ConsentEvent]:
    """The contact's events, oldest first, with their evidence (gone after an erasure)."""
    pseudonym = contact_pseudonym(contact=contact)
    return (
        ConsentEvent.objects.filter(pseudonym=pseudonym)
        .select_related("purpose", "notice", "evidence")
        .order_by("seq")
    )


def consent_current(*, contact: Contact) -> dict[str, ConsentInterval]:
    """Purpose code -> the open interval, for the purposes the contact has permission for now."""
    open_intervals = ConsentInterval.objects.filter(
        contact=contact, granted_until__isnull=True
    ).select_related("purpose")
    return {interval.purpose.code: interval for interval in open_intervals}


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int
    head_hash: str
    broken_seq: int | None = None
    broken_event_id: int | None = None
    reason: str = ""


def ledger_checks() -> QuerySet[LedgerCheck]:
    return LedgerCheck.objects.order_by("-requested_at", "-id")


def consent_verify(*, batch: int = 2000) -> Verification:
    """Walk the chain in order, recomputing every hash: the first event whose stored hash, link to
    its predecessor, sequence number or notice text does not match is reported. Streams in batches,
    so a ledger of millions of events is checked in bounded memory."""
    notices = {n.pk: n for n in Notice.objects.all()}
    prev = ledger.GENESIS
    expected_seq = 1
    checked = 0
    events = (
        ConsentEvent.objects.select_related("purpose")
        .order_by("seq")
        .only(*[f.name for f in ConsentEvent._meta.concrete_fields], "purpose__code")
    )
    for event in events.iterator(chunk_size=batch):
        notice = notices.get(event.notice_id) if event.notice_id else None
        reason = _broken_reason(event, notice, prev=prev, expected_seq=expected_seq)
        if reason:
            return Verification(False, checked, prev, event.seq, event.pk, reason)
        prev = event.hash
        expected_seq += 1
        checked += 1
    return Verification(True, checked, prev)


def _broken_reason(event: ConsentEvent, notice: Notice | None, *, prev: str, expected_seq: int) -> str:
    if event.seq != expected_seq:
        return f"sequence gap: expected #{expected_seq}, found #{event.seq}"
    if event.prev_hash != prev:
        return "prev_hash does not match the previous event's hash"
    if event.notice_id and (
        notice is None or hashlib.sha256(notice.text.encode()).hexdigest() != notice.text_sha256
    ):
        return "the notice text named by this event was changed"
    if ledger.chain_hash(prev, event_payload_of(event, notice)) != event.hash:
        return "the event's content does not match its hash"
    return ""


def event_payload_of(event: ConsentEvent, notice: Notice | None) -> dict[str, object]:
    return ledger.event_payload(
        seq=event.seq,
        pseudonym=event.pseudonym,
        purpose=event.purpose.code,
        notice=notice_ref(notice),
        action=event.action,
        lawful_basis=event.lawful_basis,
        source=event.source,
        actor=event.actor,
        occurred_at=event.occurred_at,
        evidence_digest=event.evidence_digest,
    )


def notice_ref(notice: Notice | None) -> dict[str, object] | None:
    if notice is None:
        return None
    return {"id": notice.pk, "version": notice.version, "text_sha256": notice.text_sha256}


def person_for(*, contact: Contact | None, handles: list[str] | tuple[str, ...] = ()) -> Person:
    """Everything that identifies the person, read before anything is erased."""
    found = {normalize_handle(h) for h in handles if normalize_handle(h)}
    emails: tuple[str, ...] = ()
    pseudonym = ""
    if contact is not None:
        found |= set(ContactHandle.objects.filter(contact=contact).values_list("handle", flat=True))
        emails = (contact.email,) if contact.email else ()
        pseudonym = contact_pseudonym(contact=contact)
    return Person(
        contact_id=contact.pk if contact else None,
        pseudonym=pseudonym,
        emails=emails,
        handles=tuple(sorted(found)),
    )


def normalize_handle(handle: str) -> str:
    return handle.strip().lstrip("@").lower()


def dsr_list() -> QuerySet[DataSubjectRequest]:
    return (
        DataSubjectRequest.objects.select_related("contact")
        .prefetch_related("steps")
        .order_by("-created_at", "-id")
    )


def dsr_get(*, dsr_id: int) -> DataSubjectRequest:
    dsr = dsr_list().filter(pk=dsr_id).first()
    if dsr is None:
        raise Http404("No such request")
    return dsr


def retention_policy() -> RetentionPolicy:
    policy = RetentionPolicy.objects.order_by("pk").first()
    return policy if policy is not None else RetentionPolicy(periods={})


@dataclass(frozen=True)
class RetentionLine:
    kind: str
    label: str
    days: int | None
    cutoff: datetime | None
    would_remove: int


def retention_dry_run(*, now: datetime | None = None) -> list[RetentionLine]:
    """What enforcing the policy now would remove, per kind (nothing is removed)."""
    now = now or timezone.now()
    periods = retention_policy().periods
    lines = []
    for kind in retention_kinds():
        days = periods.get(kind.kind)
        cutoff = now - timedelta(days=days) if days else None
        lines.append(RetentionLine(kind.kind, kind.label, days, cutoff, kind.count(cutoff) if cutoff else 0))
    return lines


def consent_entries_resolve(*, items: list[dict[str, Any]]) -> list[tuple[Contact, Purpose, Notice | None]]:
    """Contacts, purposes and notice versions named by a batch, in three queries; anything that does
    not exist is a ValidationError naming the item (`events.<index>.<field>`)."""
    contacts = Contact.objects.in_bulk({item["contact"] for item in items})
    purposes = {p.code: p for p in Purpose.objects.filter(code__in={item["purpose"] for item in items})}
    wanted = {(item["purpose"], item["notice_version"]) for item in items if item.get("notice_version")}
    notices = {
        (n.purpose.code, n.version): n
        for n in Notice.objects.select_related("purpose").filter(
            purpose__code__in={code for code, _ in wanted}, version__in={v for _, v in wanted}
        )
    }
    errors: dict[str, str] = {}
    resolved = []
    for index, item in enumerate(items):
        contact = contacts.get(item["contact"])
        purpose = purposes.get(item["purpose"])
        notice = (
            notices.get((item["purpose"], item["notice_version"])) if item.get("notice_version") else None
        )
        if contact is None:
            errors[f"events.{index}.contact"] = "No such contact."
        if purpose is None:
            errors[f"events.{index}.purpose"] = f"No purpose with the code '{item['purpose']}'."
        if item.get("notice_version") and notice is None:
            errors[f"events.{index}.notice_version"] = "No such version of this purpose's notice."
        if contact is not None and purpose is not None:
            resolved.append((contact, purpose, notice))
    if errors:
        raise ValidationError(errors)
    return resolved


def model_version_list(*, kind: str | None = None, status: str | None = None) -> QuerySet[ModelVersion]:
    versions = ModelVersion.objects.all()
    if kind:
        versions = versions.filter(kind=kind)
    if status:
        versions = versions.filter(status=status)
    return versions


def model_version_get(*, version_id: int) -> ModelVersion:
    version = ModelVersion.objects.filter(pk=version_id).first()
    if version is None:
        raise Http404("No such model version.")
    return version


def active_model_version(*, kind: str) -> ModelVersion | None:
    return ModelVersion.objects.filter(kind=kind, status=ModelStatus.ACTIVE).first()


def model_version_artifact(*, version: ModelVersion) -> bytes:
    """The artifact's bytes, checked against the digest taken at registration."""
    with version.artifact.open("rb") as stream:
        data = stream.read()
    if hashlib.sha256(data).hexdigest() != version.artifact_sha256:
        raise ValueError(f"The artifact of {version} does not match its recorded digest.")
    return data


def fairness_settings_get() -> FairnessSettings:
    settings, _ = FairnessSettings.objects.get_or_create(pk=1)
    return settings
