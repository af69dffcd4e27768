"""Benchmark: 500 tenants in one database.

Creates `--tenants` client tenants (default 500) through the real path (`tenant_create`, which
clones the template schema), the first of them with `--mentions` enriched mentions and their
metric buckets (as bench/dashboard.py builds them). Then:

- `migrate_schemas --tenant` over every tenant schema with django-tenants' multiprocessing
  executor (`migrate_500_tenants_s`), and the standard one-after-the-other executor as the
  baseline in the same run (`migrate_500_tenants_standard_s`); both are runs where every schema is
  current (the deploy of a release with no new tenant migration, django-tenants#719), timed as an
  operator runs them (`manage.py` in a subprocess, Django start-up included);
- the dashboard's time-series endpoint of the first tenant through gunicorn (2 workers x 4 threads)
  with 1 tenant existing (`dashboard_p95_ms_1_tenant`) and with all of them existing
  (`dashboard_p95_ms_500_tenants`), after one request to every tenant's dashboard so that the
  server's connections have touched every schema (the catalog cache growth DESIGN measures); the
  baseline in both phases is `GET /api/v1/me` loaded in alternating slices (`me_p95_ms_*`).

    .venv/bin/python bench/tenant_scale.py [--tenants 500] [--mentions 20000] [--seconds 20]
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import _common
from api_latency import _free_port, server_start, server_stop, server_wait
from dashboard import SLICE_S, WARMUP_S, listening_fill, load, paths_mix


def migrate_s(executor: str) -> float:
    """`manage.py migrate_schemas --tenant` with the given executor, on the benchmark database."""
    from django.conf import settings

    from config.embedded import url_for

    env = {
        **os.environ,
        "DATABASE_URL": url_for(settings.DATABASES["default"]),
        "CANDOR_DATA_DIR": str(_common.DATA_DIR),
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate_schemas", "--tenant", "--executor", executor, "-v", "0"],
        cwd=_common.REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"migrate_schemas ({executor}) failed: {result.stderr[-2000:]}")
    return elapsed


def phase(
    *, port: int, host: str, token: str, paths: list[tuple[str, str]], concurrency: int, seconds: float
) -> tuple[list[float], list[float], int]:
    """Time series and /me in alternating slices; returns their latencies and the errors."""
    common = {"port": port, "host": host, "token": token, "concurrency": concurrency}
    me_paths = [("me", "/api/v1/me")]
    load(**common, paths=paths, seconds=WARMUP_S)
    load(**common, paths=me_paths, seconds=WARMUP_S)
    series: list[float] = []
    me: list[float] = []
    errors = 0
    slices = max(1, round(seconds / SLICE_S))
    for index in range(slices):
        runs = [("series", paths), ("me", me_paths)]
        if index % 2:
            runs.reverse()
        for kind, run_paths in runs:
            got, failed, _ = load(**common, paths=run_paths, seconds=seconds / slices)
            values = [v for vs in got.values() for v in vs]
            (series if kind == "series" else me).extend(values)
            errors += failed
    return series, me, errors


def touch_every_tenant(*, port: int, hosts: list[str], token: str) -> int:
    """One dashboard request per tenant; returns how many did not answer 200."""
    end = datetime.now(UTC)
    path = f"/api/v1/metrics/timeseries?start={(end - timedelta(days=1)).isoformat()}&end={end.isoformat()}"
    path = path.replace("+", "%2B")
    failed = 0
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for host in hosts:
        conn.request("GET", path, headers={"Host": host, "Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        response.read()
        failed += response.status != 200
    conn.close()
    return failed


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tenants", type=int, default=500)
    parser.add_argument("--mentions", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=20.0, help="load time per phase (default 20)")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads (default 4)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.tenants < 2 or args.mentions < 1000 or args.seconds <= 0 or args.concurrency < 1:
        parser.error("--tenants >= 2, --mentions >= 1000, --seconds and --concurrency positive")

    was_running = _common.django_start()
    from django.db import connections
    from django_tenants.utils import tenant_context

    from listening.services.metrics import metrics_rebuild
    from tenants.models import Membership, Role, TokenScope, User
    from tenants.services import tenant_create, tenant_domain, token_create

    server = None
    figures: dict[str, float] = {}
    try:
        _common.database_prepare()
        owner = User.objects.create_user(f"owner@{_common.EMAIL_DOMAIN}", full_name="Bench owner")
        slugs = [f"{_common.SLUG_PREFIX}scale-{n:04d}" for n in range(args.tenants)]
        first = tenant_create(name="Bench scale 0", slug=slugs[0])
        Membership.objects.create(user=owner, tenant=first, role=Role.OWNER)
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        with tenant_context(first):
            sources, queries, _ = listening_fill(mentions=args.mentions, now=now, seed=args.seed)
            metrics_rebuild(start=now - timedelta(days=366), end=now + timedelta(days=1))
        _, first_token = token_create(user=owner, name="bench", scope=TokenScope.READ, tenants=[first])
        host = tenant_domain(first.slug)
        paths = paths_mix(random.Random(args.seed), now, queries[0].pk, sources[1].pk, 2_000)
        connections.close_all()

        def measure(label: str, touch: list[str] | None = None, touch_token: str = "") -> None:
            nonlocal server
            port = _free_port()
            server, log_path = server_start(port=port, workers=2, threads=4, token_rate="1000000/min")
            server_wait(server, port=port, host=host, log_path=log_path)
            if touch:
                figures["touch_errors"] = touch_every_tenant(port=port, hosts=touch, token=touch_token)
            series, me, errors = phase(
                port=port,
                host=host,
                token=first_token,
                paths=paths,
                concurrency=args.concurrency,
                seconds=args.seconds,
            )
            server_stop(server)
            server = None
            if not series or not me:
                raise RuntimeError(f"no successful requests in the {label} phase ({errors} errors)")
            figures[f"dashboard_p50_ms_{label}"] = _common.percentile(series, 50) * 1000
            figures[f"dashboard_p95_ms_{label}"] = _common.percentile(series, 95) * 1000
            figures[f"me_p95_ms_{label}"] = _common.percentile(me, 95) * 1000
            figures[f"errors_{label}"] = errors
            print(f"  {label}: dashboard p95 {figures[f'dashboard_p95_ms_{label}']:.1f} ms", flush=True)

        measure("1_tenant")

        started = time.perf_counter()
        tenants = [first]
        for n, slug in enumerate(slugs[1:], start=1):
            tenants.append(tenant_create(name=f"Bench scale {n}", slug=slug))
            if n % 100 == 0:
                print(f"  {n + 1} tenants", flush=True)
        create_s = time.perf_counter() - started
        Membership.objects.bulk_create(
            [Membership(user=owner, tenant=t, role=Role.OWNER) for t in tenants[1:]]
        )
        _, every_token = token_create(user=owner, name="bench all", scope=TokenScope.READ, tenants=tenants)
        connections.close_all()

        figures["migrate_500_tenants_s"] = migrate_s("multiprocessing")
        print(f"  migrate_schemas (multiprocessing): {figures['migrate_500_tenants_s']:.1f} s", flush=True)
        figures["migrate_500_tenants_standard_s"] = migrate_s("standard")
        print(f"  migrate_schemas (standard): {figures['migrate_500_tenants_standard_s']:.1f} s", flush=True)

        measure("500_tenants", touch=[tenant_domain(t.slug) for t in tenants], touch_token=every_token)
        figures.update(
            {
                "tenants": len(tenants),
                "mentions": args.mentions,
                "tenant_create_s_mean": create_s / (len(tenants) - 1),
                "tenants_create_s": create_s,
                "tenant_tables": _common.table_count(first.schema_name),
                "concurrency": args.concurrency,
            }
        )
    finally:
        if server is not None:
            server_stop(server)
        _common.bench_data_drop()
        _common.database_stop(was_running)

    figures["migrate_speedup_x"] = (
        figures["migrate_500_tenants_standard_s"] / figures["migrate_500_tenants_s"]
    )
    figures["dashboard_p95_500_over_1_x"] = (
        figures["dashboard_p95_ms_500_tenants"] / figures["dashboard_p95_ms_1_tenant"]
    )
    figures["me_p95_500_over_1_x"] = figures["me_p95_ms_500_tenants"] / figures["me_p95_ms_1_tenant"]
    figures = {k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}
    n = figures["tenants"]
    print(
        f"\ntenant_scale: {n} tenants of {figures['tenant_tables']} tables,"
        f" {args.mentions:,} mentions in the first\n"
    )
    _common.table_print(
        ("figure", "value"),
        [
            (f"tenant_create, mean of {n - 1}", f"{figures['tenant_create_s_mean'] * 1000:.0f} ms"),
            (f"migrate_schemas over {n} (multiprocessing)", f"{figures['migrate_500_tenants_s']:.1f} s"),
            (
                f"migrate_schemas over {n} (standard, baseline)",
                f"{figures['migrate_500_tenants_standard_s']:.1f} s",
            ),
            ("dashboard p95, 1 tenant", f"{figures['dashboard_p95_ms_1_tenant']:.1f} ms"),
            (f"dashboard p95, {n} tenants", f"{figures['dashboard_p95_ms_500_tenants']:.1f} ms"),
            ("GET /me p95, 1 tenant (baseline)", f"{figures['me_p95_ms_1_tenant']:.1f} ms"),
            (f"GET /me p95, {n} tenants (baseline)", f"{figures['me_p95_ms_500_tenants']:.1f} ms"),
            ("errors", f"{figures['errors_1_tenant'] + figures['errors_500_tenants']:.0f}"),
        ],
    )
    written = _common.results_write("tenant_scale", figures)
    print(f"figures written to {written.relative_to(_common.REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
