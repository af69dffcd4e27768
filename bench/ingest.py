"""Benchmark: ingest through the bulk API, next to a plain PostgreSQL COPY of the same rows.

Starts the real web server (gunicorn, as `make run` does) on the benchmark database, creates a
tenant with an API source and a write token, and POSTs N real tweets (SemEval texts, `--data`) as
JSON arrays of `--batch` mentions from `--clients` concurrent senders. Every request does what
production does: parse and validate each item, insert with ON CONFLICT, queue enrichment after
commit. The baseline is psycopg's COPY of the same rows into a table built LIKE the mentions table
(same columns and indexes), in the same tenant schema, in the same run.

    .venv/bin/python bench/ingest.py [--mentions 50000] [--batch 5000] [--clients 2] [--data PATH]
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import _common
from _texts import DEFAULT_DATA, tweet_texts
from api_latency import _free_port, server_start, server_stop, server_wait

TOKEN_RATE = "1000000/min"


def _items(texts: list[str], count: int, run: str) -> list[dict[str, object]]:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    return [
        {
            "external_id": f"{run}-{i}",
            "text": texts[i % len(texts)],
            "posted_at": (start + timedelta(seconds=7 * i)).isoformat(),
            "author_handle": f"user{i % 5000}",
            "author_name": f"User {i % 5000}",
            "author_followers": (i * 37) % 100_000,
            "url": f"https://social.example/p/{run}-{i}",
        }
        for i in range(count)
    ]


def _post_all(port: int, host: str, token: str, source_id: int, batches: list[bytes], clients: int) -> float:
    queue = list(enumerate(batches))
    lock = threading.Lock()
    failures: list[str] = []

    def sender() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        while True:
            with lock:
                if not queue:
                    break
                _, body = queue.pop(0)
            conn.request(
                "POST",
                f"/api/v1/sources/{source_id}/mentions",
                body=body,
                headers={
                    "Host": host,
                    "Authorization": f"Bearer {token}",
                    "Content-Type": "application/json",
                },
            )
            response = conn.getresponse()
            answer = response.read()
            if response.status != 200 or json.loads(answer)["rejected"]:
                failures.append(f"{response.status}: {answer[:200]!r}")
        conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=sender) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} bulk requests failed, e.g. {failures[0]}")
    return elapsed


def _copy(schema: str, items: list[dict[str, object]], source_id: int) -> float:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f'SET search_path = "{schema}", public')
        cursor.execute("DROP TABLE IF EXISTS bench_copy")
        cursor.execute("CREATE TABLE bench_copy (LIKE listening_mention INCLUDING ALL)")
        columns = (
            "source_id",
            "external_id",
            "text",
            "author_handle",
            "author_name",
            "author_followers",
            "url",
            "posted_at",
            "received_at",
            "lang_hint",
            "raw",
            "lang",
            "sentiment",
            "is_share",
            "enrich_attempts",
        )
        now = datetime.now(UTC)
        rows = [
            (
                source_id,
                f"copy-{item['external_id']}",
                item["text"],
                item["author_handle"],
                item["author_name"],
                item["author_followers"],
                item["url"],
                item["posted_at"],
                now,
                "",
                json.dumps(item),
                "",
                "",
                False,
                0,
            )
            for item in items
        ]
        started = time.perf_counter()
        with cursor.cursor.copy(f"COPY bench_copy ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        elapsed = time.perf_counter() - started
        cursor.execute("DROP TABLE bench_copy")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mentions", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=5_000, help="mentions per request (at most 10,000)")
    parser.add_argument("--clients", type=int, default=2, help="concurrent senders")
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="the sentiment data folder (SemEval texts)"
    )
    args = parser.parse_args()
    texts = tweet_texts(args.data, 20_000)

    was_running = _common.django_start()
    _common.database_prepare()
    from django_tenants.utils import tenant_context

    from listening.models import Source, SourceKind
    from tenants.models import Membership, Role, User
    from tenants.services import tenant_create, token_create

    port = _free_port()
    tenant = tenant_create(name="Bench ingest", slug=f"{_common.SLUG_PREFIX}ingest")
    host = f"{tenant.slug}.localhost"
    user = User.objects.create_user(f"ingest@{_common.EMAIL_DOMAIN}", "x" * 20)
    Membership.objects.create(user=user, tenant=tenant, role=Role.OWNER)
    _, token = token_create(user=user, name="bench", scope="write", tenants=[tenant])
    with tenant_context(tenant):
        source = Source.objects.create(name="bench api", kind=SourceKind.API)
    items = _items(texts, args.mentions, "api")
    batches = [json.dumps(items[i : i + args.batch]).encode() for i in range(0, len(items), args.batch)]
    server, log = server_start(port=port, workers=2, threads=4, token_rate=TOKEN_RATE)
    try:
        server_wait(server, port=port, host=host, log_path=log)
        # Warm-up: one small request, so process start-up is not counted.
        _post_all(port, host, token, source.pk, [json.dumps(_items(texts, 10, "warm")).encode()], 1)
        api_s = _post_all(port, host, token, source.pk, batches, args.clients)
    finally:
        server_stop(server)
    copy_s = _copy(tenant.schema_name, items, source.pk)
    with tenant_context(tenant):
        stored = source.mentions.count()
    _common.bench_data_drop()
    _common.database_stop(was_running)
    if stored != args.mentions + 10:
        raise SystemExit(f"stored {stored} mentions, expected {args.mentions + 10}")

    figures = {
        "mentions": args.mentions,
        "batch_mentions": args.batch,
        "clients": args.clients,
        "bulk_api_mentions_per_s": round(args.mentions / api_s, 1),
        "copy_rows_per_s": round(args.mentions / copy_s, 1),
        "copy_over_api_x": round(api_s / copy_s, 2),
    }
    _common.table_print(["figure", "value"], [(k, str(v)) for k, v in figures.items()])
    _common.results_write("ingest", figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
