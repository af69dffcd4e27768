"""Benchmark: the inbox list endpoint with many waiting items, next to the mention stream's.

Fills a benchmark tenant with `--items` enriched mentions, each queued in the inbox (SQL, not the
models: this measures reading), most of them waiting, then loads `GET /api/v1/inbox` (ranked by
priority plus the waiting bonus, as of the request) and, as the baseline, `GET /api/v1/mentions`
(newest first, on its index) through Django's in-process test client with a read token, in
alternating slices, `--requests` each. Both answer the first page (50 rows) with its people and
sources. The inbox sorts every waiting item by a score that changes with time, so it cannot walk
an index the way the stream does: `inbox_over_mentions_x` is the price of that.

    .venv/bin/python bench/inbox.py [--items 50000] [--requests 60]
"""

from __future__ import annotations

import argparse
import sys
import time

import _common


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--requests", type=int, default=60)
    args = parser.parse_args()

    was_running = _common.django_start()
    _common.database_prepare()
    from django.db import connection
    from django.test import Client
    from django_tenants.utils import tenant_context

    from listening.models import Source, SourceKind
    from tenants.models import Membership, Role, User
    from tenants.services import tenant_create, tenant_domain, token_create

    try:
        tenant = tenant_create(name="Bench inbox", slug=f"{_common.SLUG_PREFIX}inbox")
        user = User.objects.create_user(f"inbox@{_common.EMAIL_DOMAIN}", "x" * 20, full_name="Bench")
        Membership.objects.create(user=user, tenant=tenant, role=Role.ADMIN)
        _, raw = token_create(user=user, name="bench", scope="read", tenants=[tenant])
        with tenant_context(tenant):
            source = Source.objects.create(name="bench", kind=SourceKind.API)
            started = time.perf_counter()
            with connection.cursor() as cursor:
                cursor.execute(
                    """
                    INSERT INTO listening_mention (source_id, external_id, text, author_handle, author_name,
                        author_followers, url, posted_at, received_at, lang_hint, raw, lang, sentiment,
                        sentiment_score, is_share, enriched_at, enrich_attempts)
                    SELECT %s, 'm' || i, 'Is Acme down in region ' || i || '?', 'user' || (i %% 5000), '',
                        (i * 7919) %% 200000, '', now() - (i || ' seconds')::interval,
                        now() - (i || ' seconds')::interval, '', '{}', 'en', 'negative', 0.8, false, now(), 1
                    FROM generate_series(1, %s) AS i
                    """,
                    [source.pk, args.items],
                )
                cursor.execute(
                    """
                    INSERT INTO listening_inboxitem (mention_id, reasons, priority, status, assignee_id,
                        draft, reply, received_at, created_at, updated_at)
                    SELECT id, ARRAY['question', 'negative'], 15 + (id * 37 %% 6000) / 100.0,
                        CASE WHEN id %% 10 = 0 THEN 'answered' WHEN id %% 3 = 0 THEN 'assigned'
                            ELSE 'new' END,
                        CASE WHEN id %% 3 = 0 THEN %s END, '', '', received_at, now(), now()
                    FROM listening_mention
                    """,
                    [user.pk],
                )
                cursor.execute("ANALYZE listening_mention; ANALYZE listening_inboxitem")
            fill_s = time.perf_counter() - started

        client = Client(HTTP_HOST=tenant_domain(tenant.slug), HTTP_AUTHORIZATION=f"Bearer {raw}")
        urls = {"inbox": "/api/v1/inbox?page_size=50", "mentions": "/api/v1/mentions?page_size=50"}
        timings: dict[str, list[float]] = {name: [] for name in urls}
        for url in urls.values():  # warm-up, uncounted
            assert client.get(url).status_code == 200
        slice_size = 10
        for start in range(0, args.requests, slice_size):
            order = list(urls) if (start // slice_size) % 2 == 0 else list(reversed(urls))
            for name in order:
                for _ in range(min(slice_size, args.requests - start)):
                    began = time.perf_counter()
                    response = client.get(urls[name])
                    timings[name].append((time.perf_counter() - began) * 1000)
                    assert response.status_code == 200 and len(response.json()["results"]) == 50
    finally:
        _common.bench_data_drop()
        _common.database_stop(was_running)

    figures = {
        "items": args.items,
        "fill_s": round(fill_s, 2),
        "inbox_p50_ms": round(_common.percentile(timings["inbox"], 50), 1),
        "inbox_p95_ms": round(_common.percentile(timings["inbox"], 95), 1),
        "mentions_p50_ms": round(_common.percentile(timings["mentions"], 50), 1),
        "mentions_p95_ms": round(_common.percentile(timings["mentions"], 95), 1),
    }
    figures["inbox_over_mentions_x"] = round(figures["inbox_p95_ms"] / figures["mentions_p95_ms"], 2)
    _common.table_print(
        ["endpoint", "p50 ms", "p95 ms"],
        [
            ["GET /api/v1/inbox", f"{figures['inbox_p50_ms']}", f"{figures['inbox_p95_ms']}"],
            [
                "GET /api/v1/mentions (baseline)",
                f"{figures['mentions_p50_ms']}",
                f"{figures['mentions_p95_ms']}",
            ],
        ],
    )
    print(f"{args.items:,} inbox items; inbox p95 / mentions p95 = {figures['inbox_over_mentions_x']}x")
    print(f"written: {_common.results_write('inbox', figures)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
