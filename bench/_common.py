"""Shared helpers for the benchmarks: their own data folder, the embedded database, cleanup, results.

Every benchmark runs on `.data/bench` (its own embedded PostgreSQL, cache and broker folders), never
on the dev database (`.data`) or the test one (`.data/test`), so it can run next to `make run` or a
test session. Whatever a benchmark creates carries the `bench-` prefix and is dropped at the end;
leftovers of an interrupted run are swept before the next one starts.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA_DIR = REPO / ".data" / "bench"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
SLUG_PREFIX = "bench-"
# Slugs map to schemas `t_<slug with _>` (tenants.services._schema_for_slug).
SCHEMA_PREFIX = "t_bench_"
EMAIL_DOMAIN = "bench.invalid"

# Settings read these: a value inherited from the caller's shell (a dev DATABASE_URL, a Redis cache,
# DEBUG, which keeps every query in memory) would point the benchmark at someone else's data or
# change what it measures.
_INHERITED_ENV = ("DATABASE_URL", "CACHE_URL", "CELERY_BROKER_URL", "DJANGO_DEBUG")


def bench_environment() -> None:
    """Point Django at the benchmark data folder. Must run before settings load."""
    os.environ["CANDOR_DATA_DIR"] = str(DATA_DIR)
    os.environ["CANDOR_ENV"] = "development"
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    for name in _INHERITED_ENV:
        os.environ.pop(name, None)
    # tenant_create logs one INFO line per tenant: noise between the table rows.
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))


def _postmaster_running() -> bool:
    pid_file = DATA_DIR / "pg" / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().splitlines()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return False
    return True


def django_start() -> bool:
    """Set up Django on the benchmark data folder (starting its embedded PostgreSQL on first use).

    Returns whether that server was already running, so `database_stop` leaves a server it did
    not start alone."""
    bench_environment()
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    was_running = _postmaster_running()
    import django

    django.setup()
    return was_running


def database_prepare() -> None:
    """Migrate, sweep leftovers of an interrupted run, and make sure the public tenant and a current
    template exist (the template is what tenant_create clones, so it must carry every migration)."""
    from django.core.cache import cache
    from django.core.management import call_command

    from tenants.services import platform_ensure

    call_command("migrate_schemas", shared=True, interactive=False, verbosity=0)
    bench_data_drop()
    platform_ensure()
    call_command("migrate_schemas", tenant=True, interactive=False, verbosity=0)
    # Throttle histories and cached values of a previous run would change what this one measures.
    cache.clear()


def bench_data_drop() -> None:
    """Drop every tenant, schema, user and audit event a benchmark created (by prefix)."""
    from django.db import connection
    from django.db.models import Q

    from tenants.models import AuditEvent, Tenant, User

    # django-tenants drops a schema only from public or itself (its backend adds this method).
    connection.set_schema_to_public()  # type: ignore[attr-defined]
    tenants = list(Tenant.objects.filter(slug__startswith=SLUG_PREFIX))
    users = User.objects.filter(email__endswith="@" + EMAIL_DOMAIN)
    # Audit events outlive their tenant and actor (SET_NULL): remove them first, while they still
    # point at what the benchmark made.
    AuditEvent.objects.filter(
        Q(tenant__in=tenants) | Q(actor__in=users) | Q(target__startswith=SLUG_PREFIX)
    ).delete()
    for tenant in tenants:
        tenant.delete()  # auto_drop_schema drops the schema; Domain and Membership rows cascade
    users.delete()  # tokens cascade
    # A run killed between CREATE SCHEMA and the Tenant row leaves a schema no row names.
    with connection.cursor() as cursor:
        cursor.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", [SCHEMA_PREFIX + "%"])
        for (schema,) in cursor.fetchall():
            cursor.execute(f'DROP SCHEMA "{schema}" CASCADE')


def database_stop(was_running: bool) -> None:
    """Stop the embedded server if this process started it."""
    if was_running:
        return
    from django.db import connections

    from config import embedded

    connections.close_all()
    embedded.stop(DATA_DIR)


def table_count(schema: str) -> int:
    """Ordinary tables in a schema (the size of what a clone or a migration run builds)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM information_schema.tables"
            " WHERE table_schema = %s AND table_type = 'BASE TABLE'",
            [schema],
        )
        return int(cursor.fetchone()[0])


def percentile(values: Sequence[float], pct: float) -> float:
    """The pct-th percentile, interpolated between the closest ranks (numpy's default method)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def table_print(header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """A plain aligned table: first column left, the others right (they hold numbers)."""
    lines = [list(header), *[list(row) for row in rows]]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]

    def fmt(line: list[str]) -> str:
        cells = [line[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(line[1:], widths[1:], strict=True))]
        return "  ".join(cells).rstrip()

    print(fmt(lines[0]))
    print("  ".join("-" * w for w in widths))
    for line in lines[1:]:
        print(fmt(line))


def results_write(name: str, figures: dict[str, float]) -> Path:
    """Write `bench/results/<name>.json`: one flat object of numbers, units in the key names."""
    figures = {**figures, "cpu_count": os.cpu_count() or 0}
    for key, value in figures.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"{name}: figure {key}={value!r} is not a finite number")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(figures, indent=2) + "\n")
    return path
