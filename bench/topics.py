"""Benchmark: emerging topics on real crisis tweets, quality and time, next to a KMeans baseline.

Reads the labelled tweets of CrisisLexT26 (`--data`, 26 real crises of 2012-2013; the tweets the
annotators marked as related to their crisis), samples `--mentions` of them (default 20,000),
embeds them with the product's embedder (cached under .data/bench, so a second run skips it) and
collapses copies into stories with the product's fingerprint, as enrichment does.

Quality: do the topics separate the 26 crises? Adjusted Rand index of the topic core
(listening.nlp.topics.find_topics) against the crisis labels, over the tweets it put in a topic
(`topics_ari`, with `topics_coverage` the share of tweets in one) and over all tweets with the
unassigned as one more group (`topics_ari_all`). The baseline is KMeans on the same unit vectors
with k chosen by silhouette among 10, 20, 30, 40 (`kmeans_ari`, `kmeans_k`), which must assign every tweet
and be told the range of k; both clocks are measured in the same run (`topics_cluster_s`,
`kmeans_select_s`).

Time of a whole run: the tweets are stored as one day of mentions in a benchmark tenant (embedded
PostgreSQL of .data/bench) and the periodic service `topics_refresh` runs over them, reading,
clustering, matching and writing (`refresh_s`, `refresh_mentions`); the baseline is the bare read
of the same embeddings it starts with (`read_embeddings_s`).

    .venv/bin/python bench/topics.py [--mentions 20000] [--data PATH]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import sys
import time
from datetime import timedelta
from pathlib import Path

import _common
import numpy as np

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "crisislex"
RELATED = ("Related and informative", "Related - but not informative")


def crisis_tweets(data: Path, limit: int, seed: int) -> tuple[list[str], list[int]]:
    """Up to `limit` related tweets, sampled evenly at random, with their crisis's number."""
    texts: list[str] = []
    labels: list[int] = []
    folders = sorted(p for p in (data / "CrisisLexT26").iterdir() if p.is_dir())
    if not folders:
        raise SystemExit(f"no CrisisLexT26 folders under {data}: pass --data")
    for number, folder in enumerate(folders):
        for path in folder.glob("*-tweets_labeled.csv"):
            with path.open(encoding="utf-8", errors="replace", newline="") as handle:
                reader = csv.reader(handle)
                next(reader, None)
                for row in reader:
                    if len(row) >= 5 and row[4].strip() in RELATED and row[1].strip():
                        texts.append(row[1].strip())
                        labels.append(number)
    order = np.random.default_rng(seed).permutation(len(texts))[:limit]
    return [texts[i] for i in order], [labels[i] for i in order]


def embeddings(texts: list[str]) -> np.ndarray:
    from listening.nlp import embedder

    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    cached = _common.DATA_DIR / f"topics-embeddings-{digest}.npy"
    if cached.exists():
        return np.load(cached)
    vectors = embedder.encode(texts)
    np.save(cached, vectors)
    return vectors


def kmeans_select(vectors: np.ndarray, seed: int) -> tuple[np.ndarray, int]:
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    best: tuple[float, np.ndarray, int] | None = None
    for k in range(10, 41, 10):
        labels = KMeans(n_clusters=k, n_init=1, random_state=seed).fit_predict(vectors)
        score = silhouette_score(vectors, labels, sample_size=min(4_000, len(vectors)), random_state=seed)
        if best is None or score > best[0]:
            best = (score, labels, k)
    assert best is not None
    return best[1], best[2]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mentions", type=int, default=20_000)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the crisislex data folder")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    texts, crises = crisis_tweets(args.data, args.mentions, args.seed)

    was_running = _common.django_start()
    from sklearn.metrics import adjusted_rand_score

    from listening.nlp import dedupe, topics

    vectors = topics.unit(embeddings(texts))
    keys = [dedupe.story_key(t) for t in texts]
    groups = [None if k == dedupe.EMPTY_STORY_KEY else k for k in keys]
    truth = np.array(crises)

    started = time.perf_counter()
    found = topics.find_topics(vectors=vectors, texts=texts, groups=groups)
    cluster_s = time.perf_counter() - started
    ours = np.full(len(texts), -1)
    for number, cluster in enumerate(found):
        ours[cluster.members] = number
    assigned = ours >= 0

    started = time.perf_counter()
    baseline, k = kmeans_select(vectors, args.seed)
    kmeans_s = time.perf_counter() - started

    _common.database_prepare()
    from django.db.models import F
    from django.utils import timezone
    from django_tenants.utils import tenant_context

    from listening.models import Mention, Source, SourceKind
    from listening.services.topics import topics_refresh
    from tenants.services import tenant_create

    tenant = tenant_create(name="Bench topics", slug=f"{_common.SLUG_PREFIX}topics")
    now = timezone.now()
    with tenant_context(tenant):
        source = Source.objects.create(name="bench", kind=SourceKind.API)
        Mention.objects.bulk_create(
            (
                Mention(
                    source=source,
                    external_id=str(i),
                    text=text,
                    posted_at=now - timedelta(hours=24) * ((i + 0.5) / len(texts)),
                    lang="en",
                    sentiment="neutral",
                    embedding=vectors[i],
                    enriched_at=now,
                )
                for i, text in enumerate(texts)
            ),
            batch_size=2_000,
        )
        started = time.perf_counter()
        read = list(
            Mention.objects.filter(posted_at__gte=now - timedelta(hours=24), embedding__isnull=False)
            .annotate(e=F("embedding"))
            .values_list("id", "e")
        )
        read_s = time.perf_counter() - started
        started = time.perf_counter()
        run = topics_refresh(now=now + timedelta(seconds=1))
        refresh_s = time.perf_counter() - started
    _common.bench_data_drop()
    _common.database_stop(was_running)

    figures = {
        "mentions": len(texts),
        "crises": len(set(crises)),
        "stories": len(set(groups)),
        "topics": len(found),
        "topics_coverage": round(float(assigned.mean()), 3),
        "topics_ari": round(float(adjusted_rand_score(truth[assigned], ours[assigned])), 3),
        "topics_ari_all": round(float(adjusted_rand_score(truth, ours)), 3),
        "kmeans_k": k,
        "kmeans_ari": round(float(adjusted_rand_score(truth, baseline)), 3),
        "kmeans_ari_on_topics_tweets": round(
            float(adjusted_rand_score(truth[assigned], baseline[assigned])), 3
        ),
        "topics_cluster_s": round(cluster_s, 2),
        "kmeans_select_s": round(kmeans_s, 2),
        "refresh_mentions": run.sampled,
        "refresh_s": round(refresh_s, 2),
        "read_embeddings_s": round(read_s, 2),
        "refresh_over_read_x": round(refresh_s / read_s, 1),
        "read_rows": len(read),
    }
    _common.table_print(["figure", "value"], [(key, str(value)) for key, value in figures.items()])
    for cluster in found[:12]:
        print(f"{len(cluster.members):6d}  {cluster.label}")
    _common.results_write("topics", figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
