"""Benchmark: a crisis-shaped load on the real web server.

Starts gunicorn (`config.wsgi`, `--workers` x `--threads`, as `make run` does) on a free loopback
port, against the benchmark's own embedded database, with a tenant holding `--mentions` enriched
mentions of the past weeks (written with COPY, metric buckets rebuilt, as bench/dashboard.py does).

Two phases, in this order, on the same server:

1. Baseline (`--baseline-seconds`): `--users` portal users (signed-in sessions) read the dashboard:
   each user loops over the dashboard page (`/listening/dashboard/`) and a time-series call
   (`/api/v1/metrics/timeseries`, a random range, zone and filter), thinking `--think` seconds
   between requests. No ingest.
2. Crisis (`--seconds`): the same users, while a bulk-API client ingests mentions in a repeating
   cycle: `--base-rate` mentions per second for 20 s, then ten times that for 10 s (the burst), in
   batches of `--batch` mentions through `POST /api/v1/sources/<id>/mentions`.

Enrichment tasks queue on the benchmark's filesystem broker with no worker: this measures the web
tier (what a crisis does to dashboard readers), not the pipeline (bench/ingest.py, bench/enrich.py).
Reported: dashboard p50/p95/p99 with and without ingest, ingest p50/p95/p99 per batch and the
mentions stored per second, and every error (non-2xx answer or failed connection) of both phases.

    .venv/bin/python bench/load.py [--seconds 180] [--users 50] [--base-rate 20]
"""

from __future__ import annotations

import argparse
import http.client
import json
import queue
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import _common
import api_latency
from api_latency import _free_port, server_start, server_stop, server_wait
from dashboard import listening_fill, paths_mix

DASHBOARD_PAGE = "/listening/dashboard/"
CYCLE_BASE_S = 20.0
CYCLE_BURST_S = 10.0
BURST_FACTOR = 10
WARMUP_S = 5.0
# Several workers importing the app (torch included) on a busy 2-core machine take longer to answer
# than api_latency's default minute.
api_latency.READY_TIMEOUT_S = 300.0


@dataclass
class Tally:
    """Latencies of successful requests and failures, shared by the client threads."""

    latencies_s: list[float] = field(default_factory=list)
    errors: int = 0
    items: int = 0
    released: int = 0  # ingest: mentions the schedule released, sent or not
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ok(self, seconds: float, items: int = 0) -> None:
        with self.lock:
            self.latencies_s.append(seconds)
            self.items += items

    def failed(self, what: str) -> None:
        with self.lock:
            self.errors += 1
            if len(self.failures) < 5:
                self.failures.append(what)

    def pct_ms(self, pct: float) -> float:
        return _common.percentile(self.latencies_s, pct) * 1000


STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


def _request(conn: http.client.HTTPConnection, method: str, path: str, headers: dict[str, str], body=None):
    """One request on a keep-alive connection. gunicorn closes a connection idle for longer than its
    keep-alive (2 s), which a user thinking or a sender between batches often is: as browsers and
    HTTP client libraries do, the request is sent again once on a fresh connection (both requests
    here are safe to repeat: reads, and bulk ingest keyed by external id)."""
    for attempt in (1, 2):
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        except STALE:
            conn.close()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def dashboard_users(
    *, port: int, host: str, cookies: list[str], paths: list[tuple[str, str]], think_s: float, seconds: float
) -> dict[str, Tally]:
    """One thread per user: the dashboard page, then a time-series call, thinking between them."""
    tallies = {"page": Tally(), "timeseries": Tally()}
    deadline = time.perf_counter() + seconds

    def user(slot: int) -> None:
        rng = random.Random(slot)
        headers = {"Host": host, "Cookie": f"sessionid={cookies[slot]}"}
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        # Users arrive spread over one think time, not all in the same millisecond.
        time.sleep(rng.random() * think_s)
        step = 0
        while time.perf_counter() < deadline:
            kind, path = ("page", DASHBOARD_PAGE) if step % 2 == 0 else ("timeseries", rng.choice(paths)[1])
            step += 1
            started = time.perf_counter()
            try:
                status, body = _request(conn, "GET", path, headers)
            except (OSError, http.client.HTTPException) as error:
                tallies[kind].failed(f"{path}: {error!r}")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            else:
                if status == 200:
                    tallies[kind].ok(time.perf_counter() - started)
                else:
                    tallies[kind].failed(f"{path}: {status} {body[:200]!r}")
            time.sleep(rng.expovariate(1 / think_s) if think_s > 0 else 0)
        conn.close()

    threads = [threading.Thread(target=user, args=(slot,), daemon=True) for slot in range(len(cookies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return tallies


def ingest_client(
    *,
    port: int,
    host: str,
    token: str,
    source_id: int,
    base_rate: float,
    batch: int,
    seconds: float,
    senders: int,
) -> Tally:
    """Batches released on a schedule (`base_rate` mentions/s, ten times that during each burst) and
    posted by `senders` connections, so a slow answer does not hold back the next batch."""
    tally = Tally()
    headers = {"Host": host, "Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    path = f"/api/v1/sources/{source_id}/mentions"
    released: queue.Queue[list[dict[str, object]] | None] = queue.Queue()
    now = datetime.now(UTC)

    def sender() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while (items := released.get()) is not None:
            began = time.perf_counter()
            try:
                status, body = _request(conn, "POST", path, headers, json.dumps(items).encode())
            except (OSError, http.client.HTTPException) as error:
                tally.failed(f"ingest: {error!r}")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                continue
            if status == 200 and json.loads(body)["stored"] + json.loads(body)["duplicates"] == len(items):
                tally.ok(time.perf_counter() - began, items=len(items))
            else:
                tally.failed(f"ingest: {status} {body[:200]!r}")
        conn.close()

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(senders)]
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    due = 0.0
    serial = 0
    while (elapsed := time.perf_counter() - started) < seconds:
        cycle = elapsed % (CYCLE_BASE_S + CYCLE_BURST_S)
        due += base_rate * (BURST_FACTOR if cycle >= CYCLE_BASE_S else 1) * 0.05
        while due >= batch:
            due -= batch
            released.put(
                [
                    {
                        "external_id": f"load-{serial + i}",
                        "text": f"Acme cloud outage report {serial + i}: nothing loads #acmedown",
                        "posted_at": (now - timedelta(seconds=i)).isoformat(),
                        "author_handle": f"user{(serial + i) % 7000}",
                        "author_followers": (serial + i) * 37 % 50_000,
                    }
                    for i in range(batch)
                ]
            )
            serial += batch
        time.sleep(0.05)
    for _ in threads:
        released.put(None)
    for thread in threads:
        thread.join()
    tally.released = serial
    return tally


def sessions_create(user, count: int) -> list[str]:
    """Signed-in portal sessions for `user`, as `login()` writes them (one per simulated reader)."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    keys = []
    for _ in range(count):
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        keys.append(session.session_key)
    return keys


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=180.0, help="crisis phase (default 180)")
    parser.add_argument("--baseline-seconds", type=float, default=60.0, help="baseline phase (default 60)")
    parser.add_argument("--users", type=int, default=50, help="concurrent dashboard readers (default 50)")
    parser.add_argument("--think", type=float, default=1.0, help="mean think time per user, s (default 1)")
    parser.add_argument("--base-rate", type=float, default=20.0, help="mentions/s off-burst (default 20)")
    parser.add_argument("--batch", type=int, default=50, help="mentions per bulk request (default 50)")
    parser.add_argument("--senders", type=int, default=8, help="concurrent ingest connections (default 8)")
    parser.add_argument("--mentions", type=int, default=100_000, help="mentions loaded first (default 100k)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (default 4)")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker (default 4)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if min(args.seconds, args.baseline_seconds, args.base_rate) <= 0 or args.users < 1 or args.batch < 1:
        parser.error("durations, --users, --base-rate and --batch must be positive")

    was_running = _common.django_start()
    from django.db import connections
    from django_tenants.utils import tenant_context

    from listening.services.metrics import metrics_rebuild
    from tenants.models import Membership, Role, TokenScope, User
    from tenants.services import tenant_create, tenant_domain, token_create

    server = None
    try:
        _common.database_prepare()
        slug = f"{_common.SLUG_PREFIX}load"
        tenant = tenant_create(name="Bench load", slug=slug)
        user = User.objects.create_user(f"owner@{_common.EMAIL_DOMAIN}", full_name="Bench owner")
        Membership.objects.create(user=user, tenant=tenant, role=Role.OWNER)
        _, token = token_create(user=user, name="bench", scope=TokenScope.WRITE, tenants=[tenant])
        cookies = sessions_create(user, args.users)
        host = tenant_domain(slug)
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        with tenant_context(tenant):
            sources, queries, _ = listening_fill(mentions=args.mentions, now=now, seed=args.seed)
            metrics_rebuild(start=now - timedelta(days=366), end=now + timedelta(days=1))
        connections.close_all()
        paths = paths_mix(random.Random(args.seed), now, queries[0].pk, sources[1].pk, 2_000)

        port = _free_port()
        server, log_path = server_start(
            port=port, workers=args.workers, threads=args.threads, token_rate="1000000/min"
        )
        server_wait(server, port=port, host=host, log_path=log_path)
        common = {"port": port, "host": host, "cookies": cookies, "paths": paths, "think_s": args.think}
        dashboard_users(**common, seconds=WARMUP_S)

        print(f"baseline: {args.users} dashboard users, no ingest, {args.baseline_seconds:g} s", flush=True)
        baseline = dashboard_users(**common, seconds=args.baseline_seconds)

        print(
            f"crisis: {args.users} dashboard users while ingesting {args.base_rate:g} mentions/s,"
            f" {BURST_FACTOR}x in bursts, {args.seconds:g} s",
            flush=True,
        )
        ingest: dict[str, Tally] = {}

        def ingest_run() -> None:
            ingest["bulk"] = ingest_client(
                port=port,
                host=host,
                token=token,
                source_id=sources[0].pk,
                base_rate=args.base_rate,
                batch=args.batch,
                seconds=args.seconds,
                senders=args.senders,
            )

        ingester = threading.Thread(target=ingest_run, daemon=True)
        started = time.perf_counter()
        ingester.start()
        crisis = dashboard_users(**common, seconds=args.seconds)
        ingester.join()
        crisis_s = time.perf_counter() - started
    finally:
        if server is not None:
            server_stop(server)
        _common.bench_data_drop()
        _common.database_stop(was_running)

    bulk = ingest["bulk"]

    def both(tallies: dict[str, Tally]) -> Tally:
        merged = Tally()
        for tally in tallies.values():
            merged.latencies_s += tally.latencies_s
            merged.errors += tally.errors
            merged.failures += tally.failures
        return merged

    dash, base = both(crisis), both(baseline)
    errors = dash.errors + base.errors + bulk.errors
    for failure in (dash.failures + base.failures + bulk.failures)[:5]:
        print(f"  error: {failure}", file=sys.stderr)
    if not dash.latencies_s or not base.latencies_s or not bulk.latencies_s:
        print("no successful requests in a phase", file=sys.stderr)
        return 1
    figures: dict[str, float] = {
        "errors": errors,
        "dashboard_p50_ms": dash.pct_ms(50),
        "dashboard_p95_ms": dash.pct_ms(95),
        "dashboard_p99_ms": dash.pct_ms(99),
        "dashboard_page_p95_ms": crisis["page"].pct_ms(95),
        "dashboard_timeseries_p95_ms": crisis["timeseries"].pct_ms(95),
        "dashboard_requests_per_s": len(dash.latencies_s) / crisis_s,
        "baseline_dashboard_p50_ms": base.pct_ms(50),
        "baseline_dashboard_p95_ms": base.pct_ms(95),
        "baseline_dashboard_p99_ms": base.pct_ms(99),
        "baseline_dashboard_requests_per_s": len(base.latencies_s) / args.baseline_seconds,
        "dashboard_p95_over_baseline_x": dash.pct_ms(95) / base.pct_ms(95),
        "ingest_p50_ms": bulk.pct_ms(50),
        "ingest_p95_ms": bulk.pct_ms(95),
        "ingest_p99_ms": bulk.pct_ms(99),
        "ingest_mentions_per_s": bulk.items / crisis_s,
        "ingest_offered_mentions_per_s": bulk.released / crisis_s,
        "ingest_requests": len(bulk.latencies_s),
        "users": args.users,
        "think_s": args.think,
        "base_rate_mentions_per_s": args.base_rate,
        "burst_rate_mentions_per_s": args.base_rate * BURST_FACTOR,
        "crisis_seconds": args.seconds,
        "baseline_seconds": args.baseline_seconds,
        "server_workers": args.workers,
        "server_threads": args.threads,
    }
    figures = {k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}
    print(
        f"\nload: gunicorn {args.workers} workers x {args.threads} threads, {args.users} dashboard users"
        f" (think {args.think:g} s), ingest {args.base_rate:g}/s with {BURST_FACTOR}x bursts\n"
    )
    rows = []
    for label, tally, seconds in (
        ("dashboard, no ingest (baseline)", base, args.baseline_seconds),
        ("dashboard during ingest", dash, crisis_s),
        ("  page", crisis["page"], crisis_s),
        ("  timeseries API", crisis["timeseries"], crisis_s),
        (f"bulk ingest ({args.batch}/request)", bulk, crisis_s),
    ):
        rows.append(
            (
                label,
                f"{tally.pct_ms(50):.0f}",
                f"{tally.pct_ms(95):.0f}",
                f"{tally.pct_ms(99):.0f}",
                f"{len(tally.latencies_s) / seconds:.1f}",
                str(tally.errors),
            )
        )
    _common.table_print(("requests", "p50 ms", "p95 ms", "p99 ms", "req/s", "errors"), rows)
    print(
        f"\ningested {figures['ingest_mentions_per_s']:.0f} mentions/s; dashboard p95 during ingest"
        f" {figures['dashboard_p95_over_baseline_x']:.2f}x the baseline's; errors {errors}"
    )
    written = _common.results_write("load", figures)
    print(f"figures written to {written.relative_to(_common.REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
