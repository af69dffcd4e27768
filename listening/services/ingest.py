"""Storing mentions: in bulk, idempotent on (source, external id), committed before enrichment is
queued. If the broker is down, the mentions are stored all the same and the periodic sweep
queues their enrichment later (RELIABILITY 26)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from psycopg.types.json import Jsonb

from listening.connectors.base import MentionIn
from listening.models import Source

logger = logging.getLogger(__name__)

_FIELDS = (
    "ord",
    "external_id",
    "text",
    "author_handle",
    "author_name",
    "author_followers",
    "url",
    "posted_at",
    "lang_hint",
    "raw",
)
# A per-connection staging table: rows are COPYed in (the fastest way into PostgreSQL, DESIGN), then
# moved with one INSERT ... SELECT ... ON CONFLICT that returns only the new rows.
_STAGE = (
    "CREATE TEMP TABLE IF NOT EXISTS listening_mention_stage (ord integer, external_id text, text text,"
    " author_handle text, author_name text, author_followers bigint, url text, posted_at timestamptz,"
    " lang_hint text, raw jsonb) ON COMMIT DELETE ROWS"
)
_MOVE = (
    "INSERT INTO listening_mention (source_id, external_id, text, author_handle, author_name,"
    " author_followers, url, posted_at, received_at, lang_hint, raw, lang, sentiment, is_share,"
    " crisis_language, enrich_attempts) SELECT %s, external_id, text, author_handle, author_name,"
    " author_followers, url, posted_at, %s, lang_hint, raw, '', '', false, false, 0"
    " FROM listening_mention_stage ORDER BY ord"
    " ON CONFLICT (source_id, external_id) DO NOTHING RETURNING id"
)


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
            cursor.execute(_STAGE)
            with cursor.cursor.copy(
                f"COPY listening_mention_stage ({', '.join(_FIELDS)}) FROM STDIN"
            ) as copy:
                for order, m in enumerate(rows):
                    copy.write_row(
                        (
                            order,
                            _clean(m.external_id, 200),
                            _clean(m.text, 40_000),
                            _clean(m.author_handle, 200),
                            _clean(m.author_name, 200),
                            m.author_followers,
                            _clean(m.url, 2000),
                            m.posted_at,
                            _clean(m.lang_hint, 8),
                            Jsonb(_clean_json(m.raw)),
                        )
                    )
            cursor.execute(_MOVE, [source.pk, received_at])
            ids = [row[0] for row in cursor.fetchall()]
            # Emptied now, not only at commit: an enclosing transaction may ingest again.
            cursor.execute("TRUNCATE listening_mention_stage")
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
