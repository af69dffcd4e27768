"""Benchmark: the dashboard's time-series endpoint with one million mentions in a tenant.

Creates a tenant with 4 sources, 4 queries (brand, product, two competitors) and `--mentions`
enriched mentions (default 1,000,000) over the past year, written with COPY: a daily rhythm
(afternoon peak), a weekly one (quiet weekends), a few bursts, six languages, skewed authors and
sentiment; about 1.1 tags per mention. The metric buckets are then built by the production
recovery path (`listening.services.metrics.metrics_rebuild`, timed as `rebuild_s`).

Then gunicorn (`config.wsgi`, 2 workers x 4 threads, as `make run`) serves
`GET /api/v1/metrics/timeseries` to `--concurrency` keep-alive clients (default 4) with a read
token, each request a random mix of range (1 hour, 24 hours, 7, 30, 90 or 365 days, automatic
resolution), time zone (UTC, Europe/Berlin, America/New_York) and filter (none, a query, a
source, a language, or grouped by query): `timeseries_p50_ms`, `timeseries_p95_ms` (target
under 150 ms), per-range p95s. Baselines in the same run: `GET /api/v1/me` loaded the same way in
alternating slices (what any authenticated call costs here), and `rescan_1y_ms`, the naive
answer, a GROUP BY day over the mentions of the year in SQL.

    .venv/bin/python bench/dashboard.py [--mentions 1000000] [--seconds 20] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import http.client
import io
import random
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import _common
import numpy as np
from api_latency import _free_port, server_start, server_stop, server_wait

RANGES = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
    "1y": timedelta(days=365),
}
ZONES = ("UTC", "Europe/Berlin", "America/New_York")
LANGS = (("en", 0.6), ("es", 0.12), ("de", 0.1), ("fr", 0.08), ("pt", 0.05), ("", 0.05))
SLICE_S = 5.0
WARMUP_S = 2.0
TEXTS = (
    "Acme cloud is down again, nothing works",
    "Loving the new Acme dashboard",
    "Globex shipped a new release today",
    "Initech support answered in minutes",
    "Is the Acme API rate limit documented anywhere?",
    "Comparing Acme and Globex for our team",
)


def mentions_generate(count: int, now: datetime, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Posting times (epoch seconds, sorted) with daily and weekly rhythm and bursts, and a
    per-mention burst flag (bursts are mostly negative)."""
    rng = np.random.default_rng(seed)
    start = now - timedelta(days=365)
    hours = np.arange(365 * 24)
    moments = start.timestamp() + hours * 3600.0
    hour_of_day = (moments // 3600) % 24
    day_of_week = ((moments // 86400) + 3) % 7  # 1970-01-01 was a Thursday: 5, 6 are the weekend
    weight = 1.0 + 0.8 * np.sin((hour_of_day - 8) / 24 * 2 * np.pi)
    weight *= np.where(day_of_week >= 5, 0.45, 1.0)
    burst = np.zeros_like(weight)
    for centre in rng.choice(len(hours), size=8, replace=False):
        burst[centre : centre + 6] = 12.0
    weight = weight + burst
    per_hour = rng.multinomial(count, weight / weight.sum())
    stamps = np.repeat(moments, per_hour) + rng.uniform(0, 3600, count)
    bursty = np.repeat(burst > 0, per_hour)
    order = np.argsort(stamps)
    return stamps[order], bursty[order]


def mentions_copy(*, count: int, source_ids: list[int], now: datetime, seed: int) -> None:
    """COPY `count` enriched mentions into the current tenant schema, in chunks."""
    from django.db import connection

    rng = np.random.default_rng(seed + 1)
    stamps, bursty = mentions_generate(count, now, seed)
    langs = [code for code, _ in LANGS]
    lang_index = rng.choice(len(LANGS), size=count, p=[p for _, p in LANGS])
    authors = rng.zipf(1.6, size=count) % 50_000
    followers = (np.exp(rng.normal(5.5, 2.0, size=50_000))).astype(np.int64)
    sentiment_roll = rng.random(count)
    source_index = rng.choice(len(source_ids), size=count, p=[0.4, 0.3, 0.2, 0.1])
    text_index = rng.integers(0, len(TEXTS), size=count)
    enriched = now.isoformat()
    columns = (
        "source_id, external_id, text, author_handle, author_name, author_followers, url,"
        " posted_at, received_at, lang_hint, raw, lang, sentiment, sentiment_score, is_share,"
        " enriched_at, enrich_attempts"
    )
    chunk = 100_000
    raw = connection.connection  # psycopg's COPY protocol; Django's cursor has no COPY
    with raw.cursor() as cursor:
        for low in range(0, count, chunk):
            buffer = io.StringIO()
            for i in range(low, min(low + chunk, count)):
                posted = datetime.fromtimestamp(stamps[i], UTC).isoformat()
                roll = sentiment_roll[i] * (0.5 if bursty[i] else 1.0)
                sentiment = "negative" if roll < 0.25 else ("neutral" if roll < 0.75 else "positive")
                author = int(authors[i])
                buffer.write(
                    f"{source_ids[source_index[i]]}\tb{i}\t{TEXTS[text_index[i]]}\t"
                    f"user{author}\tUser {author}\t"
                    f"{followers[author]}\t\t{posted}\t{posted}\t\t{{}}\t{langs[lang_index[i]]}\t{sentiment}\t"
                    f"0.9\tf\t{enriched}\t1\n"
                )
            with cursor.copy(f"COPY listening_mention ({columns}) FROM STDIN") as copy:
                copy.write(buffer.getvalue())


def tags_insert(query_ids: list[int]) -> int:
    """Tag mentions by query, deterministic on the id: about 55% brand, 15% product, 25% and
    15% the competitors."""
    from django.db import connection

    brand, product, rival_a, rival_b = query_ids
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO listening_querymatch (query_id, mention_id, posted_at)"
            " SELECT q, id, posted_at FROM listening_mention,"
            " LATERAL (VALUES (%s, id %% 20 < 11), (%s, id %% 20 >= 17),"
            " (%s, id %% 4 = 1), (%s, id %% 7 = 3))"
            " AS tags (q, hit) WHERE hit",
            [brand, product, rival_a, rival_b],
        )
        tags = int(cursor.rowcount)
        cursor.execute("ANALYZE listening_mention")
        cursor.execute("ANALYZE listening_querymatch")
        return tags


def rescan_ms(now: datetime) -> float:
    """The naive answer, for comparison: a year of daily volume counted from the mentions."""
    from django.db import connection

    timings = []
    with connection.cursor() as cursor:
        for _ in range(3):
            started = time.perf_counter()
            cursor.execute(
                "SELECT date_trunc('day', posted_at), count(*),"
                " count(*) FILTER (WHERE sentiment = 'negative')"
                " FROM listening_mention WHERE posted_at >= %s AND posted_at < %s GROUP BY 1",
                [now - RANGES["1y"], now],
            )
            cursor.fetchall()
            timings.append(time.perf_counter() - started)
    return float(np.median(timings)) * 1000


def selector_ms(now: datetime) -> dict[str, float]:
    """In-process time of the series selector per range (no HTTP, median of 5, Berlin time):
    what the database and the Python around it cost, apart from the web server."""
    from zoneinfo import ZoneInfo

    from listening.apis_metrics import AUTO, RESOLUTIONS
    from listening.selectors_metrics import MetricFilters, metric_series_grouped

    out = {}
    for label, span in RANGES.items():
        resolution = next((name for limit, name in AUTO if span <= limit), "1d")
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            metric_series_grouped(
                start=now - span,
                end=now,
                step=RESOLUTIONS[resolution],
                filters=MetricFilters(),
                tz=ZoneInfo("Europe/Berlin"),
            )
            timings.append(time.perf_counter() - started)
        out[f"selector_{label}_ms"] = float(np.median(timings)) * 1000
    return out


def listening_fill(*, mentions: int, now: datetime, seed: int) -> tuple[list[Any], list[Any], int]:
    """In the current tenant: four API sources, a brand, a product and two competitor queries, and
    `mentions` enriched mentions over the past year with their query tags (returned with their
    count). The queries are created as rows, not through query_create: its backfill task has no
    worker here, and the tags are written in bulk. Metric buckets are the caller's to rebuild (this
    script times it)."""
    from listening.models import Query, QueryKind, Source, SourceKind

    sources = [Source.objects.create(name=f"Source {i}", kind=SourceKind.API) for i in range(4)]
    kinds = (QueryKind.BRAND, QueryKind.PRODUCT, QueryKind.COMPETITOR, QueryKind.COMPETITOR)
    names = ("Acme", "Acme Cloud", "Globex", "Initech")
    queries = [
        Query.objects.create(name=n, expression=n.lower(), kind=k) for n, k in zip(names, kinds, strict=True)
    ]
    mentions_copy(count=mentions, source_ids=[s.pk for s in sources], now=now, seed=seed)
    return sources, queries, tags_insert([q.pk for q in queries])


def paths_mix(
    rng: random.Random, now: datetime, query_id: int, source_id: int, count: int
) -> list[tuple[str, str]]:
    """(range label, path) pairs: random ranges ending at random recent moments, zones, filters."""
    out = []
    for _ in range(count):
        label = rng.choice(list(RANGES))
        end = now - timedelta(minutes=rng.randrange(0, 7 * 24 * 60))
        params = {
            "start": (end - RANGES[label]).isoformat(),
            "end": end.isoformat(),
            "tz": rng.choice(ZONES),
        }
        choice = rng.randrange(5)
        if choice == 1:
            params["query"] = str(query_id)
        elif choice == 2:
            params["source"] = str(source_id)
        elif choice == 3:
            params["lang"] = "en"
        elif choice == 4:
            params["group_by"] = "query"
        out.append((label, "/api/v1/metrics/timeseries?" + urlencode(params)))
    return out


def load(
    *, port: int, host: str, token: str, paths: list[tuple[str, str]], concurrency: int, seconds: float
) -> tuple[dict[str, list[float]], int, float]:
    """Clients with one keep-alive connection each, cycling through `paths` until the deadline.
    Returns latencies by range label, errors, and the elapsed wall time."""
    latencies: dict[str, list[float]] = {}
    errors = [0]
    lock = threading.Lock()
    headers = {"Host": host, "Authorization": f"Bearer {token}"}
    started_at = time.perf_counter()
    deadline = started_at + seconds

    def client(slot: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        index = slot
        while time.perf_counter() < deadline:
            label, path = paths[index % len(paths)]
            index += concurrency
            started = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            elapsed = time.perf_counter() - started
            with lock:
                if ok:
                    latencies.setdefault(label, []).append(elapsed)
                else:
                    errors[0] += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(slot,), daemon=True) for slot in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors[0], time.perf_counter() - started_at


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mentions", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=20.0, help="load time per endpoint (default 20)")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads (default 4)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.mentions < 1000 or args.seconds <= 0 or args.concurrency < 1:
        parser.error("--mentions >= 1000, --seconds and --concurrency positive")

    was_running = _common.django_start()
    from django.db import connection, connections
    from django.db.models import Count
    from django_tenants.utils import tenant_context

    from listening.models import Mention, MetricBucket
    from listening.services.metrics import metrics_rebuild
    from tenants.models import Membership, Role, TokenScope, User
    from tenants.services import tenant_create, tenant_domain, token_create

    server = None
    series: dict[str, list[float]] = {}
    me: list[float] = []
    errors = me_errors = 0
    elapsed_series = elapsed_me = 0.0
    try:
        _common.database_prepare()
        slug = f"{_common.SLUG_PREFIX}dashboard"
        tenant = tenant_create(name="Bench dashboard", slug=slug)
        user = User.objects.create_user(f"owner@{_common.EMAIL_DOMAIN}", full_name="Bench owner")
        Membership.objects.create(user=user, tenant=tenant, role=Role.OWNER)
        _, token = token_create(user=user, name="bench", scope=TokenScope.READ, tenants=[tenant])
        host = tenant_domain(slug)
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        with tenant_context(tenant):
            started = time.perf_counter()
            sources, query_list, tags = listening_fill(mentions=args.mentions, now=now, seed=args.seed)
            load_s = time.perf_counter() - started
            started = time.perf_counter()
            metrics_rebuild(start=now - timedelta(days=366), end=now + timedelta(days=1))
            rebuild_s = time.perf_counter() - started
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE listening_metricbucket")  # as autovacuum would, soon after
            mentions = Mention.objects.count()
            bucket_rows = dict(MetricBucket.objects.values_list("grain").annotate(n=Count("id")))
            rescan = rescan_ms(now)
            selector = selector_ms(now)
            query_id, source_id = query_list[0].pk, sources[1].pk
        print(
            f"{mentions:,} mentions and {tags:,} tags loaded in {load_s:.0f} s;"
            f" buckets rebuilt in {rebuild_s:.0f} s"
            f" ({', '.join(f'{g}s: {n:,}' for g, n in sorted(bucket_rows.items()))} rows)",
            flush=True,
        )
        connections.close_all()

        port = _free_port()
        server, log_path = server_start(port=port, workers=2, threads=4, token_rate="1000000/min")
        server_wait(server, port=port, host=host, log_path=log_path)
        paths = paths_mix(random.Random(args.seed), now, query_id, source_id, 2_000)
        me_paths = [("me", "/api/v1/me")]
        common = {"port": port, "host": host, "token": token, "concurrency": args.concurrency}
        load(**common, paths=paths, seconds=WARMUP_S)
        load(**common, paths=me_paths, seconds=WARMUP_S)
        slices = max(1, round(args.seconds / SLICE_S))
        for index in range(slices):
            runs = [("series", paths), ("me", me_paths)]
            if index % 2:
                runs.reverse()
            for kind, run_paths in runs:
                got, failed, elapsed = load(**common, paths=run_paths, seconds=args.seconds / slices)
                if kind == "series":
                    for label, values in got.items():
                        series.setdefault(label, []).extend(values)
                    errors += failed
                    elapsed_series += elapsed
                else:
                    me.extend(got.get("me", []))
                    me_errors += failed
                    elapsed_me += elapsed
            print(f"  slice {index + 1}/{slices} done", flush=True)
    finally:
        if server is not None:
            server_stop(server)
        _common.bench_data_drop()
        _common.database_stop(was_running)

    every = [v for values in series.values() for v in values]
    if not every or not me:
        print(f"no successful requests (errors {errors}, me errors {me_errors})", file=sys.stderr)
        return 1

    def pct(values: list[float], p: float) -> float:
        return _common.percentile(values, p) * 1000

    figures: dict[str, float] = {
        "mentions": mentions,
        "timeseries_p50_ms": pct(every, 50),
        "timeseries_p95_ms": pct(every, 95),
        "timeseries_p99_ms": pct(every, 99),
        "timeseries_requests_per_s": len(every) / elapsed_series,
        "errors": errors,
        "me_p50_ms": pct(me, 50),
        "me_p95_ms": pct(me, 95),
        "me_requests_per_s": len(me) / elapsed_me,
        "p95_over_me_x": pct(every, 95) / pct(me, 95),
        "rescan_1y_ms": rescan,
        **selector,
        "rebuild_s": rebuild_s,
        "load_mentions_s": load_s,
        "tags": tags,
        "bucket_rows": sum(bucket_rows.values()),
        "concurrency": args.concurrency,
    }
    for label in RANGES:
        if series.get(label):
            figures[f"timeseries_{label}_p95_ms"] = pct(series[label], 95)
    figures = {k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}
    print(f"\ndashboard: {mentions:,} mentions, gunicorn 2x4, {args.concurrency} keep-alive clients\n")
    rows = [
        (f"timeseries {label}", f"{pct(v, 50):.1f}", f"{pct(v, 95):.1f}", str(len(v)))
        for label, v in ((label, series.get(label, [])) for label in RANGES)
        if v
    ]
    rows.append(("timeseries (all)", f"{pct(every, 50):.1f}", f"{pct(every, 95):.1f}", str(len(every))))
    rows.append(("GET /api/v1/me (baseline)", f"{pct(me, 50):.1f}", f"{pct(me, 95):.1f}", str(len(me))))
    _common.table_print(("endpoint", "p50 ms", "p95 ms", "requests"), rows)
    print(f"\nnaive rescan of a year (GROUP BY day over the mentions, SQL only): {rescan:.0f} ms")
    print(
        "series selector in-process (Berlin days): " + ", ".join(f"{k} {v:.1f}" for k, v in selector.items())
    )
    written = _common.results_write("dashboard", figures)
    print(f"figures written to {written.relative_to(_common.REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
