"""Records management of contacts: the controller's own create, list, read and correct, and the
personal-data provider data-subject requests export and erase through.

This is the one personalization module besides the models that touches contacts directly, and it
does so for administering the records, never for processing them for a purpose: everything that
segments, recommends, trains or sends reaches contacts through the consent gate
(`ethics.selectors.consented_contacts`). `tests/ethics/test_gate.py` enforces both rules.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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
from personalization.models import (
    CampaignMember,
    Channel,
    Contact,
    ContactHandle,
    ContactImportJob,
    EngagementEvent,
    EngagementKind,
    ImportStatus,
    Message,
    PostSend,
    Recommendation,
    SegmentMembership,
)

OUTREACH = "outreach"

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
        return {name: [] for name in EXPORTED}
    contact = Contact.objects.filter(pk=person.contact_id).values().first()
    handles = ContactHandle.objects.filter(contact_id=person.contact_id).values("network", "handle")
    events = EngagementEvent.objects.filter(contact_id=person.contact_id).values(
        "channel__name", "message__key", "kind", "external_id", "occurred_at"
    )
    memberships = SegmentMembership.objects.filter(contact_id=person.contact_id)
    segments = memberships.values("segment__name", "segment__kind", "segment__number", "created_at")
    # What was recommended for the segments they belong to: advice is made per segment, never per person.
    made = Recommendation.objects.filter(segment_id__in=memberships.values("segment_id")).values(
        "kind", "segment_label", "channel__name", "status", "basis", "exploration", "advice", "created_at"
    )
    sends = PostSend.objects.filter(contact_id=person.contact_id).values(
        "post_id", "post__channel__name", "post__text", "status", "sent_at", "created_at"
    )
    campaigns = CampaignMember.objects.filter(contact_id=person.contact_id).values(
        "campaign__name", "group", "engagements"
    )
    return {
        "contact": [contact] if contact else [],
        "contact_handle": list(handles),
        "engagement_event": list(events.order_by("occurred_at")),
        "segment_membership": list(segments),
        "recommendation": list(made.order_by("created_at")),
        "post_send": list(sends.order_by("created_at")),
        "campaign_member": list(campaigns.order_by("campaign__name")),
    }


EXPORTED = (
    "contact",
    "contact_handle",
    "engagement_event",
    "segment_membership",
    "recommendation",
    "post_send",
    "campaign_member",
)
ERASED = (
    "contact",
    "contact_handle",
    "engagement_event",
    "segment_membership",
    "post_send",
    "campaign_member",
)


def _erase(person: Person) -> dict[str, int]:
    if person.contact_id is None:
        return dict.fromkeys(ERASED, 0)
    handles, _ = ContactHandle.objects.filter(contact_id=person.contact_id).delete()
    events, _ = EngagementEvent.objects.filter(contact_id=person.contact_id).delete()
    memberships, _ = SegmentMembership.objects.filter(contact_id=person.contact_id).delete()
    # The sends made to them and their campaign groups: the post and the campaign stay, the
    # person's row goes (a sent post's other recipients keep their exactly-once records).
    sends, _ = PostSend.objects.filter(contact_id=person.contact_id).delete()
    campaign_rows, _ = CampaignMember.objects.filter(contact_id=person.contact_id).delete()
    # Deleting the contact cascades to what hangs off it elsewhere (consent evidence, intervals).
    contacts = Contact.objects.filter(pk=person.contact_id).delete()[1].get("personalization.Contact", 0)
    return {
        "contact": contacts,
        "contact_handle": handles,
        "engagement_event": events,
        "segment_membership": memberships,
        "post_send": sends,
        "campaign_member": campaign_rows,
    }


PROVIDER = Provider(
    name="personalization",
    models=(
        "personalization.Contact",
        "personalization.ContactHandle",
        "personalization.EngagementEvent",
        "personalization.SegmentMembership",
        "personalization.PostSend",
        "personalization.CampaignMember",
    ),
    export=_export,
    erase=_erase,
    order=900,  # last: the others find the person's data through the contact and its handles
    notes={
        "recommendation": "Recommendations are made per segment, not per person: the export lists "
        "those made for the segments the person belongs to; erasing the person removes the membership."
    },
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


# Contact import (CSV or NDJSON) -------------------------------------------------------------------

IMPORT_MAX_BYTES = 5 * 1024 * 1024
IMPORT_MAX_ROWS = 10_000
IMPORT_FORMATS = ("csv", "ndjson")
IMPORT_PROGRESS_EVERY = 200
IMPORT_ERRORS_KEPT = 1000
# Columns besides the contact's own fields: `handles` ("mastodon:@ada; x:ada"), `attr.<key>` for
# free-form attributes, `consent.<purpose code>` ("yes"/"no") recorded in the consent ledger.
CONTACT_COLUMNS = ("kind", "name", "email", "language", "region", "time_zone")
ATTRIBUTE_PREFIX = "attr."
CONSENT_PREFIX = "consent."
CONSENT_YES = {"yes", "y", "true", "1", "granted", "grant"}
CONSENT_NO = {"no", "n", "false", "0", "withdrawn", "withdraw", ""}


@dataclass(frozen=True)
class ImportResult:
    created: int
    consents_recorded: int
    errors: list[dict[str, Any]]


def _import_rows(*, content: bytes, fmt: str) -> Iterator[tuple[int, dict[str, Any] | None, str]]:
    """(row number as the user sees it, the row's cells or None, a problem) for every non-blank row."""
    text = content.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        for row in reader:
            if not any((value or "").strip() for value in row.values() if isinstance(value, str)):
                continue
            if None in row:
                yield reader.line_num, None, "The row has more cells than the header."
                continue
            yield reader.line_num, {k.strip(): (v or "") for k, v in row.items()}, ""
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as error:
            yield number, None, f"Not JSON: {error.msg}."
            continue
        except RecursionError:
            yield number, None, "Not JSON: nested too deeply."
            continue
        if not isinstance(item, dict):
            yield number, None, "Each line must be a JSON object."
            continue
        yield number, item, ""


def _handles_of(value: Any) -> list[dict[str, str]]:
    if isinstance(value, list):
        return value
    handles = []
    for part in str(value or "").replace(",", ";").split(";"):
        if part.strip():
            network, _, handle = part.strip().partition(":")
            handles.append({"network": network.strip().lower(), "handle": handle.strip()})
    return handles


def _row_fields(item: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The contact's fields from a row, and its consent answers by purpose code."""
    fields: dict[str, Any] = {k: item[k] for k in CONTACT_COLUMNS if item.get(k) not in (None, "")}
    attributes = dict(item["attributes"]) if isinstance(item.get("attributes"), dict) else {}
    consents: dict[str, str] = {}
    for key, value in item.items():
        if key.startswith(ATTRIBUTE_PREFIX) and value not in (None, ""):
            attributes[key.removeprefix(ATTRIBUTE_PREFIX)] = value
        elif key.startswith(CONSENT_PREFIX):
            consents[key.removeprefix(CONSENT_PREFIX)] = (
                str(value if value is not None else "").strip().lower()
            )
    if isinstance(item.get("consent"), dict):
        consents.update({str(k): str(v).strip().lower() for k, v in item["consent"].items()})
    if attributes:
        fields["attributes"] = attributes
    if item.get("handles"):
        fields["handles"] = _handles_of(item["handles"])
    return fields, consents


def _import_parse(*, content: bytes, fmt: str) -> list[tuple[int, dict[str, Any] | None, str]]:
    """The file's rows, or a ValidationError on `format` or `file` for a file that is not one."""
    if fmt not in IMPORT_FORMATS:
        raise ValidationError({"format": f"Must be one of {', '.join(IMPORT_FORMATS)}."})
    if len(content) > IMPORT_MAX_BYTES:
        raise ValidationError({"file": f"The file is larger than {IMPORT_MAX_BYTES // (1024 * 1024)} MB."})
    if b"\x00" in content[:8192]:
        raise ValidationError({"file": "The file is not text (CSV or NDJSON)."})
    rows = []
    try:
        for row in _import_rows(content=content, fmt=fmt):
            rows.append(row)
            # Refused as soon as it is known: a 5 MB file of one-letter rows is 2.6 million rows,
            # which held in a list first cost over 100 times the file's size in memory.
            if len(rows) > IMPORT_MAX_ROWS:
                raise ValidationError({"file": f"At most {IMPORT_MAX_ROWS} rows per file."})
    except (UnicodeDecodeError, csv.Error) as error:
        raise ValidationError(
            {"file": f"The file cannot be read as UTF-8 {fmt.upper()}: {error}."}
        ) from error
    return rows


def contact_import_list() -> QuerySet[ContactImportJob]:
    return ContactImportJob.objects.defer("content").order_by("-created_at", "-id")


def contact_import_start(
    *, content: bytes, fmt: str, name: str, actor: str, user_id: int | None
) -> ContactImportJob:
    """Check the file (a file that is not CSV or NDJSON is refused now, a 400), keep it with a job,
    and queue the import on a worker: creating contacts and recording consents row by row takes
    minutes for a large file, longer than a request may."""
    rows = _import_parse(content=content, fmt=fmt)
    from personalization.records_tasks import import_contacts

    with transaction.atomic():
        job = ContactImportJob.objects.create(
            original_name=name[:255],
            file_format=fmt,
            content=content,
            rows_total=len(rows),
            actor=actor[:64],
            created_by_id=user_id,
        )
        transaction.on_commit(lambda: import_contacts.delay(job.pk))
    return job


def contact_import_run(*, job_id: int) -> ContactImportJob | None:
    """Run a queued import (the worker). At most once: a job a dead worker left `running` is not
    started again (its rows may be half created; a person imports the rest again). Returns None
    when there was nothing to run."""
    with transaction.atomic():
        job = (
            ContactImportJob.objects.select_for_update(skip_locked=True)
            .filter(pk=job_id, status=ImportStatus.QUEUED)
            .first()
        )
        if job is None:
            return None
        job.status, job.started_at = ImportStatus.RUNNING, timezone.now()
        job.save(update_fields=["status", "started_at"])

    def progress(done: int) -> None:
        ContactImportJob.objects.filter(pk=job_id).update(rows_done=done)

    try:
        result = contacts_import(
            content=bytes(job.content), fmt=job.file_format, actor=job.actor, progress=progress
        )
    except ValidationError as error:
        job.status, job.error = ImportStatus.FAILED, "; ".join(error.messages)[:2000]
    else:
        job.status, job.rows_done = ImportStatus.DONE, job.rows_total
        job.created, job.consents_recorded = result.created, result.consents_recorded
        job.errors, job.errors_total = result.errors[:IMPORT_ERRORS_KEPT], len(result.errors)
    job.content, job.finished_at = b"", timezone.now()
    job.save()
    return job


def contacts_import(
    *, content: bytes, fmt: str, actor: str, progress: Callable[[int], None] | None = None
) -> ImportResult:
    """Create a contact per valid row; every bad row is reported (row number, column, message) and
    skipped, it never stops the others. Cells are stored as the text they are (a `=HYPERLINK(...)`
    name stays those characters: it is never evaluated). A `consent.<purpose>` column of "yes"
    records a grant through the consent ledger (source "import") under the purpose's current
    notice; "no" or empty records nothing (absence of consent is the default)."""
    from ethics.models import ConsentAction, ConsentSource, Purpose
    from ethics.services import ConsentEntry, consent_record_many
    from personalization.serializers import ContactWriteSerializer

    rows = _import_parse(content=content, fmt=fmt)
    purposes = {p.code: p for p in Purpose.objects.filter(is_active=True)}
    errors: list[dict[str, Any]] = []
    created = 0
    entries: list[ConsentEntry] = []
    for done, (number, item, problem) in enumerate(rows):
        if progress is not None and done and done % IMPORT_PROGRESS_EVERY == 0:
            progress(done)
        if item is None:
            errors.append({"row": number, "field": "", "message": problem})
            continue
        fields, consents = _row_fields(item)
        data = ContactWriteSerializer(data=fields)
        row_errors = [] if data.is_valid() else _flatten(data.errors)
        for code, answer in consents.items():
            if code not in purposes:
                row_errors.append((f"{CONSENT_PREFIX}{code}", "No active purpose has this code."))
            elif answer not in CONSENT_YES | CONSENT_NO:
                row_errors.append((f"{CONSENT_PREFIX}{code}", "Answer yes or no."))
        if row_errors:
            errors += [{"row": number, "field": f, "message": m} for f, m in row_errors]
            continue
        try:
            with transaction.atomic():
                contact = contact_create(**data.validated_data)
        except ValidationError as error:
            errors += [
                {"row": number, "field": f, "message": " ".join(m)} for f, m in error.message_dict.items()
            ]
            continue
        created += 1
        entries += [
            ConsentEntry(contact=contact, purpose=purposes[code], action=ConsentAction.GRANT)
            for code, answer in consents.items()
            if answer in CONSENT_YES
        ]
    if entries:
        consent_record_many(entries=entries, source=ConsentSource.IMPORT, actor=actor)
    return ImportResult(created=created, consents_recorded=len(entries), errors=errors)


def _flatten(errors: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(errors, dict):
        return [pair for key, value in errors.items() for pair in _flatten(value, f"{prefix}{key}.")]
    if isinstance(errors, list) and errors and not all(isinstance(e, str) for e in errors):
        return [pair for i, value in enumerate(errors) for pair in _flatten(value, f"{prefix}{i}.")]
    field = prefix.rstrip(".").replace("non_field_errors", "")
    return [(field, " ".join(str(e) for e in errors))]


# Engagement events ------------------------------------------------------------------------------

INGEST_MAX_ITEMS = 1_000


@dataclass(frozen=True)
class IngestResult:
    stored: int
    duplicates: int
    errors: list[dict[str, Any]]


def engagement_ingest(*, channel: Channel, items: list[dict[str, Any]], actor: str) -> IngestResult:
    """Store engagement events (already shaped by the API's serializer: contact id, kind, external
    id, occurred_at, optional message key). Idempotent on (channel, external id): a repeated item is
    counted as a duplicate, never stored twice. An item naming an unknown contact is a per-item
    error and the rest are stored. An unsubscribe also withdraws the contact's consent for the
    outreach purpose (if they had it), in the same transaction."""
    from ethics.models import ConsentAction, ConsentSource
    from ethics.services import ConsentEntry, consent_record_many

    known = set(Contact.objects.filter(pk__in={i["contact"] for i in items}).values_list("pk", flat=True))
    messages = dict(
        Message.objects.filter(key__in={i["message"] for i in items if i.get("message")}).values_list(
            "key", "pk"
        )
    )
    errors: list[dict[str, Any]] = []
    rows: list[EngagementEvent] = []
    for index, item in enumerate(items):
        if item["contact"] not in known:
            errors.append({"index": index, "field": "contact", "message": "No such contact."})
            continue
        if item.get("message") and item["message"] not in messages:
            errors.append({"index": index, "field": "message", "message": "No message has this key."})
            continue
        rows.append(
            EngagementEvent(
                channel=channel,
                contact_id=item["contact"],
                message_id=messages.get(item.get("message") or ""),
                kind=item["kind"],
                external_id=item["external_id"],
                occurred_at=item["occurred_at"],
            )
        )
    with transaction.atomic():
        # Counted before the insert (ignore_conflicts leaves no trace of which rows were new); a
        # concurrent ingest of the same ids can only make the counts off, never store twice.
        seen = set(
            EngagementEvent.objects.filter(
                channel=channel, external_id__in=[r.external_id for r in rows]
            ).values_list("external_id", flat=True)
        )
        new: list[EngagementEvent] = []
        for row in rows:
            if row.external_id not in seen:
                seen.add(row.external_id)
                new.append(row)
        EngagementEvent.objects.bulk_create(new, ignore_conflicts=True)
        unsubscribed = {
            r.contact_id for r in new if r.kind == EngagementKind.UNSUBSCRIBED and r.contact_id is not None
        }
        holding = list(
            ConsentInterval.objects.filter(
                contact_id__in=unsubscribed, purpose__code=OUTREACH, granted_until__isnull=True
            ).select_related("contact", "purpose")
        )
        if holding:
            consent_record_many(
                entries=[ConsentEntry(i.contact, i.purpose, ConsentAction.WITHDRAW) for i in holding],
                source=ConsentSource.API,
                actor=actor,
            )
    return IngestResult(stored=len(new), duplicates=len(rows) - len(new), errors=errors)


def _old_events(cutoff: datetime) -> QuerySet[EngagementEvent]:
    return EngagementEvent.objects.filter(occurred_at__lt=cutoff)


ENGAGEMENT_RETENTION = RetentionKind(
    kind="engagement_events",
    label="Engagement events (by when they happened)",
    count=lambda c: _old_events(c).count(),
    purge=lambda c: _old_events(c).delete()[0],
)
