"""Benchmark: what one dashboard request costs in-process, single-threaded, and how many queries.

Builds the tenant bench/load.py reads (`--mentions` enriched mentions over the past year, default
100,000, written with COPY; metric buckets rebuilt) and a signed-in portal session, then sends
requests through Django's test client (the whole middleware stack: tenant routing, session,
authentication, CSRF, the view, rendering; no web server, no network) one at a time, as load.py's
readers do: the dashboard page (`/listening/dashboard/`) and time-series calls from the same random
mix (`dashboard.paths_mix`: range, time zone, filter). Per request: this process's CPU time
(`time.process_time`, the Python side of the budget), wall time (adds the database's share) and the
number of SQL queries. The baseline in the same run, interleaved, is a static file on the same host
(`/static/img/candor.svg`): tenant routing and the middleware up to whitenoise, no session, no view.

`--profile page` (or `timeseries`) also prints cProfile's top functions over those requests, and
`--show-queries` the SQL of one request of each kind.

    .venv/bin/python bench/dashboard_cpu.py [--mentions 100000] [--requests 300] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import _common
from dashboard import listening_fill, paths_mix
from load import DASHBOARD_PAGE, sessions_create

BASELINE_PATH = "/static/img/candor.svg"
WARMUP = 20


@dataclass
class Costs:
    cpu_s: list[float] = field(default_factory=list)
    wall_s: list[float] = field(default_factory=list)
    queries: list[int] = field(default_factory=list)

    def median_ms(self, values: list[float]) -> float:
        return statistics.median(values) * 1000

    def p95_ms(self, values: list[float]) -> float:
        return _common.percentile(values, 95) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mentions", type=int, default=100_000, help="mentions loaded first (default 100k)")
    parser.add_argument("--requests", type=int, default=300, help="requests of each kind (default 300)")
    parser.add_argument(
        "--profile", choices=["page", "timeseries"], help="print cProfile's top functions for these requests"
    )
    parser.add_argument("--show-queries", action="store_true", help="print one request's SQL of each kind")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.mentions < 1000 or args.requests < 1:
        parser.error("--mentions >= 1000 and --requests positive")

    # As load.py's server: the benchmark measures the requests, not the per-caller limit (600/min).
    os.environ["API_TOKEN_RATE"] = "1000000/min"
    was_running = _common.django_start()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django_tenants.utils import tenant_context

    from listening.services.metrics import metrics_rebuild
    from tenants.models import Membership, Role, User
    from tenants.services import tenant_create, tenant_domain

    costs = {"page": Costs(), "timeseries": Costs(), "static": Costs()}
    profiler = cProfile.Profile() if args.profile else None
    try:
        _common.database_prepare()
        slug = f"{_common.SLUG_PREFIX}cpu"
        tenant = tenant_create(name="Bench CPU", slug=slug)
        user = User.objects.create_user(f"owner@{_common.EMAIL_DOMAIN}", full_name="Bench owner")
        Membership.objects.create(user=user, tenant=tenant, role=Role.OWNER)
        (cookie,) = sessions_create(user, 1)
        host = tenant_domain(slug)
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        with tenant_context(tenant):
            sources, queries, _ = listening_fill(mentions=args.mentions, now=now, seed=args.seed)
            metrics_rebuild(start=now - timedelta(days=366), end=now + timedelta(days=1))
        connection.set_schema_to_public()  # type: ignore[attr-defined]
        paths = paths_mix(random.Random(args.seed), now, queries[0].pk, sources[1].pk, 2_000)

        client = Client(HTTP_HOST=host)
        client.cookies["sessionid"] = cookie

        def send(kind: str, path: str, index: int) -> None:
            record = index >= WARMUP
            # The log keeps the last 9,000 statements: a full one would count none.
            connection.queries_log.clear()
            cpu, wall = time.process_time(), time.perf_counter()
            with CaptureQueriesContext(connection) as captured:
                if profiler is not None and record and kind == args.profile:
                    profiler.enable()
                response = client.get(path)
                if kind == "static":
                    b"".join(response.streaming_content)  # whitenoise streams the file
                if profiler is not None:
                    profiler.disable()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            if response.status_code != 200:
                raise RuntimeError(f"GET {path} answered {response.status_code}: {response.content[:300]!r}")
            if args.show_queries and index == WARMUP and kind != "static":
                print(f"\n{kind}: {len(captured.captured_queries)} queries")
                for query in captured.captured_queries:
                    print(f"  {query['sql'][:300]}")
            if record:
                costs[kind].cpu_s.append(cpu)
                costs[kind].wall_s.append(wall)
                costs[kind].queries.append(len(captured.captured_queries))

        for index in range(WARMUP + args.requests):
            send("page", DASHBOARD_PAGE, index)
            send("timeseries", paths[index % len(paths)][1], index)
            send("static", BASELINE_PATH, index)
    finally:
        _common.bench_data_drop()
        _common.database_stop(was_running)

    figures: dict[str, float] = {}
    rows = []
    for kind, label in (
        ("page", f"GET {DASHBOARD_PAGE}"),
        ("timeseries", "GET /api/v1/metrics/timeseries (mix)"),
        ("static", f"GET {BASELINE_PATH} (baseline)"),
    ):
        c = costs[kind]
        figures.update(
            {
                f"{kind}_cpu_ms": c.median_ms(c.cpu_s),
                f"{kind}_cpu_p95_ms": c.p95_ms(c.cpu_s),
                f"{kind}_wall_ms": c.median_ms(c.wall_s),
                f"{kind}_wall_p95_ms": c.p95_ms(c.wall_s),
                f"{kind}_queries": statistics.median(c.queries),
                f"{kind}_queries_max": max(c.queries),
            }
        )
        rows.append(
            (
                label,
                f"{c.median_ms(c.cpu_s):.1f}",
                f"{c.p95_ms(c.cpu_s):.1f}",
                f"{c.median_ms(c.wall_s):.1f}",
                f"{c.p95_ms(c.wall_s):.1f}",
                f"{statistics.median(c.queries):g}",
                str(max(c.queries)),
            )
        )
    dashboard_cpu = (figures["page_cpu_ms"] + figures["timeseries_cpu_ms"]) / 2
    figures["dashboard_cpu_ms"] = dashboard_cpu
    figures["dashboard_cpu_over_static_x"] = dashboard_cpu / figures["static_cpu_ms"]
    figures["requests"] = args.requests
    figures["mentions"] = args.mentions
    figures = {k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}

    print(f"\ndashboard_cpu: {args.mentions:,} mentions, {args.requests} requests of each kind, in-process\n")
    _common.table_print(
        ("request", "CPU ms", "CPU p95", "wall ms", "wall p95", "queries", "max"),
        rows,
    )
    print(
        f"\na dashboard request (page and time series alternately): {dashboard_cpu:.1f} ms of CPU in"
        f" Python, {figures['dashboard_cpu_over_static_x']:.1f}x the static file's"
    )
    if profiler is not None:
        print()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(40)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(60)
    written = _common.results_write("dashboard_cpu", figures)
    print(f"figures written to {written.relative_to(_common.REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
