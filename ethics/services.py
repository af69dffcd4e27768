"""Writes of ethics: purposes and notices, the consent ledger, data-subject requests, retention.

Every write owns its transaction and queues its tasks on commit. The ledger is appended one event at
a time under a per-tenant advisory lock: the chain's head is read and extended while no other
append can, so two concurrent appends never both extend the same head (a fork).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import secrets
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.core.mail import send_mail
from django.db import IntegrityError, connection, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from ethics import cards, fairness, ledger, selectors
from ethics.models import (
    AttributeSource,
    ConsentAction,
    ConsentEvent,
    ConsentEvidence,
    ConsentInterval,
    ConsentSource,
    DataSubjectRequest,
    DsrKind,
    DsrStatus,
    DsrStep,
    FairnessSettings,
    LawfulBasis,
    LedgerCheck,
    LedgerCheckStatus,
    LedgerKey,
    ModelStatus,
    ModelVersion,
    Notice,
    Purpose,
    RetentionPolicy,
    VerificationMethod,
    kind_validator,
)
from ethics.personal_data import person_erase, person_export
from ethics.retention import retention_kind, retention_kinds
from ethics.selectors import fairness_settings_get
from personalization.models import Contact
from tenants.access import Access, Capability
from tenants.http import ClientInfo
from tenants.models import AuditAction, User
from tenants.services import audit_record
from tenants.tasking import current_schema

logger = logging.getLogger(__name__)

DSR_DUE_DAYS = 30  # GDPR Art. 12(3): one month
CODE_TTL = timedelta(minutes=30)
CODE_MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class Evidence:
    """How a consent was given: recorded beside the event, digested into it."""

    ip_address: str | None = None
    user_agent: str = ""
    form_id: str = ""


@dataclass(frozen=True)
class EventFields:
    """The columns of an event that its hash covers, besides the purpose and notice."""

    seq: int
    pseudonym: str
    action: str
    lawful_basis: str
    source: str
    actor: str
    occurred_at: datetime
    evidence_digest: str


# Purposes and notices -----------------------------------------------------------------------------


def purpose_create(
    *, code: str, name: str, description: str = "", notice_text: str, actor_id: int | None = None
) -> Purpose:
    taken = ValidationError({"code": "A purpose with this code exists already."})
    with transaction.atomic():
        if Purpose.objects.filter(code=code).exists():
            raise taken
        try:
            with transaction.atomic():  # a concurrent create of the same code loses here, cleanly
                purpose = Purpose.objects.create(code=code, name=name, description=description)
        except IntegrityError:
            raise taken from None
        notice_publish(purpose=purpose, text=notice_text, actor_id=actor_id)
    return purpose


def purpose_update(
    *,
    purpose: Purpose,
    name: str | None = None,
    description: str | None = None,
    is_active: bool | None = None,
) -> Purpose:
    """Name, description and whether new grants are taken; the code never changes (the ledger names it)."""
    if name is not None:
        purpose.name = name
    if description is not None:
        purpose.description = description
    if is_active is not None:
        purpose.is_active = is_active
    purpose.save(update_fields=["name", "description", "is_active"])
    return purpose


def notice_publish(*, purpose: Purpose, text: str, actor_id: int | None = None) -> Notice:
    """A new version of the purpose's notice; earlier versions stay exactly as they were shown."""
    text = text.strip()
    if not text:
        raise ValidationError({"text": "A notice needs its text."})
    with transaction.atomic():
        Purpose.objects.select_for_update().filter(pk=purpose.pk).first()
        latest = selectors.notice_current(purpose=purpose)
        return Notice.objects.create(
            purpose=purpose,
            version=(latest.version + 1) if latest else 1,
            text=text,
            text_sha256=hashlib.sha256(text.encode()).hexdigest(),
            created_by_id=actor_id,
        )


# The consent ledger -------------------------------------------------------------------------------


def _ledger_lock() -> None:
    # Keyed by schema: tenants' ledgers are separate chains and never wait for each other.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"ethics.ledger:{current_schema()}"])


def _ledger_secret() -> str:
    """The tenant's pseudonym key, made on first use (under the ledger lock, so only once)."""
    secret = selectors.ledger_secret()
    if secret is None:
        secret = LedgerKey.objects.create(secret=secrets.token_hex(32)).secret
    return secret


def consent_record(
    *,
    contact: Contact,
    purpose: Purpose,
    action: str,
    source: str,
    actor: str,
    lawful_basis: str = LawfulBasis.CONSENT,
    notice: Notice | None = None,
    evidence: Evidence | None = None,
) -> ConsentEvent:
    """Append one grant or withdrawal to the ledger and update the interval table with it, in one
    transaction. A grant names the notice shown (the purpose's current one by default); a consent
    grant without any notice is refused."""
    entry = ConsentEntry(contact, purpose, action, lawful_basis, notice, evidence)
    return consent_record_many(entries=[entry], source=source, actor=actor)[0]


@dataclass(frozen=True)
class ConsentEntry:
    contact: Contact
    purpose: Purpose
    action: str
    lawful_basis: str = LawfulBasis.CONSENT
    notice: Notice | None = None
    evidence: Evidence | None = None


def _entry_errors(entry: ConsentEntry, source: str, notices: dict[int, Notice | None]) -> dict[str, str]:
    if entry.action not in ConsentAction.values:
        return {"action": f"Must be one of {', '.join(ConsentAction.values)}."}
    if source not in ConsentSource.values:
        return {"source": f"Must be one of {', '.join(ConsentSource.values)}."}
    if entry.lawful_basis not in LawfulBasis.values:
        return {"lawful_basis": f"Must be one of {', '.join(LawfulBasis.values)}."}
    if entry.notice is not None and entry.notice.purpose_id != entry.purpose.pk:
        return {"notice": "This notice belongs to another purpose."}
    if entry.action == ConsentAction.GRANT:
        if not entry.purpose.is_active:
            return {"purpose": "This purpose is retired and takes no new grants."}
        if (
            entry.notice is None
            and notices.get(entry.purpose.pk) is None
            and entry.lawful_basis == LawfulBasis.CONSENT
        ):
            return {"notice": "Consent needs a notice text the person was shown."}
    return {}


def consent_record_many(*, entries: Sequence[ConsentEntry], source: str, actor: str) -> list[ConsentEvent]:
    """Append events in order, in one transaction under one lock (an import of thousands costs one
    transaction, not thousands). The rules are those of `consent_record`; one invalid entry refuses
    the whole batch, naming its index when there is more than one."""
    notices: dict[int, Notice | None] = {}
    for entry in entries:
        if entry.action == ConsentAction.GRANT and entry.notice is None and entry.purpose.pk not in notices:
            notices[entry.purpose.pk] = selectors.notice_current(purpose=entry.purpose)

    def refuse(index: int, errors: dict[str, str]) -> ValidationError:
        prefix = f"entries[{index}]." if len(entries) > 1 else ""
        return ValidationError({f"{prefix}{field}": message for field, message in errors.items()})

    for index, entry in enumerate(entries):
        if errors := _entry_errors(entry, source, notices):
            raise refuse(index, errors)
    with transaction.atomic():
        _ledger_lock()
        pairs = {(e.contact.pk, e.purpose.pk) for e in entries}
        open_intervals: dict[tuple[int, int], ConsentInterval] = {
            (i.contact_id, i.purpose_id): i
            for i in ConsentInterval.objects.select_for_update().filter(
                contact_id__in={c for c, _ in pairs},
                purpose_id__in={p for _, p in pairs},
                granted_until__isnull=True,
            )
        }
        secret = _ledger_secret()
        head = ConsentEvent.objects.order_by("-seq").values("seq", "hash").first()
        seq = head["seq"] if head else 0
        prev_hash = head["hash"] if head else ledger.GENESIS
        events: list[ConsentEvent] = []
        evidence_rows: list[ConsentEvidence] = []
        created: list[ConsentInterval] = []
        closed: list[ConsentInterval] = []
        withdrawn: list[tuple[int, str]] = []
        for index, entry in enumerate(entries):
            key = (entry.contact.pk, entry.purpose.pk)
            current = open_intervals.get(key)
            if entry.action == ConsentAction.WITHDRAW and current is None:
                raise refuse(index, {"action": "There is no consent for this purpose to withdraw."})
            notice = entry.notice or (
                notices.get(entry.purpose.pk) if entry.action == ConsentAction.GRANT else None
            )
            evidence = entry.evidence or Evidence()
            raw_evidence = {
                "ip_address": evidence.ip_address,
                "user_agent": evidence.user_agent,
                "form_id": evidence.form_id,
            }
            salt = secrets.token_hex(16)
            seq += 1
            fields = EventFields(
                seq=seq,
                pseudonym=ledger.pseudonym(secret, str(entry.contact.uuid)),
                action=entry.action,
                lawful_basis=entry.lawful_basis,
                source=source,
                actor=actor[:100],
                occurred_at=timezone.now(),
                evidence_digest=ledger.evidence_digest(salt, raw_evidence),
            )
            payload = ledger.event_payload(
                purpose=entry.purpose.code, notice=selectors.notice_ref(notice), **asdict(fields)
            )
            prev = prev_hash
            prev_hash = ledger.chain_hash(prev, payload)
            event = ConsentEvent(
                purpose=entry.purpose, notice=notice, prev_hash=prev, hash=prev_hash, **asdict(fields)
            )
            events.append(event)
            evidence_rows.append(
                ConsentEvidence(
                    event=event,
                    contact=entry.contact,
                    salt=salt,
                    ip_address=evidence.ip_address,
                    user_agent=evidence.user_agent[:300],
                    form_id=evidence.form_id[:100],
                )
            )
            if entry.action == ConsentAction.GRANT and current is None:
                interval = ConsentInterval(
                    contact=entry.contact,
                    purpose=entry.purpose,
                    lawful_basis=entry.lawful_basis,
                    granted_from=fields.occurred_at,
                    grant_event=event,
                )
                open_intervals[key] = interval
                created.append(interval)
            elif entry.action == ConsentAction.WITHDRAW and current is not None:
                current.granted_until = fields.occurred_at
                current.withdraw_event = event
                del open_intervals[key]
                if current.pk is not None:
                    closed.append(current)
                withdrawn.append((entry.contact.pk, entry.purpose.code))
        ConsentEvent.objects.bulk_create(events)
        ConsentEvidence.objects.bulk_create(evidence_rows)
        ConsentInterval.objects.bulk_create(created)
        ConsentInterval.objects.bulk_update(closed, ["granted_until", "withdraw_event"])
        for contact_id, code in withdrawn:
            _queue_withdrawal(contact_id=contact_id, purpose=code)
    return events


def _queue_withdrawal(*, contact_id: int, purpose: str) -> None:
    from ethics.tasks import consent_withdrawn

    def send() -> None:
        # The withdrawal is committed and the gate already honours it; a broker that is down must
        # not turn the person's click into an error page. The follow-up is logged for a retry.
        try:
            consent_withdrawn.delay(contact_id, purpose)
        except Exception:
            logger.exception("withdrawal follow-up for contact %s (%s) was not queued", contact_id, purpose)

    transaction.on_commit(send)


def consent_withdrawal_propagate(*, contact_id: int, purpose: str) -> dict[str, int]:
    """Call every registered withdrawal handler (segments, pending sends) for one withdrawal. A
    handler's failure is logged and re-raised after the others ran, so the task retries."""
    from ethics.withdrawal import withdrawal_handlers

    dropped: dict[str, int] = {}
    failed: Exception | None = None
    for name, handler in withdrawal_handlers().items():
        try:
            dropped[name] = handler(contact_id, purpose)
        except Exception as error:
            logger.exception("withdrawal handler %s failed", name)
            failed = error
    if failed is not None:
        raise failed
    return dropped


def ledger_check_request(*, actor: User | None) -> LedgerCheck:
    """Queue a verification of the ledger's hash chain (a worker runs it: `ledger_check_run`).
    While one is still waiting, asking again joins that one."""
    from ethics.tasks import ledger_check

    waiting = LedgerCheck.objects.filter(status=LedgerCheckStatus.QUEUED).first()
    if waiting is not None:
        return waiting
    try:
        with transaction.atomic():
            check = LedgerCheck.objects.create(requested_by_id=actor.pk if actor is not None else None)
    except IntegrityError:  # another request queued one between the read and the insert
        return LedgerCheck.objects.get(status=LedgerCheckStatus.QUEUED)
    transaction.on_commit(lambda: ledger_check.delay(check.pk))
    return check


def ledger_check_run(*, check_id: int) -> LedgerCheck:
    """Run a queued check and store its outcome. A check found `running` was taken by a worker that
    died: verification only reads, so it simply runs again."""
    with transaction.atomic():
        check = LedgerCheck.objects.select_for_update().get(pk=check_id)
        if check.status not in (LedgerCheckStatus.QUEUED, LedgerCheckStatus.RUNNING):
            return check
        check.status = LedgerCheckStatus.RUNNING
        check.started_at = timezone.now()
        check.save(update_fields=["status", "started_at"])
    try:
        result = selectors.consent_verify()
    except Exception as error:
        check.status, check.reason, check.finished_at = LedgerCheckStatus.FAILED, str(error), timezone.now()
        check.save(update_fields=["status", "reason", "finished_at"])
        raise
    check.status = LedgerCheckStatus.INTACT if result.ok else LedgerCheckStatus.BROKEN
    check.checked, check.head_hash = result.checked, result.head_hash
    check.broken_seq, check.broken_event_id, check.reason = (
        result.broken_seq,
        result.broken_event_id,
        result.reason,
    )
    check.finished_at = timezone.now()
    check.save()
    if not result.ok:
        logger.error(
            "consent ledger of %s broken at #%s: %s", current_schema(), result.broken_seq, result.reason
        )
    return check


# Preference links -------------------------------------------------------------------------------


PREFERENCE_MAX_AGE = timedelta(days=90)


def _preference_salt() -> str:
    # The schema in the salt: a link made for tenant A does not open on tenant B's host.
    return f"ethics.preferences:{current_schema()}"


def preference_token(*, contact: Contact) -> str:
    """A signed, unguessable token naming the contact's random uuid (Django's signing: HMAC-SHA256,
    compared in constant time). It expires after 90 days; a new one can be sent at any time."""
    from django.core import signing

    return signing.dumps(str(contact.uuid), salt=_preference_salt(), compress=False)


def preference_link_send(*, contact: Contact, url: str) -> None:
    """Email the contact their preference link (a new one can be sent whenever one has expired)."""
    if not contact.email:
        raise ValidationError({"send": "This contact has no email address to send the link to."})
    email = contact.email
    transaction.on_commit(
        lambda: send_mail(
            "Your communication preferences",
            "You can see and change what you have agreed to, purpose by purpose, on this page:\n\n"
            f"{url}\n\nThe link is personal and works for 90 days.",
            settings.DEFAULT_FROM_EMAIL,
            [email],
        )
    )


def preference_contact(*, token: str) -> Contact | None:
    """The contact a token names, or None for a bad, expired, foreign or erased one."""
    from django.core import signing

    try:
        value = signing.loads(token, salt=_preference_salt(), max_age=PREFERENCE_MAX_AGE)
    except signing.BadSignature:
        return None
    return Contact.objects.filter(uuid=value).first() if isinstance(value, str) else None


# Data-subject requests --------------------------------------------------------------------------


def _step(dsr: DataSubjectRequest, *, actor: str, action: str, **detail: Any) -> None:
    DsrStep.objects.create(request=dsr, actor=actor, action=action, detail=detail)


def _request_digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class DsrCreated:
    dsr: DataSubjectRequest
    replayed: bool


def dsr_create(
    *,
    kind: str,
    actor: str,
    actor_id: int | None = None,
    contact: Contact | None = None,
    subject_handles: list[str] | None = None,
    changes: dict[str, Any] | None = None,
    due_days: int = DSR_DUE_DAYS,
    idempotency_key: str = "",
) -> DsrCreated:
    """Open a request. With an Idempotency-Key, the same request again returns the first one
    (`replayed`), a different request under the same key is refused (RELIABILITY 31)."""
    handles = sorted(
        {selectors.normalize_handle(h) for h in subject_handles or [] if selectors.normalize_handle(h)}
    )
    if contact is None and not handles:
        raise ValidationError({"contact": "Name the contact, or the handles the person uses."})
    if kind == DsrKind.RECTIFICATION and (contact is None or not changes):
        raise ValidationError({"changes": "Rectification needs a contact and the corrected values."})
    if kind == DsrKind.RESTRICTION and contact is None:
        raise ValidationError({"contact": "Restriction applies to a contact."})
    body = {
        "kind": kind,
        "contact": contact.pk if contact else None,
        "handles": handles,
        "changes": changes or {},
    }
    digest = _request_digest(body)
    if idempotency_key:
        existing = DataSubjectRequest.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return _replay(existing, digest)
    now = timezone.now()
    try:
        with transaction.atomic():
            dsr = DataSubjectRequest.objects.create(
                kind=kind,
                contact=contact,
                subject_handles=handles,
                changes=changes or {},
                received_at=now,
                due_at=now + timedelta(days=due_days),
                created_by_id=actor_id,
                idempotency_key=idempotency_key or None,
                request_digest=digest,
            )
            _step(dsr, actor=actor, action="received", kind=kind, due_at=dsr.due_at.isoformat())
    except IntegrityError:
        # A concurrent request with the same key won the insert: answer as a replay of it.
        existing = DataSubjectRequest.objects.filter(idempotency_key=idempotency_key).first()
        if existing is None:
            raise
        return _replay(existing, digest)
    return DsrCreated(dsr, replayed=False)


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before with a different request."""


def _replay(existing: DataSubjectRequest, digest: str) -> DsrCreated:
    if not constant_time_compare(existing.request_digest, digest):
        raise IdempotencyConflict("This Idempotency-Key was used for a different request.")
    return DsrCreated(existing, replayed=True)


def dsr_send_code(*, dsr: DataSubjectRequest, actor: str) -> DataSubjectRequest:
    """Email a one-time code to the contact's address on file; the person reads it back to the
    admin (or the API), proving they control the address."""
    if dsr.status not in (DsrStatus.RECEIVED, DsrStatus.VERIFYING):
        raise ValidationError({"status": "This request's identity is already settled."})
    if dsr.contact is None or not dsr.contact.email:
        raise ValidationError({"contact": "There is no email address on file to send a code to."})
    code = f"{secrets.randbelow(10**8):08d}"
    with transaction.atomic():
        dsr.code_digest = hashlib.sha256(code.encode()).hexdigest()
        dsr.code_expires_at = timezone.now() + CODE_TTL
        dsr.code_attempts = 0
        dsr.status = DsrStatus.VERIFYING
        dsr.save(update_fields=["code_digest", "code_expires_at", "code_attempts", "status"])
        _step(dsr, actor=actor, action="code_sent", to="the contact's address on file")
        email = dsr.contact.email
        transaction.on_commit(
            lambda: send_mail(
                "Your verification code",
                f"Someone asked to {dsr.get_kind_display().lower()} your personal data. If it was you, "
                f"give this code to the person handling your request: {code}\n\n"
                "It expires in 30 minutes. If it was not you, ignore this message.",
                settings.DEFAULT_FROM_EMAIL,
                [email],
            )
        )
    return dsr


def dsr_verify_code(*, dsr: DataSubjectRequest, code: str, actor: str) -> DataSubjectRequest:
    with transaction.atomic():
        dsr = DataSubjectRequest.objects.select_for_update().get(pk=dsr.pk)
        if dsr.status != DsrStatus.VERIFYING or not dsr.code_digest:
            raise ValidationError({"code": "No code was sent for this request."})
        if dsr.code_attempts >= CODE_MAX_ATTEMPTS:
            raise ValidationError({"code": "Too many wrong codes: send a new one."})
        if dsr.code_expires_at is None or dsr.code_expires_at < timezone.now():
            raise ValidationError({"code": "The code has expired: send a new one."})
        given = hashlib.sha256(code.strip().encode()).hexdigest()
        if not constant_time_compare(given, dsr.code_digest):
            dsr.code_attempts += 1
            dsr.save(update_fields=["code_attempts"])
            _step(dsr, actor=actor, action="code_rejected", attempts=dsr.code_attempts)
            wrong = True
        else:
            wrong = False
            dsr.status = DsrStatus.VERIFIED
            dsr.verified_at = timezone.now()
            dsr.verification_method = VerificationMethod.EMAIL_CODE
            dsr.code_digest = ""
            dsr.save(update_fields=["status", "verified_at", "verification_method", "code_digest"])
            _step(dsr, actor=actor, action="verified", method=VerificationMethod.EMAIL_CODE)
    if wrong:
        raise ValidationError({"code": "That code is not right."})
    return dsr


def dsr_attest(*, dsr: DataSubjectRequest, method: str, note: str, actor: str) -> DataSubjectRequest:
    """An admin attests they verified the person another way (a signed letter, a call back to a
    known number): how, and a note, go in the audit trail."""
    if dsr.status not in (DsrStatus.RECEIVED, DsrStatus.VERIFYING):
        raise ValidationError({"status": "This request's identity is already settled."})
    if not note.strip() or not method.strip():
        raise ValidationError({"note": "Say how the person's identity was verified."})
    with transaction.atomic():
        dsr.status = DsrStatus.VERIFIED
        dsr.verified_at = timezone.now()
        dsr.verification_method = VerificationMethod.ATTESTATION
        dsr.verification_note = f"{method.strip()}: {note.strip()}"
        dsr.code_digest = ""
        dsr.save(
            update_fields=["status", "verified_at", "verification_method", "verification_note", "code_digest"]
        )
        _step(dsr, actor=actor, action="verified", method=VerificationMethod.ATTESTATION, how=method.strip())
    return dsr


def _queue_dsr(task: Any, dsr_id: int) -> None:
    """A request whose work could not be queued (broker down) goes back to failed, so it can be
    run again, instead of staying `running` with nothing behind it."""
    try:
        task.delay(dsr_id)
    except Exception as error:
        logger.exception("data-subject request %s was not queued", dsr_id)
        dsr_failed(dsr_id=dsr_id, error=f"Could not be queued ({type(error).__name__}); run it again.")


def dsr_run(*, dsr: DataSubjectRequest, actor: str) -> DataSubjectRequest:
    """Carry out a verified request: exports and erasures on a worker, rectification and
    restriction at once."""
    from ethics.tasks import dsr_erase, dsr_export
    from personalization.records import contact_update

    with transaction.atomic():
        # Locked: two "run" clicks at once start the work once.
        dsr = (
            DataSubjectRequest.objects.select_for_update(of=("self",))
            .select_related("contact")
            .get(pk=dsr.pk)
        )
        if dsr.status not in (DsrStatus.VERIFIED, DsrStatus.FAILED):
            raise ValidationError({"status": "Verify the person's identity before running the request."})
        dsr.status = DsrStatus.RUNNING
        dsr.error = ""
        dsr.save(update_fields=["status", "error"])
        _step(dsr, actor=actor, action="run")
        if dsr.kind in (DsrKind.ACCESS, DsrKind.ERASURE):
            task = dsr_export if dsr.kind == DsrKind.ACCESS else dsr_erase
            transaction.on_commit(lambda: _queue_dsr(task, dsr.pk))
        else:
            if dsr.contact is None:
                raise ValidationError({"contact": "The contact of this request no longer exists."})
            if dsr.kind == DsrKind.RECTIFICATION:
                contact_update(contact=dsr.contact, **dsr.changes)
                result: dict[str, Any] = {"rectified": sorted(dsr.changes)}
            else:
                contact_update(contact=dsr.contact, is_restricted=True)
                result = {"restricted": True}
            _complete(dsr, actor=actor, result=result)
    return dsr


def _complete(dsr: DataSubjectRequest, *, actor: str, result: dict[str, Any]) -> None:
    dsr.status = DsrStatus.COMPLETED
    dsr.completed_at = timezone.now()
    dsr.result = result
    dsr.save(update_fields=["status", "completed_at", "result"])
    _step(dsr, actor=actor, action="completed", **result)


def dsr_failed(*, dsr_id: int, error: str) -> None:
    with transaction.atomic():
        dsr = DataSubjectRequest.objects.select_for_update().get(pk=dsr_id)
        dsr.status = DsrStatus.FAILED
        dsr.error = error[:2000]
        dsr.save(update_fields=["status", "error"])
        _step(dsr, actor="system", action="failed")


def _csv_bytes(rows: Sequence[Mapping[str, Any]]) -> bytes:
    import csv

    out = io.StringIO()
    columns = sorted({key for row in rows for key in row})
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    for row in rows:
        writer.writerow({key: _csv_cell(row.get(key)) for key in columns})
    return out.getvalue().encode()


def _csv_cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str) if value is not None else ""
    # Spreadsheet formula injection (RELIABILITY 18): a cell that starts like a formula is quoted.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def dsr_export_execute(*, dsr_id: int) -> DataSubjectRequest:
    """Gather everything every provider holds about the person into one zip: `export.json` (the
    whole bundle) and one CSV per table, stored under the tenant's own media folder."""
    dsr = DataSubjectRequest.objects.select_related("contact").get(pk=dsr_id)
    if dsr.status != DsrStatus.RUNNING or dsr.kind != DsrKind.ACCESS:
        return dsr  # a redelivered task after completion does nothing
    person = selectors.person_for(contact=dsr.contact, handles=dsr.subject_handles)
    bundle = person_export(person=person)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        document = {"request": dsr.pk, "generated_at": timezone.now().isoformat(), "tables": bundle}
        archive.writestr("export.json", json.dumps(document, indent=2, default=str, ensure_ascii=False))
        for table, rows in bundle.items():
            archive.writestr(f"csv/{table}.csv", _csv_bytes(rows))
    with transaction.atomic():
        if dsr.export_file:
            dsr.export_file.delete(save=False)
        dsr.export_file.save(
            f"export-{dsr.pk}-{secrets.token_hex(8)}.zip", ContentFile(buffer.getvalue()), save=False
        )
        dsr.save(update_fields=["export_file"])
        _complete(
            dsr, actor="system", result={"tables": {table: len(rows) for table, rows in bundle.items()}}
        )
    return dsr


def dsr_erase_execute(*, dsr_id: int) -> DataSubjectRequest:
    """Erase the person everywhere every provider knows, delete earlier exports about them, and
    keep the request (without identity) as the record that it was done. The ledger keeps its
    pseudonymous events: every hash still verifies."""
    dsr = DataSubjectRequest.objects.select_related("contact").get(pk=dsr_id)
    if dsr.status != DsrStatus.RUNNING or dsr.kind != DsrKind.ERASURE:
        return dsr
    person = selectors.person_for(contact=dsr.contact, handles=dsr.subject_handles)
    with transaction.atomic():
        exports = 0
        if person.contact_id is not None:
            for other in DataSubjectRequest.objects.filter(contact_id=person.contact_id).exclude(
                export_file=""
            ):
                other.export_file.delete(save=False)
                other.save(update_fields=["export_file"])
                exports += 1
        counts = person_erase(person=person)
        counts["ethics.dsr_exports"] = exports
        # Models trained before the erasure may have learnt from this person (GDPR Art. 17, 19).
        counts["ethics.models_flagged"] = model_versions_flag_for_retraining(
            reason=f"Erasure request #{dsr.pk}: a person was removed from the data"
        )
        dsr.refresh_from_db()
        dsr.subject_handles = []
        dsr.changes = {}
        dsr.save(update_fields=["subject_handles", "changes"])
        _complete(dsr, actor="system", result={"erased": counts})
    return dsr


# Retention --------------------------------------------------------------------------------------


def retention_policy_set(*, periods: dict[str, int | None], actor_id: int | None = None) -> RetentionPolicy:
    known = {kind.kind for kind in retention_kinds()}
    errors = {}
    for kind, days in periods.items():
        if kind not in known:
            errors[kind] = f"Unknown kind; known: {', '.join(sorted(known))}."
        elif days is not None and (
            not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 36500
        ):
            errors[kind] = "Days must be a whole number from 1 to 36500, or null to keep forever."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        policy = RetentionPolicy.objects.select_for_update().order_by("pk").first() or RetentionPolicy()
        merged = {**policy.periods, **periods}
        policy.periods = {kind: days for kind, days in merged.items() if days is not None}
        policy.updated_at = timezone.now()
        policy.updated_by_id = actor_id
        policy.save()
    return policy


def retention_enforce(*, now: datetime | None = None) -> dict[str, int]:
    """Remove what is older than each kind's period. Each kind is purged in its own transaction,
    so a failure in one leaves the others done."""
    now = now or timezone.now()
    policy = selectors.retention_policy()
    removed: dict[str, int] = {}
    for kind_name, days in policy.periods.items():
        kind = retention_kind(kind_name)
        if kind is None or not days:
            continue
        with transaction.atomic():
            removed[kind_name] = kind.purge(now - timedelta(days=days))
    if policy.pk is not None:
        policy.last_run_at = now
        policy.last_run_result = removed
        policy.save(update_fields=["last_run_at", "last_run_result"])
    return removed


SYSTEM = "system"

MIN_OVERRIDE_REASON = 20

MAX_ARTIFACT_BYTES = 512 * 1024 * 1024

ACTIVATABLE = (ModelStatus.AUDITED, ModelStatus.REJECTED, ModelStatus.RETIRED)


def _actor(user: User | None) -> tuple[str, str]:
    return (str(user.pk), user.email) if user is not None else (SYSTEM, SYSTEM)


def _card_refresh(version: ModelVersion) -> None:
    version.card = cards.card_build(version)
    version.save(update_fields=["card"])


def _lock_kind(kind: str) -> None:
    """Serialise writers of one kind in this schema (version numbers, the active swap)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s))",
            [f"{connection.schema_name}:ethics.model:{kind}"],  # type: ignore[attr-defined]
        )


def model_version_register(
    *,
    kind: str,
    artifact: bytes,
    trained_by: User | None,
    artifact_name: str = "model.bin",
    purpose: str = "",
    algorithm: str = "",
    training_window: tuple[datetime, datetime] | None = None,
    training_rows: int = 0,
    training_rows_excluded: int = 0,
    features: Sequence[str] = (),
    metrics: Mapping[str, float] | None = None,
    limitations: Sequence[str] = (),
) -> ModelVersion:
    """Store a trained version (status `trained`) with the next version number of its kind. The
    artifact is bytes the ML code serialised itself; it lands in the tenant's storage under
    `<schema>/models/<kind>/<version>/`. `trained_by` None means the system trained it."""
    kind_validator(kind)
    if not artifact:
        raise ValidationError({"artifact": ["The artifact is empty."]})
    if len(artifact) > MAX_ARTIFACT_BYTES:
        raise ValidationError({"artifact": [f"The artifact is larger than {MAX_ARTIFACT_BYTES} bytes."]})
    if training_window is not None:
        start, end = training_window
        if timezone.is_naive(start) or timezone.is_naive(end):
            raise ValidationError({"training_window": ["Give timezone-aware datetimes."]})
        if start > end:
            raise ValidationError({"training_window": ["The window starts after it ends."]})
    bad_metrics = [name for name, value in (metrics or {}).items() if not isinstance(value, int | float)]
    if bad_metrics:
        raise ValidationError({"metrics": [f"Metrics must be numbers: {', '.join(bad_metrics)}."]})
    actor, label = _actor(trained_by)
    with transaction.atomic():
        _lock_kind(kind)
        last = ModelVersion.objects.filter(kind=kind).aggregate(last=Max("version"))["last"] or 0
        version = ModelVersion(
            kind=kind,
            version=last + 1,
            artifact_sha256=hashlib.sha256(artifact).hexdigest(),
            artifact_bytes=len(artifact),
            purpose=purpose,
            algorithm=algorithm,
            training_window_start=training_window[0] if training_window else None,
            training_window_end=training_window[1] if training_window else None,
            training_rows=training_rows,
            training_rows_excluded=training_rows_excluded,
            features=list(features),
            metrics=dict(metrics or {}),
            limitations=list(limitations),
            trained_by=actor,
            trained_by_label=label,
        )
        version.artifact.save(artifact_name, ContentFile(artifact), save=False)
        version.save()
        _card_refresh(version)
    return version


def thresholds_for(settings: FairnessSettings) -> fairness.Thresholds:
    return fairness.Thresholds(
        min_dp_ratio=settings.min_dp_ratio,
        max_eo_difference=settings.max_eo_difference,
        min_group_size=settings.min_group_size,
        max_ci_width=settings.max_ci_width,
        resamples=settings.bootstrap_resamples,
    )


def sensitive_values_for(
    *, rows: Iterable[Mapping[str, Any]], at: datetime | None = None
) -> dict[str, list[Any]]:
    """The declared sensitive attributes of each row, for `model_version_audit`. A row is a contact
    as a mapping: its fields, and its free-form attributes under "attributes". Birth years become
    age bands (the tenant's bounds) at `at` (now by default); unknown values stay None."""
    settings = fairness_settings_get()
    year = (at or timezone.now()).year
    out: dict[str, list[Any]] = {spec["name"]: [] for spec in settings.sensitive_attributes}
    for row in rows:
        attributes = row.get("attributes") or {}
        for spec in settings.sensitive_attributes:
            if spec["source"] == AttributeSource.CONTACT_FIELD:
                value = row.get(spec["key"])
            else:
                value = attributes.get(spec["key"])
            if spec["source"] == AttributeSource.BIRTH_YEAR:
                born = value if isinstance(value, int) and 1900 <= value <= year else None
                value = fairness.age_band(year - born, settings.age_band_bounds) if born else None
            out[spec["name"]].append(value)
    return out


def model_version_audit(
    *,
    version: ModelVersion,
    sensitive: Mapping[str, Sequence[Any]],
    y_pred: Sequence[int] | None = None,
    scores: Sequence[float] | None = None,
    threshold: float | None = None,
    top_fraction: float | None = None,
    y_true: Sequence[int] | None = None,
) -> ModelVersion:
    """Audit a version's held-out decisions against the tenant's settings: `y_pred` (0/1), or
    `scores` with a `threshold` or a `top_fraction` (for regression models: the rows they would
    target). `sensitive` must give every attribute the tenant declares (None where unknown).
    A pass makes the version `audited`, a failure `rejected`."""
    if version.status == ModelStatus.ACTIVE:
        raise ValidationError("An active version cannot be audited again: activate another one first.")
    settings = fairness_settings_get()
    declared = [spec["name"] for spec in settings.sensitive_attributes]
    missing = [name for name in declared if name not in sensitive]
    extra = [name for name in sensitive if name not in declared]
    if missing or extra:
        problems = []
        if missing:
            problems.append(f"declared but not given: {', '.join(missing)}")
        if extra:
            problems.append(f"given but not declared: {', '.join(extra)}")
        raise ValidationError({"sensitive": [f"Sensitive attributes {'; '.join(problems)}."]})
    decisions: Sequence[int] | np.ndarray
    try:
        if y_pred is not None:
            if scores is not None:
                raise fairness.FairnessInputError("Give y_pred or scores, not both.")
            decisions = y_pred
            rule = "binary decision"
        elif scores is not None:
            decisions = fairness.decisions_from_scores(scores, threshold=threshold, top_fraction=top_fraction)
            rule = f"score >= {threshold}" if threshold is not None else f"top {top_fraction:.0%} of scores"
        else:
            raise fairness.FairnessInputError("Give y_pred, or scores with a threshold or a top_fraction.")
        report = fairness.audit(
            y_pred=decisions,
            y_true=y_true,
            sensitive={name: sensitive[name] for name in declared},
            thresholds=thresholds_for(settings),
            decision_rule=rule,
        )
    except fairness.FairnessInputError as error:
        raise ValidationError(str(error)) from error
    with transaction.atomic():
        version.audit_report = report.to_dict()
        version.audit_passed = report.passed
        version.audited_at = timezone.now()
        version.status = ModelStatus.AUDITED if report.passed else ModelStatus.REJECTED
        version.save(update_fields=["audit_report", "audit_passed", "audited_at", "status"])
        _card_refresh(version)
    return version


def model_version_activate(
    *,
    version: ModelVersion,
    by: Access | None,
    override_reason: str | None = None,
    client: ClientInfo | None = None,
) -> ModelVersion:
    """Make `version` the one active version of its kind, retiring the previous one in the same
    transaction (RELIABILITY 40). A version must be audited first; one that failed its audit needs
    an admin (MANAGE) and a written reason, recorded in the tenant's audit log. `by` None is the
    system (automatic activation after training), which can never override."""
    if by is not None and not by.can(Capability.MANAGE):
        raise PermissionDenied("Activating a model needs the 'manage' permission (admins and owners).")
    reason = (override_reason or "").strip()
    with transaction.atomic():
        _lock_kind(version.kind)
        version.refresh_from_db()
        if version.status == ModelStatus.ACTIVE:
            raise ValidationError("This version is already active.")
        if version.status not in ACTIVATABLE or version.audit_passed is None:
            raise ValidationError("This version has not been audited: it cannot be activated.")
        overridden = version.audit_passed is False
        if overridden:
            if by is None:
                raise ValidationError("This version failed its bias audit: only an admin can override it.")
            if len(reason) < MIN_OVERRIDE_REASON:
                raise ValidationError(
                    {
                        "override_reason": [
                            "This version failed its bias audit. To activate it anyway, write why "
                            f"(at least {MIN_OVERRIDE_REASON} characters); the reason is audited."
                        ]
                    }
                )
        now = timezone.now()
        previous = list(ModelVersion.objects.filter(kind=version.kind, status=ModelStatus.ACTIVE))
        for old in previous:
            old.status = ModelStatus.RETIRED
            old.retired_at = now
            old.save(update_fields=["status", "retired_at"])
            _card_refresh(old)
        actor, label = _actor(by.user if by is not None else None)
        version.status = ModelStatus.ACTIVE
        version.activated_by, version.activated_by_label = actor, label
        version.activated_at = now
        version.retired_at = None
        version.override_reason = reason if overridden else ""
        version.save(
            update_fields=[
                "status",
                "activated_by",
                "activated_by_label",
                "activated_at",
                "retired_at",
                "override_reason",
            ]
        )
        _card_refresh(version)
        details: dict[str, object] = {
            "model_version_id": version.pk,
            "kind": version.kind,
            "version": version.version,
            "audit_passed": version.audit_passed,
            "retired": [old.version for old in previous],
        }
        if overridden:
            details["override_reason"] = reason
            details["failures"] = (version.audit_report or {}).get("failures", [])
        audit_record(
            action=AuditAction.MODEL_AUDIT_OVERRIDDEN if overridden else AuditAction.MODEL_ACTIVATED,
            actor=by.user if by is not None else None,
            actor_label="" if by is not None else SYSTEM,
            tenant=connection.tenant,  # type: ignore[attr-defined]
            target=f"{version.kind} v{version.version}",
            client=client,
            details=details,
        )
    return version


def model_version_retire(
    *, version: ModelVersion, by: Access, reason: str, client: ClientInfo | None = None
) -> ModelVersion:
    """Take the active version out of service without a successor (a kill switch, e.g. when harm is
    found in production): the apps then fall back to their no-model answers. Needs MANAGE and a
    reason, recorded in the tenant's audit log."""
    if not by.can(Capability.MANAGE):
        raise PermissionDenied("Retiring a model needs the 'manage' permission (admins and owners).")
    if not reason.strip():
        raise ValidationError({"reason": ["Say why this version is taken out of service."]})
    with transaction.atomic():
        _lock_kind(version.kind)
        version.refresh_from_db()
        if version.status != ModelStatus.ACTIVE:
            raise ValidationError("Only the active version can be retired.")
        version.status = ModelStatus.RETIRED
        version.retired_at = timezone.now()
        version.save(update_fields=["status", "retired_at"])
        _card_refresh(version)
        audit_record(
            action=AuditAction.MODEL_RETIRED,
            actor=by.user,
            tenant=connection.tenant,  # type: ignore[attr-defined]
            target=f"{version.kind} v{version.version}",
            client=client,
            details={"model_version_id": version.pk, "reason": reason.strip()},
        )
    return version


def model_versions_flag_for_retraining(*, reason: str, kinds: Sequence[str] | None = None) -> int:
    """Mark every version still in use or usable (not retired) as needing retraining, e.g. after an
    erasure removed people from their training data. Returns how many were flagged."""
    if not reason.strip():
        raise ValidationError({"reason": ["Say why the models need retraining."]})
    with transaction.atomic():
        versions = ModelVersion.objects.exclude(status=ModelStatus.RETIRED)
        if kinds is not None:
            versions = versions.filter(kind__in=kinds)
        flagged = list(versions.select_for_update())
        for version in flagged:
            version.needs_retraining = True
            version.retraining_reason = reason.strip()
            version.save(update_fields=["needs_retraining", "retraining_reason"])
            _card_refresh(version)
    return len(flagged)


SETTINGS_FIELDS = (
    "sensitive_attributes",
    "age_band_bounds",
    "min_dp_ratio",
    "max_eo_difference",
    "min_group_size",
    "max_ci_width",
    "bootstrap_resamples",
)


def fairness_settings_update(*, access: Access, **changes: Any) -> FairnessSettings:
    """Change the tenant's bias-audit settings (MANAGE). Unknown fields are refused."""
    if not access.can(Capability.MANAGE):
        raise PermissionDenied("Changing fairness settings needs the 'manage' permission.")
    unknown = sorted(set(changes) - set(SETTINGS_FIELDS))
    if unknown:
        raise ValidationError({name: ["Not a fairness setting."] for name in unknown})
    with transaction.atomic():
        settings = fairness_settings_get()
        for name, value in changes.items():
            setattr(settings, name, value)
        settings.updated_by = str(access.user.pk)
        settings.full_clean()
        settings.save()
    return settings
