"""The crisis-risk score's 5-minute run for one tenant: how long scoring one closed bucket takes.

A tenant gets `--days` of realistic mentions (`--per-bucket` every 5 minutes, a tenth negative, some
with crisis language, a few by high-reach authors, and an angry surge near the end), counted into
the metric buckets by listening's rebuild; the scorer is warmed up over that history. Then each of
`--runs` consecutive runs scores the one bucket that just closed, through
`crisis.risk_services.risk_score_run` (lock the state, read the bucket's signals, restore the stream,
features, LightGBM with TreeSHAP factor points, evidence mentions, snapshot, alert policy, state
saved): `run_p50_ms`, `run_p95_ms`. Next to it, measured on the same buckets in the same run,
reading the bucket's signals alone (`crisis.risk_selectors.risk_signals`): `baseline_read_p50_ms`,
`baseline_read_p95_ms`.

Run: `.venv/bin/python bench/risk_latency.py [--days 3] [--per-bucket 20] [--runs 60]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta

import _common

_MENTIONS = """
    INSERT INTO listening_mention (source_id, external_id, text, author_handle, author_name,
        author_followers, url, posted_at, received_at, lang_hint, raw, lang, sentiment, is_share,
        crisis_language, enriched_at, enrich_attempts)
    SELECT %(source)s, extract(epoch FROM b)::bigint || '-' || i,
           CASE WHEN a.angry THEN 'Acme is down again, outage, refund now' ELSE 'Using Acme for reports' END,
           'author' || (i %% 97), '',
           CASE WHEN i %% 40 = 0 THEN 50000 ELSE 120 END,
           '', b + make_interval(secs => (i * 7) %% 290), b, '', '{}', 'en',
           CASE WHEN a.angry THEN 'negative' ELSE 'neutral' END, false, a.angry, b, 1
    FROM generate_series(%(start)s::timestamptz, %(last)s::timestamptz, interval '5 minutes') AS b
    CROSS JOIN LATERAL generate_series(0, CASE WHEN b >= %(surge)s THEN %(n)s * 4 ELSE %(n)s END - 1) AS i
    CROSS JOIN LATERAL (SELECT (i %% 10 = 0) OR (b >= %(surge)s AND i %% 3 = 0) AS angry) AS a
"""


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, default=3, help="history scored before timing (default 3)")
    parser.add_argument("--per-bucket", type=int, default=20, help="mentions every 5 minutes (default 20)")
    parser.add_argument("--runs", type=int, default=60, help="timed 5-minute runs (default 60)")
    args = parser.parse_args()
    if args.days < 1 or args.per_bucket < 1 or args.runs < 10:
        parser.error("--days and --per-bucket must be at least 1, --runs at least 10")

    was_running = _common.django_start()
    from django.db import connection
    from django_tenants.utils import tenant_context

    from crisis.ml.risk import RiskModel
    from crisis.risk_selectors import BUCKET, bucket_floor, risk_signals
    from crisis.risk_services import risk_score_run
    from listening.models import Source, SourceKind
    from listening.services.metrics import metrics_rebuild
    from tenants.services import tenant_create

    try:
        _common.database_prepare()
        tenant = tenant_create(name="Bench risk", slug=f"{_common.SLUG_PREFIX}risk")
        with tenant_context(tenant):
            source = Source.objects.create(name="bench feed", kind=SourceKind.API)
            first = bucket_floor(datetime.now(UTC)) - timedelta(days=args.days)
            timed_start = first + timedelta(days=args.days) - args.runs * BUCKET
            end = first + timedelta(days=args.days)
            with connection.cursor() as cursor:
                cursor.execute(
                    _MENTIONS,
                    {
                        "source": source.pk,
                        "start": first,
                        "last": end - BUCKET,
                        "surge": timed_start + args.runs // 2 * BUCKET,
                        "n": args.per_bucket,
                    },
                )
                cursor.execute("SELECT count(*) FROM listening_mention")
                mentions = int(cursor.fetchone()[0])
                cursor.execute("ANALYZE listening_mention")
            metrics_rebuild(start=first, end=end)
            RiskModel.load()
            moment = first + timedelta(hours=6)
            while moment < timed_start:  # warm up a day at a time (the catch-up bound)
                moment = min(moment + timedelta(hours=23), timed_start)
                risk_score_run(now=moment + timedelta(minutes=1, seconds=30))
            run_ms: list[float] = []
            read_ms: list[float] = []
            for i in range(args.runs):
                bucket = timed_start + i * BUCKET
                now = bucket + BUCKET + timedelta(minutes=1, seconds=30)
                started = time.perf_counter()
                written = risk_score_run(now=now)
                run_ms.append((time.perf_counter() - started) * 1000)
                assert len(written) == 1 and written[0].bucket_start == bucket, (written, bucket)
                started = time.perf_counter()
                signals = risk_signals(start=bucket, end=bucket + BUCKET)
                read_ms.append((time.perf_counter() - started) * 1000)
                assert len(signals) == 1
    finally:
        _common.bench_data_drop()
        _common.database_stop(was_running)

    figures = {
        "run_p50_ms": round(statistics.median(run_ms), 2),
        "run_p95_ms": round(_common.percentile(run_ms, 95), 2),
        "baseline_read_p50_ms": round(statistics.median(read_ms), 2),
        "baseline_read_p95_ms": round(_common.percentile(read_ms, 95), 2),
        "runs": args.runs,
        "mentions": mentions,
        "per_bucket": args.per_bucket,
        "cpu_count": os.cpu_count() or 0,
    }
    _common.table_print(
        ["what", "p50 ms", "p95 ms"],
        [
            [
                "5-minute run (score one bucket)",
                f"{figures['run_p50_ms']:.1f}",
                f"{figures['run_p95_ms']:.1f}",
            ],
            [
                "baseline: read the bucket's signals",
                f"{figures['baseline_read_p50_ms']:.1f}",
                f"{figures['baseline_read_p95_ms']:.1f}",
            ],
        ],
    )
    path = _common.results_write("risk_latency", figures)
    print(f"{mentions:,} mentions over {args.days} days; results in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
