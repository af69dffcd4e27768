"""Benchmark: creating a client tenant by cloning the migrated template schema.

Measures `tenants.services.tenant_create` end to end (validation, Tenant row, schema clone, faked
migration records, Domain, audit event) over `--runs` tenants. The baseline is the same service
with cloning switched off (`TENANT_CREATION_FAKES_MIGRATIONS=False`), so django-tenants creates an
empty schema and runs every tenant migration into it: the only difference between the two is how
the schema gets built. Baseline runs are interleaved with the clone runs so that a burst of load on
the shared machine hits both. Each tenant is dropped right after it is measured, so every run
starts from the same catalog.

    .venv/bin/python bench/tenant_create.py [--runs 20] [--migrate-runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import _common


def _schedule(runs: int, migrate_runs: int) -> set[int]:
    """Clone-run indices after which a baseline run goes, spread evenly over the clone runs."""
    if migrate_runs <= 0:
        return set()
    step = runs / migrate_runs
    return {min(runs - 1, int(step * k + step / 2)) for k in range(migrate_runs)}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20, help="tenants created by cloning (default 20)")
    parser.add_argument(
        "--migrate-runs",
        type=int,
        default=5,
        help="tenants created by running every migration, the baseline (default 5)",
    )
    args = parser.parse_args()
    if args.runs < 1 or args.migrate_runs < 1:
        parser.error("--runs and --migrate-runs must be at least 1")

    was_running = _common.django_start()
    # Django is set up only now: these imports need settings.
    from django.conf import settings
    from django.db import connection
    from django.test import override_settings

    from tenants.services import tenant_create

    template = settings.TENANT_BASE_SCHEMA
    counter = iter(range(1_000_000))

    def create_once(kind: str, expected_tables: int) -> float:
        slug = f"{_common.SLUG_PREFIX}{kind}-{next(counter)}"
        started = time.perf_counter()
        tenant = tenant_create(name=f"Bench {slug}", slug=slug)
        elapsed = time.perf_counter() - started
        # A fast clone that built only part of the schema would be a wrong figure, not a good one.
        tables = _common.table_count(tenant.schema_name)
        if tables != expected_tables:
            raise RuntimeError(f"{slug}: {tables} tables, the template has {expected_tables}")
        _common.bench_data_drop()
        return elapsed

    try:
        _common.database_prepare()
        template_tables = _common.table_count(template)
        with connection.cursor() as cursor:
            cursor.execute(f'SELECT count(*) FROM "{template}".django_migrations')
            migrations = int(cursor.fetchone()[0])

        # Not counted: the first call in a process pays imports and the first migration-graph load.
        create_once("warmup", template_tables)
        baseline_after = _schedule(args.runs, args.migrate_runs)
        clone_s: list[float] = []
        migrate_s: list[float] = []
        for index in range(args.runs):
            clone_s.append(create_once("clone", template_tables))
            if index in baseline_after:
                # With creation fakes off, django-tenants ignores the template: CREATE SCHEMA, then
                # `migrate_schemas --schema <new>` runs every migration.
                with override_settings(TENANT_CREATION_FAKES_MIGRATIONS=False):
                    migrate_s.append(create_once("migrate", template_tables))
            print(f"  run {index + 1}/{args.runs}: clone {clone_s[-1]:.3f} s", flush=True)
    finally:
        _common.bench_data_drop()
        _common.database_stop(was_running)

    figures = {
        "tenant_create_s_median": statistics.median(clone_s),
        "tenant_create_s_p95": _common.percentile(clone_s, 95),
        "tenant_create_s_min": min(clone_s),
        "migrate_create_s_median": statistics.median(migrate_s),
        "migrate_create_s_min": min(migrate_s),
        "speedup_x": statistics.median(migrate_s) / statistics.median(clone_s),
        "tenant_tables": template_tables,
        "tenant_migrations": migrations,
        "runs": len(clone_s),
        "migrate_runs": len(migrate_s),
    }
    figures = {k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}
    print(
        f"\ntenant_create: {template_tables} tables and {migrations} migration records per tenant schema;"
        f" {len(clone_s)} clones, {len(migrate_s)} full migrations (baseline)\n"
    )
    _common.table_print(
        ("way to build the schema", "median s", "p95 s", "min s", "runs"),
        [
            (
                "clone template (tenant_create)",
                f"{figures['tenant_create_s_median']:.3f}",
                f"{figures['tenant_create_s_p95']:.3f}",
                f"{figures['tenant_create_s_min']:.3f}",
                str(len(clone_s)),
            ),
            (
                "run every migration (baseline)",
                f"{figures['migrate_create_s_median']:.3f}",
                f"{_common.percentile(migrate_s, 95):.3f}",
                f"{figures['migrate_create_s_min']:.3f}",
                str(len(migrate_s)),
            ),
        ],
    )
    print(f"\nspeedup (baseline median / clone median): {figures['speedup_x']:.1f}x")
    path = _common.results_write("tenant_create", figures)
    print(f"figures written to {path.relative_to(_common.REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
