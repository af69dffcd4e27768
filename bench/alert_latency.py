"""Benchmark: the time from a mention's arrival to a fired alert, with the real worker and beat.

Starts what `make run` starts, on the benchmark database: gunicorn, a Celery worker on every queue
(concurrency 2) and Celery beat. A tenant gets an API source with a week of quiet history (one
mention per 5 minutes, already analysed) and these rules:

* one keyword rule per trial (`bench AND <token>`): a mention carrying the token is posted to the
  bulk API; the enrichment worker analyses it and its hook evaluates keyword rules at once;
* a volume-spike rule on a second source with the same quiet history: a burst of `--burst`
  mentions is posted at once, and beat's minute-by-minute evaluation has to notice it.

`alert_latency_s` is the median, over `--trials` keyword trials, of the alert's `fired_at` minus
the mention's `received_at` (both stamped by the server). The baseline in the same run is the
enrichment latency of the same mentions (`enriched_at` minus `received_at`): what any alert on
analysed mentions must wait for. `volume_alert_latency_s` is the burst's latest `received_at` to
the volume alert (bounded by beat's one-minute tick).

    .venv/bin/python bench/alert_latency.py [--trials 5] [--burst 60] [--data PATH]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import _common
from _texts import DEFAULT_DATA, tweet_texts
from api_latency import _free_port, server_start, server_stop, server_wait

TOKEN_RATE = "1000000/min"
HISTORY_DAYS = 7
WAIT_S = 180.0


def _celery(kind: str, log_name: str, extra: list[str]) -> subprocess.Popen[bytes]:
    from django.conf import settings

    from config.embedded import url_for

    env = {**os.environ, "DATABASE_URL": url_for(settings.DATABASES["default"]), "LOG_LEVEL": "INFO"}
    command = [os.path.join(os.path.dirname(sys.executable), "celery"), "-A", "config", kind, *extra]
    with (_common.DATA_DIR / log_name).open("wb") as log:
        return subprocess.Popen(command, cwd=_common.REPO, env=env, stdout=log, stderr=subprocess.STDOUT)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _history(source: Any, texts: list[str], now: datetime) -> None:
    from listening.models import Mention

    start = now - timedelta(days=HISTORY_DAYS)
    bins = int(timedelta(days=HISTORY_DAYS) / timedelta(minutes=5))
    Mention.objects.bulk_create(
        [
            Mention(
                source=source,
                external_id=f"history-{i}",
                text=texts[i % len(texts)],
                posted_at=start + timedelta(minutes=5 * i),
                received_at=start + timedelta(minutes=5 * i),
                lang="en",
                sentiment="neutral",
                enriched_at=start + timedelta(minutes=5 * i),
            )
            for i in range(bins)
        ],
        batch_size=2000,
    )


def _post(port: int, host: str, token: str, source_id: int, items: list[dict[str, object]]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request(
        "POST",
        f"/api/v1/sources/{source_id}/mentions",
        body=json.dumps(items).encode(),
        headers={"Host": host, "Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    response = conn.getresponse()
    body = response.read()
    conn.close()
    if response.status != 200 or json.loads(body)["stored"] != len(items):
        raise RuntimeError(f"bulk post failed: {response.status} {body[:300]!r}")


def _wait(predicate: Any, what: str, logs: list[Path]) -> Any:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    tails = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}" for p in logs)
    raise SystemExit(f"timed out waiting for {what}\n{tails}")


def _item(external_id: str, text: str) -> dict[str, object]:
    return {
        "external_id": external_id,
        "text": text,
        "posted_at": datetime.now(UTC).isoformat(),
        "author_handle": "bench",
        "author_followers": 1000,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=5, help="keyword trials (one rule each)")
    parser.add_argument("--burst", type=int, default=60, help="mentions in the volume burst")
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="the sentiment data folder (SemEval texts)"
    )
    args = parser.parse_args()
    texts = tweet_texts(args.data, 2_000)

    was_running = _common.django_start()
    _common.database_prepare()
    from django_tenants.utils import tenant_context

    from config.celery import app
    from listening.models import Alert, AlertKind, AlertRule, Mention, Source, SourceKind
    from listening.services import alerts
    from listening.services.metrics import metrics_rebuild
    from tenants.models import Membership, Role, User
    from tenants.services import tenant_create, token_create

    app.control.purge()  # messages of an interrupted run name tenants that are gone
    tenant = tenant_create(name="Bench alerts", slug=f"{_common.SLUG_PREFIX}alerts")
    host = f"{tenant.slug}.localhost"
    user = User.objects.create_user(f"alerts@{_common.EMAIL_DOMAIN}", "x" * 20)
    Membership.objects.create(user=user, tenant=tenant, role=Role.OWNER)
    _, token = token_create(user=user, name="bench", scope="write", tenants=[tenant])
    now = datetime.now(UTC)
    with tenant_context(tenant):
        keyword_source = Source.objects.create(name="bench keywords", kind=SourceKind.API)
        burst_source = Source.objects.create(name="bench burst", kind=SourceKind.API)
        _history(keyword_source, texts, now)
        _history(burst_source, texts, now)
        # Written directly, so counted directly: baselines read the metric buckets.
        metrics_rebuild(start=now - timedelta(days=HISTORY_DAYS + 1), end=now + timedelta(days=1))
        tokens = [f"zq{i}meltdown" for i in range(args.trials)]
        keyword_rules = [
            alerts.alert_rule_create(
                name=f"bench keyword {t}", kind=AlertKind.KEYWORD, expression=f"bench AND {t}"
            ).rule
            for t in tokens
        ]
        volume_rule = alerts.alert_rule_create(
            name="bench volume", kind=AlertKind.VOLUME_SPIKE, source=burst_source, sensitivity=5
        ).rule

    port = _free_port()
    server, server_log = server_start(port=port, workers=2, threads=4, token_rate=TOKEN_RATE)
    worker = _celery(
        "worker", "alert-worker.log", ["-Q", "default,ingest,nlp,ml,publish", "--concurrency", "2"]
    )
    beat = _celery("beat", "alert-beat.log", ["-s", str(_common.DATA_DIR / "alert-beat-schedule")])
    logs = [_common.DATA_DIR / "alert-worker.log", _common.DATA_DIR / "alert-beat.log"]
    alert_s: list[float] = []
    enrich_s: list[float] = []
    try:
        server_wait(server, port=port, host=host, log_path=server_log)

        def evaluated() -> bool:
            with tenant_context(tenant):
                return AlertRule.objects.filter(pk=volume_rule.pk, last_evaluated_at__isnull=False).exists()

        # Beat and the worker are up once the minute's evaluation has run; the models are loaded
        # once a first mention is analysed (neither is counted).
        _wait(evaluated, "beat's first evaluation", logs)
        # Two separate posts: two enrichment tasks, so each of the worker's two processes likely
        # loads its models before the trials.
        for i in range(2):
            _post(port, host, token, keyword_source.pk, [_item(f"warm-up-{i}", texts[i])])

        def warm() -> bool:
            with tenant_context(tenant):
                return (
                    Mention.objects.filter(
                        external_id__startswith="warm-up", enriched_at__isnull=False
                    ).count()
                    == 2
                )

        _wait(warm, "the warm-up mentions' enrichment", logs)

        for i, (word, rule) in enumerate(zip(tokens, keyword_rules, strict=True)):
            external_id = f"trial-{i}"
            text = f"{texts[(i + 1) % len(texts)]} bench {word}"
            _post(port, host, token, keyword_source.pk, [_item(external_id, text)])

            def fired(rule_id: int = rule.pk, external_id: str = external_id) -> Any:
                with tenant_context(tenant):
                    alert = Alert.objects.filter(rule_id=rule_id).first()
                    mention = Mention.objects.get(source=keyword_source, external_id=external_id)
                    return (alert, mention) if alert is not None else None

            alert, mention = _wait(fired, f"keyword trial {i}", logs)
            alert_s.append((alert.fired_at - mention.received_at).total_seconds())
            enrich_s.append((mention.enriched_at - mention.received_at).total_seconds())

        burst = [_item(f"burst-{i}", texts[(i + 7) % len(texts)]) for i in range(args.burst)]
        _post(port, host, token, burst_source.pk, burst)

        def spiked() -> Any:
            with tenant_context(tenant):
                return Alert.objects.filter(rule_id=volume_rule.pk).first()

        volume_alert = _wait(spiked, "the volume alert", logs)
        with tenant_context(tenant):
            last_arrival = max(
                Mention.objects.filter(source=burst_source, external_id__startswith="burst-").values_list(
                    "received_at", flat=True
                )
            )
        volume_s = (volume_alert.fired_at - last_arrival).total_seconds()
        why = volume_alert.why
    finally:
        for process in (beat, worker):
            _stop(process)
        server_stop(server)
    app.control.purge()
    _common.bench_data_drop()
    _common.database_stop(was_running)

    median_alert, median_enrich = statistics.median(alert_s), statistics.median(enrich_s)
    figures = {
        "trials": args.trials,
        "alert_latency_s": round(median_alert, 3),
        "alert_latency_max_s": round(max(alert_s), 3),
        "enrich_latency_s": round(median_enrich, 3),
        "alert_over_enrich_x": round(median_alert / median_enrich, 2) if median_enrich > 0 else 0.0,
        "alert_after_enrich_s": round(
            statistics.median(a - e for a, e in zip(alert_s, enrich_s, strict=True)), 3
        ),
        "burst_mentions": args.burst,
        "volume_alert_latency_s": round(volume_s, 3),
    }
    _common.table_print(["figure", "value"], [(k, str(v)) for k, v in figures.items()])
    print(f"volume alert: {why}")
    _common.results_write("alert_latency", figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
