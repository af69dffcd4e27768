"""File uploads of mentions (CSV or NDJSON): preview, a column mapping chosen by a person, then an
import by a worker with visible progress and a downloadable report of the rejected rows."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import BinaryIO, cast

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from listening.connectors import upload
from listening.connectors.base import ConnectorError, MentionIn
from listening.models import Source, SourceKind, UploadJob, UploadStatus
from listening.services.ingest import mention_ingest

IMPORT_CHUNK = 1_000
PREVIEW_BYTES = 64 * 1024
REQUIRED_FIELDS = ("external_id", "text", "posted_at")


@dataclass(frozen=True)
class CreatedUpload:
    job: UploadJob
    preview: upload.UploadPreview


def _upload_source() -> Source:
    source = Source.objects.filter(kind=SourceKind.UPLOAD).order_by("pk").first()
    if source is None:
        source = Source.objects.create(name="File uploads", kind=SourceKind.UPLOAD)
    return source


def upload_create(
    *, file: UploadedFile, created_by_id: int | None, source: Source | None = None
) -> CreatedUpload:
    if file.size is not None and file.size > settings.LISTENING_UPLOAD_MAX_BYTES:
        raise ValidationError(
            {"file": f"Files up to {settings.LISTENING_UPLOAD_MAX_BYTES // 1_000_000} MB are accepted."}
        )
    if source is not None and source.kind != SourceKind.UPLOAD:
        raise ValidationError({"source": "Choose a file-upload source."})
    head = file.read(PREVIEW_BYTES)
    file.seek(0)
    try:
        preview = upload.sniff(head)
    except ConnectorError as error:
        raise ValidationError({"file": str(error)}) from error
    job = UploadJob(
        source=source or _upload_source(),
        original_name=(file.name or "upload")[:255],
        file_format=preview.format,
        mapping=preview.suggested_mapping,
        created_by_id=created_by_id,
    )
    job.file.save(f"{timezone.now():%Y%m%d%H%M%S}.{preview.format}", file, save=False)
    job.save()
    return CreatedUpload(job=job, preview=preview)


def upload_start(*, job: UploadJob, mapping: dict[str, str]) -> UploadJob:
    """Fix the column mapping and queue the import."""
    from listening.tasks import import_upload

    missing = [f for f in REQUIRED_FIELDS if not mapping.get(f)]
    if missing:
        raise ValidationError({"mapping": f"Map a column to: {', '.join(missing)}."})
    with transaction.atomic():
        job = UploadJob.objects.select_for_update().get(pk=job.pk)
        if job.status != UploadStatus.MAPPING:
            raise ValidationError({"status": "This upload has already been started."})
        job.mapping = {field: column for field, column in mapping.items() if column}
        job.status = UploadStatus.QUEUED
        job.save(update_fields=["mapping", "status"])
        transaction.on_commit(lambda: import_upload.delay(job.pk))
    return job


def upload_import(*, job_id: int) -> UploadJob:
    """Import the rows (a worker): chunks of 1,000 through the same ingest as every source, with
    progress saved after each chunk; a rerun after a crash skips nothing and doubles nothing,
    because ingest is idempotent."""
    job = UploadJob.objects.select_related("source").get(pk=job_id)
    if job.status not in (UploadStatus.QUEUED, UploadStatus.RUNNING):
        return job
    UploadJob.objects.filter(pk=job.pk).update(
        status=UploadStatus.RUNNING, rows_done=0, stored=0, duplicates=0, rejected=0
    )
    report = io.StringIO()
    writer = csv.writer(report)
    writer.writerow(["row", "field", "message"])
    chunk: list[MentionIn] = []
    rows = stored = duplicates = rejected = 0

    def flush() -> None:
        nonlocal stored, duplicates
        if chunk:
            result = mention_ingest(source=job.source, items=chunk)
            stored += result.stored
            duplicates += result.duplicates
            chunk.clear()
        UploadJob.objects.filter(pk=job.pk).update(
            rows_done=rows, stored=stored, duplicates=duplicates, rejected=rejected
        )

    try:
        with job.file.open("rb") as stream:
            rows_read = upload.read_rows(
                cast(BinaryIO, stream), job.file_format, job.mapping, delimiter=job.delimiter or None
            )
            for number, mention, errors in rows_read:
                rows += 1
                if mention is None:
                    rejected += 1
                    for error in errors:
                        writer.writerow(
                            [number, upload.csv_safe(error.field), upload.csv_safe(error.message)]
                        )
                    continue
                chunk.append(mention)
                if len(chunk) >= IMPORT_CHUNK:
                    flush()
        flush()
    except ConnectorError as error:
        UploadJob.objects.filter(pk=job.pk).update(
            status=UploadStatus.FAILED, error=str(error)[:2000], finished_at=timezone.now()
        )
        return UploadJob.objects.get(pk=job.pk)
    job.refresh_from_db()
    if rejected:
        job.rejected_report.save(
            f"rejected-{job.pk}.csv", ContentFile(report.getvalue().encode()), save=False
        )
    job.rows_total = rows
    job.status = UploadStatus.DONE
    job.finished_at = timezone.now()
    job.save()
    return job
