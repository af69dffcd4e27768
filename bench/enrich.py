"""Benchmark: enrichment throughput next to the embedding model's own encode on the same texts.

Stores N real tweets (SemEval texts, `--data`) in a benchmark tenant, then runs the enrichment
service (language, embedding, sentiment, story, query tags, full-text vector, database writes)
over them in the batches the `nlp` workers use. The baseline is the raw sentence-transformers
encode of the same texts in the same batch size, in the same process and run: enrichment must keep
at least 80% of it (`enrich_over_encode`).

    .venv/bin/python bench/enrich.py [--mentions 2000] [--data PATH]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import _common
from _texts import DEFAULT_DATA, tweet_texts


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mentions", type=int, default=2_000)
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="the sentiment data folder (SemEval texts)"
    )
    args = parser.parse_args()
    texts = tweet_texts(args.data, args.mentions)

    was_running = _common.django_start()
    _common.database_prepare()
    from django.conf import settings
    from django_tenants.utils import tenant_context

    from listening.connectors.base import MentionIn
    from listening.models import Query, Source, SourceKind
    from listening.nlp import embedder
    from listening.services import enrichment, ingest
    from tenants.services import tenant_create

    batch = settings.LISTENING_ENRICH_BATCH
    tenant = tenant_create(name="Bench enrich", slug=f"{_common.SLUG_PREFIX}enrich")
    start = datetime(2026, 11, 1, tzinfo=UTC)
    with tenant_context(tenant):
        source = Source.objects.create(name="bench", kind=SourceKind.API)
        for i, expression in enumerate(
            ["apple OR iphone*", "google AND (android OR pixel)", '"customer service"']
        ):
            Query.objects.create(name=f"q{i}", expression=expression)
        items = [
            MentionIn(external_id=str(i), text=t, posted_at=start + timedelta(seconds=i))
            for i, t in enumerate(texts)
        ]
        ids = ingest.mention_ingest(source=source, items=items).ids
        embedder.encode(texts[:batch])  # load the model before either clock starts

        started = time.perf_counter()
        for i in range(0, len(texts), batch):
            embedder.encode(texts[i : i + batch])
        encode_s = time.perf_counter() - started

        started = time.perf_counter()
        done = sum(
            enrichment.mentions_enrich(mention_ids=ids[i : i + batch]) for i in range(0, len(ids), batch)
        )
        enrich_s = time.perf_counter() - started
    _common.bench_data_drop()
    _common.database_stop(was_running)
    if done != len(texts):
        raise SystemExit(f"enriched {done} of {len(texts)} mentions")

    figures = {
        "mentions": len(texts),
        "batch_mentions": batch,
        "enrich_mentions_per_s": round(len(texts) / enrich_s, 1),
        "raw_encode_texts_per_s": round(len(texts) / encode_s, 1),
        "enrich_over_encode": round(encode_s / enrich_s, 3),
    }
    _common.table_print(["figure", "value"], [(k, str(v)) for k, v in figures.items()])
    _common.results_write("enrich", figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
