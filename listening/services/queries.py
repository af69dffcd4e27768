"""Boolean queries: validation, the tags they put on mentions, and the backfill that re-tags
stored mentions whenever a query is written or changed."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from listening import querylang
from listening.models import BackfillStatus, Mention, Query
from listening.services.metrics import query_matches_add, query_matches_clear

logger = logging.getLogger(__name__)

BACKFILL_CHUNK = 2_000
PREVIEW_LIMIT = 2_000


def compile_expression(expression: str) -> querylang.Query:
    """The parsed query, or a ValidationError on `expression` that says where the mistake is."""
    try:
        return querylang.parse(expression)
    except querylang.QuerySyntaxError as error:
        raise ValidationError(
            {"expression": f"{error.message} (at character {error.position + 1})"}, code="syntax"
        ) from error


def document_for(mention: Mention) -> querylang.Document:
    return querylang.Document.of(
        text=mention.text,
        author_handle=mention.author_handle,
        lang=mention.lang,
        source_name=mention.source.name,
        source_kind=mention.source.kind,
    )


def active_compiled_queries() -> list[tuple[int, querylang.Query]]:
    compiled = []
    for query_id, expression in Query.objects.filter(is_active=True).values_list("id", "expression"):
        try:
            compiled.append((query_id, querylang.parse(expression)))
        except querylang.QuerySyntaxError:  # stored before a grammar change: skip it, loudly
            logger.error("query %s no longer parses; it tags nothing until it is fixed", query_id)
    return compiled


def query_create(*, name: str, expression: str, kind: str, is_active: bool = True) -> Query:
    compile_expression(expression)
    if Query.objects.filter(name=name).exists():
        raise ValidationError({"name": f"A query named '{name}' exists already."})
    with transaction.atomic():
        query = Query.objects.create(name=name, expression=expression, kind=kind, is_active=is_active)
        _backfill_schedule(query)
    return query


def query_update(*, query: Query, **changes: object) -> Query:
    """Change a query; a new expression re-tags every stored mention (in a worker)."""
    expression = changes.get("expression")
    if isinstance(expression, str):
        compile_expression(expression)
    name = changes.get("name")
    if isinstance(name, str) and Query.objects.filter(name=name).exclude(pk=query.pk).exists():
        raise ValidationError({"name": f"A query named '{name}' exists already."})
    with transaction.atomic():
        query = Query.objects.select_for_update().get(pk=query.pk)
        retag = isinstance(expression, str) and expression != query.expression
        for field in ("name", "expression", "kind", "is_active"):
            if field in changes:
                setattr(query, field, changes[field])
        query.updated_at = timezone.now()
        query.save()
        if retag:
            _backfill_schedule(query)
    return query


def query_delete(*, query: Query) -> None:
    """Lock the query before collecting its tags and buckets: a backfill or an enrichment batch
    that tags or counts for it meanwhile then waits on the lock and finds the query gone, instead
    of adding rows after the collection that the deletion's foreign-key check would trip over."""
    with transaction.atomic():
        locked = Query.objects.select_for_update().filter(pk=query.pk).first()
        if locked is not None:
            locked.delete()


def _backfill_schedule(query: Query) -> None:
    from listening.tasks import backfill_query

    query.revision = F("revision") + 1
    query.backfill_status = BackfillStatus.QUEUED
    query.backfill_done = 0
    query.backfill_total = 0
    query.backfill_error = ""
    query.save(
        update_fields=["revision", "backfill_status", "backfill_done", "backfill_total", "backfill_error"]
    )
    query.refresh_from_db(fields=["revision"])
    revision = query.revision
    transaction.on_commit(lambda: backfill_query.delay(query.pk, revision))


def query_backfill(*, query_id: int, revision: int) -> int:
    """Re-tag every stored, enriched mention with the query as it is at `revision`, newest first,
    in chunks; a newer revision (the expression changed again) stops this run. Returns matches."""
    query = Query.objects.filter(pk=query_id, revision=revision).first()
    if query is None:
        return 0
    compiled = compile_expression(query.expression)
    total = Mention.objects.filter(enriched_at__isnull=False).count()
    Query.objects.filter(pk=query_id, revision=revision).update(
        backfill_status=BackfillStatus.RUNNING, backfill_total=total, backfill_done=0
    )
    # Old tags leave the query's metric buckets as they are deleted; new ones enter as added.
    query_matches_clear(query_id=query_id)
    matched = done = 0
    last_id: int | None = None
    while True:
        batch = (
            Mention.objects.filter(enriched_at__isnull=False)
            .select_related("source")
            .only("id", "text", "author_handle", "lang", "posted_at", "source__name", "source__kind")
            .order_by("-id")
        )
        if last_id is not None:
            batch = batch.filter(id__lt=last_id)
        chunk = list(batch[:BACKFILL_CHUNK])
        if not chunk:
            break
        last_id = chunk[-1].pk
        tags = [m.pk for m in chunk if compiled.matches(document_for(m))]
        with transaction.atomic():
            if not Query.objects.select_for_update().filter(pk=query_id, revision=revision).exists():
                return matched  # superseded: the newer revision's run takes over
            query_matches_add(query_id=query_id, mention_ids=tags)
            done += len(chunk)
            matched += len(tags)
            Query.objects.filter(pk=query_id).update(backfill_done=done)
    Query.objects.filter(pk=query_id, revision=revision).update(backfill_status=BackfillStatus.IDLE)
    return matched


def query_backfill_failed(*, query_id: int, revision: int, error: str) -> None:
    Query.objects.filter(pk=query_id, revision=revision).update(
        backfill_status=BackfillStatus.FAILED, backfill_error=error[:2000]
    )


@dataclass(frozen=True)
class Preview:
    matched: int
    scanned: int
    sample_ids: list[int]


def query_preview(*, expression: str, days: int = 7) -> Preview:
    """How many of the most recent mentions (up to PREVIEW_LIMIT within `days`) the expression
    matches: the query editor's live count. Raises ValidationError with the position."""
    compiled = compile_expression(expression)
    since = timezone.now() - timedelta(days=days)
    recent = list(
        Mention.objects.filter(posted_at__gte=since)
        .select_related("source")
        .only("id", "text", "author_handle", "lang", "posted_at", "source__name", "source__kind")
        .order_by("-posted_at", "-id")[:PREVIEW_LIMIT]
    )
    hits = [m.pk for m in recent if compiled.matches(document_for(m))]
    return Preview(matched=len(hits), scanned=len(recent), sample_ids=hits[:20])
