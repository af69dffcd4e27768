"""The consent ledger: appends, chain verification and the consent gate at audience scale.

Appends go through `ethics.services.consent_record` (advisory lock, chained hash, evidence row,
interval update, one transaction each): `append_events_per_s`, next to single-row INSERTs of the
same width, each committed on its own (`baseline_insert_rows_per_s`). Imports append through
`consent_record_many`, one transaction per batch of 1,000: `append_batch_events_per_s` over
`--batch-appends` events. Verification recomputes
every hash (`verify_events_per_s`), next to hashing the same payloads in a bare loop with no
database (`baseline_hash_per_s`). The gate, `consented_contacts(purpose=..., at=T)`, is timed at
random past times T over `--contacts` contacts with about 1.5 permission intervals per contact and
purpose (`gate_at_p95_ms`, rows it returns in `gate_rows_median`), next to reading the same
contacts' ids with no consent check at all (`baseline_scan_p95_ms`).

Run: `.venv/bin/python bench/consent_ledger.py [--contacts 100000] [--appends 1000]
[--batch-appends 10000]`.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta

import _common


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, default=100_000, help="audience size (default 100,000)")
    parser.add_argument(
        "--appends", type=int, default=1_000, help="events appended one by one (default 1,000)"
    )
    parser.add_argument(
        "--batch-appends",
        type=int,
        default=10_000,
        help="events appended in batches of 1,000 (default 10,000)",
    )
    parser.add_argument("--queries", type=int, default=30, help="gate queries at random times (default 30)")
    args = parser.parse_args()
    if args.contacts < max(1000, args.batch_appends) or args.appends < 10:
        parser.error("--contacts must be at least 1000 and --batch-appends, and --appends at least 10")

    was_running = _common.django_start()
    from django.db import connection, transaction
    from django_tenants.utils import tenant_context

    from ethics import ledger
    from ethics.models import ConsentEvent, Purpose
    from ethics.selectors import consent_verify, consented_contacts
    from ethics.services import ConsentEntry, Evidence, consent_record, consent_record_many
    from personalization.models import Contact
    from tenants.services import tenant_create

    try:
        _common.database_prepare()
        tenant = tenant_create(name="Bench consent", slug=f"{_common.SLUG_PREFIX}consent")
        with tenant_context(tenant):
            Contact.objects.bulk_create(
                (Contact(name=f"c{i}", email=f"c{i}@{_common.EMAIL_DOMAIN}") for i in range(args.contacts)),
                batch_size=5000,
            )
            contacts = list(Contact.objects.order_by("id")[: args.appends])
            purposes = {p.code: p for p in Purpose.objects.all()}
            evidence = Evidence(ip_address="198.51.100.7", user_agent="bench", form_id="bench")

            # Appends: one service call, one transaction each; a third are later withdrawn.
            started = time.perf_counter()
            for index, contact in enumerate(contacts):
                action = "withdraw" if index % 3 == 2 else "grant"
                target = contacts[index - 1] if action == "withdraw" else contact
                consent_record(
                    contact=target,
                    purpose=purposes["outreach"],
                    action=action,
                    source="import",
                    actor="bench",
                    evidence=evidence,
                )
            append_s = time.perf_counter() - started
            single = ConsentEvent.objects.count()

            batch_contacts = list(Contact.objects.order_by("-id")[: args.batch_appends])
            started = time.perf_counter()
            for offset in range(0, len(batch_contacts), 1000):
                consent_record_many(
                    entries=[
                        ConsentEntry(c, purposes["analytics"], "grant", evidence=evidence)
                        for c in batch_contacts[offset : offset + 1000]
                    ],
                    source="import",
                    actor="bench",
                )
            batch_s = time.perf_counter() - started
            appended = ConsentEvent.objects.count()

            with connection.cursor() as cursor:
                cursor.execute(
                    "CREATE TEMP TABLE bench_rows (seq bigint, pseudonym varchar(64), action varchar(8),"
                    " occurred_at timestamptz, digest varchar(64), prev varchar(64), hash varchar(64))"
                )
                started = time.perf_counter()
                for index in range(appended):
                    with transaction.atomic():
                        cursor.execute(
                            "INSERT INTO bench_rows VALUES (%s, %s, 'grant', now(), %s, %s, %s)",
                            [index, "p" * 64, "d" * 64, "h" * 64, "h" * 64],
                        )
                baseline_insert_s = time.perf_counter() - started

            started = time.perf_counter()
            verified = consent_verify()
            verify_s = time.perf_counter() - started
            if not verified.ok or verified.checked != appended:
                raise RuntimeError(f"the bench ledger does not verify: {verified}")
            payloads = [
                ledger.event_payload(
                    seq=i,
                    pseudonym="p" * 64,
                    purpose="outreach",
                    notice={"id": 1, "version": 1, "text_sha256": "t" * 64},
                    action="grant",
                    lawful_basis="consent",
                    source="import",
                    actor="bench",
                    occurred_at=datetime.now(UTC),
                    evidence_digest="d" * 64,
                )
                for i in range(appended)
            ]
            started = time.perf_counter()
            prev = ledger.GENESIS
            for payload in payloads:
                prev = ledger.chain_hash(prev, payload)
            hash_s = time.perf_counter() - started

            # Audience-scale state for the gate: intervals written in bulk over two years, about
            # 1.5 per contact and purpose, a third of them closed (all pointing at one real event,
            # which the gate never reads).
            event_id = ConsentEvent.objects.order_by("seq").values_list("id", flat=True).first()
            start = datetime.now(UTC) - timedelta(days=730)
            with connection.cursor() as cursor:
                for purpose in purposes.values():
                    cursor.execute(
                        "INSERT INTO ethics_consentinterval (contact_id, purpose_id, lawful_basis,"
                        " granted_from, granted_until, grant_event_id)"
                        " SELECT c.id, %s, 'consent', %s::timestamptz + (random() * 365) * interval '1 day',"
                        " CASE WHEN c.id %% 3 = 0"
                        " THEN %s::timestamptz + (365 + random() * 300) * interval '1 day'"
                        " END, %s FROM personalization_contact c WHERE c.id %% 4 <> 1"
                        " AND NOT EXISTS (SELECT 1 FROM ethics_consentinterval i"
                        " WHERE i.contact_id = c.id AND i.purpose_id = %s)",
                        [purpose.pk, start, start, event_id, purpose.pk],
                    )
                    # Re-grants after a withdrawal: a second interval for a third of the contacts.
                    cursor.execute(
                        "INSERT INTO ethics_consentinterval (contact_id, purpose_id, lawful_basis,"
                        " granted_from, grant_event_id) SELECT i.contact_id, i.purpose_id, 'consent',"
                        " i.granted_until + interval '3 days', %s FROM ethics_consentinterval i"
                        " WHERE i.purpose_id = %s AND i.granted_until IS NOT NULL",
                        [event_id, purpose.pk],
                    )
                cursor.execute("ANALYZE ethics_consentinterval")
                cursor.execute("ANALYZE personalization_contact")
                cursor.execute("SELECT count(*) FROM ethics_consentinterval")
                intervals = int(cursor.fetchone()[0])

            rng = random.Random(7)
            gate_ms: list[float] = []
            scan_ms: list[float] = []
            rows: list[int] = []
            codes = list(purposes)
            for index in range(args.queries):
                at = start + timedelta(days=rng.uniform(0, 729))
                code = codes[index % len(codes)]
                started = time.perf_counter()
                ids = list(consented_contacts(purpose=code, at=at).values_list("id", flat=True))
                gate_ms.append((time.perf_counter() - started) * 1000)
                rows.append(len(ids))
                started = time.perf_counter()
                list(Contact.objects.filter(is_restricted=False).values_list("id", flat=True))
                scan_ms.append((time.perf_counter() - started) * 1000)
    finally:
        _common.bench_data_drop()
        _common.database_stop(was_running)

    figures = {
        "append_events_per_s": single / append_s,
        "append_batch_events_per_s": (appended - single) / batch_s,
        "baseline_insert_rows_per_s": appended / baseline_insert_s,
        "append_of_baseline_x": (single / append_s) / (appended / baseline_insert_s),
        "append_batch_of_baseline_x": ((appended - single) / batch_s) / (appended / baseline_insert_s),
        "verify_events_per_s": appended / verify_s,
        "baseline_hash_per_s": appended / hash_s,
        "gate_at_p50_ms": statistics.median(gate_ms),
        "gate_at_p95_ms": _common.percentile(gate_ms, 95),
        "baseline_scan_p95_ms": _common.percentile(scan_ms, 95),
        "gate_over_scan_x": _common.percentile(gate_ms, 95) / _common.percentile(scan_ms, 95),
        "gate_rows_median": statistics.median(rows),
        "contacts": args.contacts,
        "intervals": intervals,
        "events": appended,
    }
    figures = {k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}
    print(f"\nconsent ledger: {appended} events appended, {args.contacts} contacts, {intervals} intervals\n")
    _common.table_print(
        ("measure", "value", "baseline", "ratio"),
        [
            (
                "append (events/s, one transaction each)",
                f"{figures['append_events_per_s']:.0f}",
                f"{figures['baseline_insert_rows_per_s']:.0f}",
                f"{figures['append_of_baseline_x']:.2f}",
            ),
            (
                "append (events/s, batches of 1,000)",
                f"{figures['append_batch_events_per_s']:.0f}",
                f"{figures['baseline_insert_rows_per_s']:.0f}",
                f"{figures['append_batch_of_baseline_x']:.2f}",
            ),
            (
                "verify (events/s)",
                f"{figures['verify_events_per_s']:.0f}",
                f"{figures['baseline_hash_per_s']:.0f}",
                f"{figures['verify_events_per_s'] / figures['baseline_hash_per_s']:.2f}",
            ),
            (
                "gate at time T, p95 ms",
                f"{figures['gate_at_p95_ms']:.1f}",
                f"{figures['baseline_scan_p95_ms']:.1f}",
                f"{figures['gate_over_scan_x']:.2f}",
            ),
        ],
    )
    path = _common.results_write("consent_ledger", figures)
    print(f"figures written to {path.relative_to(_common.REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
