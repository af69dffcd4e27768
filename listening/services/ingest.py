"""Storing mentions: in bulk, idempotent on (source, external id), committed before enrichment is
queued. If the broker is down, the mentions are stored all the same and the periodic sweep
queues their enrichment later (RELIABILITY 26)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from psycopg.types.json import Jsonb

from listening.connectors.base import MentionIn
from listening.models import Source

logger = logging.getLogger(__name__)

INSERT_CHUNK = 1000
_COLUMNS = (
    "source_id, external_id, text, author_handle, author_name, author_followers, url, posted_at, received_at,"
    " lang_hint, raw, lang, sentiment, is_share, enrich_attempts"
)
_ROW = "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, '', '', false, 0)"


@dataclass(frozen=True)
class IngestResult:
    stored: int
    duplicates: int
    ids: list[int]


def _clean(value: str, limit: int) -> str:
    # PostgreSQL text cannot hold NUL characters; limits match the columns.
    return value.replace("\x00", "")[:limit]


def _clean_json(value: object) -> object:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {str(k).replace("\x00", ""): _clean_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean_json(v) for v in value]
    return value


def mention_ingest(
    *, source: Source, items: Iterable[MentionIn], received_at: datetime | None = None
) -> IngestResult:
    """Store `items` for `source`; the ones already stored (same external id) are counted as
    duplicates and left untouched. Enrichment of the new ones is queued once this commits."""
    received_at = received_at or timezone.now()
    unique: dict[str, MentionIn] = {}
    total = 0
    for item in items:
        total += 1
        unique.setdefault(item.external_id, item)
    rows = list(unique.values())
    ids: list[int] = []
    with transaction.atomic():
        with connection.cursor() as cursor:
            for start in range(0, len(rows), INSERT_CHUNK):
                chunk = rows[start : start + INSERT_CHUNK]
                params: list[Any] = []
                for m in chunk:
                    params += [
                        source.pk,
                        _clean(m.external_id, 200),
                        _clean(m.text, 40_000),
                        _clean(m.author_handle, 200),
                        _clean(m.author_name, 200),
                        m.author_followers,
                        _clean(m.url, 2000),
                        m.posted_at,
                        received_at,
                        _clean(m.lang_hint, 8),
                        Jsonb(_clean_json(m.raw)),
                    ]
                # Reviewed raw SQL: one multi-row INSERT per 1,000 rows (about 15x faster than
                # saving rows one by one, DESIGN), RETURNING only the rows that were new.
                cursor.execute(
                    f"INSERT INTO listening_mention ({_COLUMNS}) VALUES {', '.join([_ROW] * len(chunk))}"  # noqa: S608
                    " ON CONFLICT (source_id, external_id) DO NOTHING RETURNING id",
                    params,
                )
                ids += [row[0] for row in cursor.fetchall()]
        transaction.on_commit(lambda: enrichment_queue(ids))
    return IngestResult(stored=len(ids), duplicates=total - len(ids), ids=ids)


def enrichment_queue(mention_ids: Sequence[int]) -> int:
    """Queue enrichment in batches; returns how many batches were queued. A broker failure is
    logged, not raised: the mentions are stored, and the sweep will queue them."""
    from listening.tasks import enrich_mentions

    batch = settings.LISTENING_ENRICH_BATCH
    queued = 0
    for start in range(0, len(mention_ids), batch):
        try:
            enrich_mentions.apply_async(args=[list(mention_ids[start : start + batch])])
        except Exception:  # the broker's errors vary by transport; the sweep recovers from any of them
            logger.warning(
                "could not queue enrichment of %d mentions; the sweep will",
                len(mention_ids) - start,
                exc_info=True,
            )
            break
        queued += 1
    return queued
