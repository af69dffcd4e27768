"""Benchmark: latency and throughput of `GET /api/v1/me` on the real web server.

Starts gunicorn (`config.wsgi`, 2 workers x 4 threads, as `make run` does) on a free loopback
port, against the benchmark's own embedded database, with a tenant, an owner and a read token made
through the services. Then C client threads, each holding one keep-alive connection
(`http.client`), call the endpoint back to back for D seconds on the tenant's host with the Bearer
token. The baseline is a static file served by whitenoise on the same tenant host
(`/static/img/candor.svg`, 279 bytes): it passes the same server, the same tenant routing
(`TenantRoutingMiddleware`) and the same middleware up to whitenoise, but no authentication, no
throttle and no view. The two endpoints are loaded in alternating slices (about 5 s each, order
flipped every slice) so that noise from other work on the shared machine lands on both.

    .venv/bin/python bench/api_latency.py [--concurrency 16] [--seconds 15]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

import _common

ME_PATH = "/api/v1/me"
BASELINE_PATH = "/static/img/candor.svg"
SLICE_S = 5.0
WARMUP_S = 2.0
READY_TIMEOUT_S = 60.0


@dataclass
class Load:
    """What a load run produced: successful request latencies, failures, wall time."""

    latencies_s: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed_s: float = 0.0

    def add(self, other: Load) -> None:
        self.latencies_s += other.latencies_s
        self.errors += other.errors
        self.elapsed_s += other.elapsed_s

    def pct_ms(self, pct: float) -> float:
        return _common.percentile(self.latencies_s, pct) * 1000

    @property
    def requests_per_s(self) -> float:
        return len(self.latencies_s) / self.elapsed_s if self.elapsed_s else 0.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def load(*, port: int, path: str, headers: dict[str, str], concurrency: int, seconds: float) -> Load:
    """C threads, one keep-alive connection each, sending requests back to back until the deadline."""
    results = [Load() for _ in range(concurrency)]
    finished = [0.0] * concurrency
    window: dict[str, float] = {}

    def start_clock() -> None:
        # Runs once, when every client has connected: connection setup is not in the window.
        window["start"] = time.perf_counter()
        window["deadline"] = window["start"] + seconds

    barrier = threading.Barrier(concurrency, action=start_clock)

    def client(slot: int) -> None:
        result = results[slot]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        # A failed connect is counted as an error by the first request, which connects again.
        with contextlib.suppress(OSError):
            conn.connect()
        barrier.wait()
        deadline = window["deadline"]
        while True:
            started = time.perf_counter()
            if started >= deadline:
                break
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
                reconnect = response.will_close
            except (OSError, http.client.HTTPException):
                ok, reconnect = False, True
            if ok:
                result.latencies_s.append(time.perf_counter() - started)
            else:
                result.errors += 1
            if reconnect:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.close()
        finished[slot] = time.perf_counter()

    threads = [threading.Thread(target=client, args=(slot,), daemon=True) for slot in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = Load()
    for result in results:
        total.add(result)
    # Requests in flight at the deadline still complete: the window ends with the last of them.
    total.elapsed_s = max(finished) - window["start"]
    return total


def server_start(
    *, port: int, workers: int, threads: int, token_rate: str
) -> tuple[subprocess.Popen[bytes], str]:
    """gunicorn as `make run` starts it, on the benchmark database; returns it and its log path."""
    from django.conf import settings

    from config.embedded import url_for

    env = {
        **os.environ,
        # The children reach the embedded server this process started over its socket (run_all does
        # the same): a child that started its own would race this one for the data folder.
        "DATABASE_URL": url_for(settings.DATABASES["default"]),
        # The benchmark measures latency, not the per-token limit (600/min by default).
        "API_TOKEN_RATE": token_rate,
        "PORT": str(port),
    }
    log_path = _common.DATA_DIR / "gunicorn.log"
    command = [
        os.path.join(os.path.dirname(sys.executable), "gunicorn"),
        "config.wsgi",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        # gunicorn >= 24 opens a control socket under ~/.gunicorn by default: outside the repo, and
        # shared with a `make run` server on the same account.
        "--no-control-socket",
    ]
    with log_path.open("wb") as log:
        server = subprocess.Popen(command, cwd=_common.REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    return server, str(log_path)


def server_wait(server: subprocess.Popen[bytes], *, port: int, host: str, log_path: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}; see {log_path}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", BASELINE_PATH, headers={"Host": host})
            if conn.getresponse().status == 200:
                conn.close()
                return
            conn.close()
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer within {READY_TIMEOUT_S:.0f} s; see {log_path}")


def server_stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.terminate()  # SIGTERM: gunicorn finishes in-flight requests, then its workers exit
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def smoke_check(*, port: int, host: str, token: str, email: str) -> None:
    """One call of each endpoint: a benchmark of 401s or 404s would measure the wrong thing."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", ME_PATH, headers={"Host": host, "Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    body = response.read()
    if response.status != 200 or json.loads(body).get("email") != email:
        raise RuntimeError(f"GET {ME_PATH} answered {response.status}: {body[:300]!r}")
    conn.request("GET", BASELINE_PATH, headers={"Host": host})
    response = conn.getresponse()
    body = response.read()
    if response.status != 200:
        raise RuntimeError(f"GET {BASELINE_PATH} answered {response.status}: {body[:300]!r}")
    conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--concurrency", type=int, default=16, help="client threads (default 16)")
    parser.add_argument("--seconds", type=float, default=15.0, help="load time per endpoint (default 15)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker (default 4)")
    parser.add_argument(
        "--token-rate",
        default="1000000/min",
        help="API_TOKEN_RATE for the server (default 1000000/min: never throttles)",
    )
    args = parser.parse_args()
    if args.concurrency < 1 or args.seconds <= 0:
        parser.error("--concurrency and --seconds must be positive")

    was_running = _common.django_start()
    # Django is set up only now: these imports need settings.
    from tenants.models import Membership, Role, TokenScope, User
    from tenants.services import tenant_create, tenant_domain, token_create

    server: subprocess.Popen[bytes] | None = None
    me, baseline = Load(), Load()
    slices = max(1, round(args.seconds / SLICE_S))
    try:
        _common.database_prepare()
        slug = f"{_common.SLUG_PREFIX}api"
        tenant = tenant_create(name="Bench API", slug=slug)
        user = User.objects.create_user(f"owner@{_common.EMAIL_DOMAIN}", full_name="Bench owner")
        Membership.objects.create(user=user, tenant=tenant, role=Role.OWNER)
        _, raw_token = token_create(user=user, name="bench", scope=TokenScope.READ, tenants=[tenant])
        host = tenant_domain(slug)
        # The server has its own connections; ours would only sit idle in the database meanwhile.
        from django.db import connections

        connections.close_all()

        port = _free_port()
        server, log_path = server_start(
            port=port, workers=args.workers, threads=args.threads, token_rate=args.token_rate
        )
        server_wait(server, port=port, host=host, log_path=log_path)
        smoke_check(port=port, host=host, token=raw_token, email=user.email)

        me_headers = {"Host": host, "Authorization": f"Bearer {raw_token}"}
        base_headers = {"Host": host}
        # Not counted: the first requests of each worker thread open its database connection and
        # fill Django's lazy caches (URL resolvers, serializer fields).
        for path, headers in ((BASELINE_PATH, base_headers), (ME_PATH, me_headers)):
            load(port=port, path=path, headers=headers, concurrency=args.concurrency, seconds=WARMUP_S)

        slice_s = args.seconds / slices
        for index in range(slices):
            order = [(baseline, BASELINE_PATH, base_headers), (me, ME_PATH, me_headers)]
            if index % 2:
                order.reverse()
            for total, path, headers in order:
                total.add(
                    load(port=port, path=path, headers=headers, concurrency=args.concurrency, seconds=slice_s)
                )
            print(
                f"  slice {index + 1}/{slices}: me {me.requests_per_s:.0f} req/s,"
                f" baseline {baseline.requests_per_s:.0f} req/s (running totals)",
                flush=True,
            )
    finally:
        if server is not None:
            server_stop(server)
        _common.bench_data_drop()
        _common.database_stop(was_running)

    if not me.latencies_s or not baseline.latencies_s:
        print(
            f"no successful requests (me errors {me.errors}, baseline errors {baseline.errors})",
            file=sys.stderr,
        )
        return 1
    figures: dict[str, float] = {
        "me_p50_ms": me.pct_ms(50),
        "me_p95_ms": me.pct_ms(95),
        "me_p99_ms": me.pct_ms(99),
        "me_requests_per_s": me.requests_per_s,
        "errors": me.errors,
        "baseline_p50_ms": baseline.pct_ms(50),
        "baseline_p95_ms": baseline.pct_ms(95),
        "baseline_p99_ms": baseline.pct_ms(99),
        "baseline_requests_per_s": baseline.requests_per_s,
        "baseline_errors": baseline.errors,
        # The ratios are the figures that hold on a shared, noisy machine.
        "p95_over_baseline_x": me.pct_ms(95) / baseline.pct_ms(95),
        "throughput_of_baseline_x": me.requests_per_s / baseline.requests_per_s,
        "concurrency": args.concurrency,
        "seconds_per_endpoint": args.seconds,
        "server_workers": args.workers,
        "server_threads": args.threads,
    }
    figures = {k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}
    print(
        f"\napi_latency: gunicorn {args.workers} workers x {args.threads} threads,"
        f" {args.concurrency} keep-alive clients, {args.seconds:g} s per endpoint"
        f" in {slices} alternating slices\n"
    )
    rows = []
    for label, total in (
        (f"GET {ME_PATH} (Bearer token)", me),
        (f"GET {BASELINE_PATH} (baseline)", baseline),
    ):
        rows.append(
            (
                label,
                f"{total.pct_ms(50):.1f}",
                f"{total.pct_ms(95):.1f}",
                f"{total.pct_ms(99):.1f}",
                f"{total.requests_per_s:.0f}",
                str(len(total.latencies_s)),
                str(total.errors),
            )
        )
    _common.table_print(("endpoint", "p50 ms", "p95 ms", "p99 ms", "req/s", "requests", "errors"), rows)
    print(
        f"\n/me vs baseline: p95 {figures['p95_over_baseline_x']:.1f}x,"
        f" throughput {figures['throughput_of_baseline_x']:.2f}x of the baseline's"
    )
    written = _common.results_write("api_latency", figures)
    print(f"figures written to {written.relative_to(_common.REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
