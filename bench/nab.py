"""The crisis early warning on the Numenta Anomaly Benchmark's realTweets files (standard profile).

For each of the five files, `manage.py train_risk_model --exclude-nab FILE` trains a model (and
tunes its alert policy) without that file, and `manage.py backtest_risk` replays the file through
it; the rows it marks `alert=1` are the detections NAB scores (`crisis.ml.nab`: NAB's sweeper rules,
A_TP=1, A_FP=-0.11, A_FN=-1, normalised so the null detector scores 0 and the perfect one 100):
`nab_standard_score`. `--committed` scores the committed artifact instead (trained on all five
files: an in-sample figure, printed as such).

Two baselines are scored the same way in the same run, with the same alert mechanics (hysteresis at
half the threshold, a cooldown), their threshold and cooldown chosen on the other four files (as
the model's are):
- fixed threshold (`threshold_baseline_score`): alert when the count reaches k times the file's
  median over NAB's probationary period (the first 15% of rows, which NAB lets detectors learn on);
- rolling z-score (`zscore_baseline_score`): alert when the count is k standard deviations above
  the mean of the previous 24 hours.

`median_lead_minutes`: over the windows a detector caught, how long before the labelled anomaly
(the window's centre, NAB's label) its first alert in the window came (negative: after it).
Published NAB realTweets scores (from ../shared/data/README.md) are printed alongside.

Run: `.venv/bin/python bench/nab.py [--data ../shared/data/nab_realtweets] [--committed]`.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import _common
import numpy as np

DEFAULT_DATA = _common.REPO.parent / "shared" / "data" / "nab_realtweets"
PUBLISHED = {
    "ARTime": 81.8,
    "CAD OSE": 74.5,
    "Skyline": 68.9,
    "Numenta HTM": 68.0,
    "Twitter ADVec": 59.6,
    "Random Cut Forest": 48.1,
}
THRESHOLD_MULTIPLES = (1.5, 2, 2.5, 3, 4, 5, 6, 8, 10, 15)
Z_LEVELS = (2, 2.5, 3, 3.5, 4, 5, 6, 8, 10)
COOLDOWN_HOURS = (2, 6, 12, 24)


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"default {DEFAULT_DATA}")
    parser.add_argument(
        "--training-data", type=Path, help="shared data folder to train on (default: the parent of --data)"
    )
    parser.add_argument("--committed", action="store_true", help="score the committed model (in-sample)")
    args = parser.parse_args()
    _common.bench_environment()
    import django

    django.setup()
    from django.core.management import call_command

    from crisis.ml import nab
    from crisis.ml.risk import ARTIFACT_PATH, AlertPolicy, alerts_compute
    from crisis.ml.training_data import NAB_FILES

    labels = json.loads((args.data / "combined_labels.json").read_text())
    windows = json.loads((args.data / "combined_windows.json").read_text())
    files: dict[str, dict[str, Any]] = {}
    for name in NAB_FILES:
        with (args.data / name).open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        stamps = [_utc(r["timestamp"]) for r in rows]
        key = f"realTweets/{name}"
        files[name] = {
            "stamps": stamps,
            "values": np.array([float(r["value"]) for r in rows]),
            "bounds": nab.window_bounds(stamps, [(_utc(a), _utc(b)) for a, b in windows[key]]),
            "labels": [_utc(t) for t in labels[key]],
        }

    def lead_minutes(name: str, alerts: list[bool]) -> list[float]:
        item = files[name]
        leads = []
        for left, right in item["bounds"]:
            hits = [i for i in range(left, right + 1) if alerts[i]]
            # A window can hold two labels (GOOG's first): the lead is to the first.
            label = min(t for t in item["labels"] if item["stamps"][left] <= t <= item["stamps"][right])
            if hits:
                leads.append((label - item["stamps"][hits[0]]).total_seconds() / 60)
        return leads

    # The model, through the management commands.
    # Models and score files of this run only: removed when the run ends, however it ends.
    scratch = tempfile.TemporaryDirectory(prefix="bench-nab-")
    work = Path(scratch.name)
    model_alerts: dict[str, list[bool]] = {}
    train_s, backtest_s, rows_scored = 0.0, 0.0, 0
    for name in NAB_FILES:
        artifact = ARTIFACT_PATH
        if not args.committed:
            started = time.perf_counter()
            call_command(
                "train_risk_model",
                data=args.training_data or args.data.parent,
                output=work,
                name=f"risk-without-{Path(name).stem}",
                exclude_nab=[name],
                stdout=io.StringIO(),
            )
            train_s += time.perf_counter() - started
            artifact = work / f"risk-without-{Path(name).stem}.json"
        started = time.perf_counter()
        out = work / f"{name}.scores.csv"
        call_command(
            "backtest_risk", input=args.data / name, output=out, model=artifact, stdout=io.StringIO()
        )
        backtest_s += time.perf_counter() - started
        with out.open(newline="") as handle:
            model_alerts[name] = [r["alert"] == "1" for r in csv.DictReader(handle)]
        rows_scored += len(model_alerts[name])
        print(f"{name}: {sum(model_alerts[name])} alerts", flush=True)

    # Baselines: per-row scores, alert policy tuned leave-one-file-out like the model's.
    def threshold_scores(item: dict) -> np.ndarray:
        probation = nab.probation_rows(len(item["values"]))
        return item["values"] / max(float(np.median(item["values"][:probation])), 1.0)

    def zscore_scores(item: dict) -> np.ndarray:
        values = item["values"]
        out = np.zeros(len(values))
        for i in range(288, len(values)):
            past = values[i - 288 : i]
            out[i] = (values[i] - past.mean()) / max(past.std(), 1.0)
        return out

    def baseline(score_fn: Callable[[dict], np.ndarray], levels: tuple[float, ...]) -> dict[str, list[bool]]:
        scores = {name: score_fn(item) for name, item in files.items()}
        policies = [
            AlertPolicy(threshold=level, release=level / 2, cooldown_minutes=hours * 60)
            for level in levels
            for hours in COOLDOWN_HOURS
        ]
        alerts = {
            (name, p): alerts_compute(files[name]["stamps"], scores[name], p)
            for name in files
            for p in policies
        }
        chosen = {}
        for held in files:
            others = [n for n in files if n != held]
            best = max(
                policies,
                key=lambda p: nab.normalized_score(
                    [nab.file_score(alerts[(n, p)], files[n]["bounds"]) for n in others]
                ),
            )
            chosen[held] = alerts[(held, best)]
        return chosen

    detectors = {
        "candor risk model": model_alerts,
        "fixed threshold": baseline(threshold_scores, THRESHOLD_MULTIPLES),
        "rolling z-score": baseline(zscore_scores, Z_LEVELS),
    }
    figures: dict[str, float] = {}
    table: list[list[str]] = []
    for label, alerts in detectors.items():
        scored = [nab.file_score(alerts[name], files[name]["bounds"]) for name in NAB_FILES]
        leads = [m for name in NAB_FILES for m in lead_minutes(name, alerts[name])]
        total = nab.normalized_score(scored)
        caught = sum(s.true_positives for s in scored)
        table.append(
            [
                label,
                f"{total:.1f}",
                f"{caught}/{caught + sum(s.false_negatives for s in scored)}",
                str(sum(s.false_positives for s in scored)),
                f"{statistics.median(leads):.0f}" if leads else "-",
                " ".join(f"{nab.normalized_score([s]):.0f}" for s in scored),
            ]
        )
        key = {
            "candor risk model": "",
            "fixed threshold": "threshold_baseline_",
            "rolling z-score": "zscore_baseline_",
        }[label]
        figures[f"{key}score" if key else "nab_standard_score"] = round(total, 2)
        figures[f"{key}median_lead_minutes"] = round(statistics.median(leads), 1) if leads else 0.0
        figures[f"{key}windows_detected"] = sum(s.true_positives for s in scored)
        figures[f"{key}false_positives"] = sum(s.false_positives for s in scored)
    table += [[f"{name} (published)", f"{value:.1f}", "", "", "", ""] for name, value in PUBLISHED.items()]
    print()
    _common.table_print(
        [
            "detector",
            "NAB standard",
            "windows",
            "false pos.",
            "median lead min",
            "per file " + " ".join(Path(n).stem.removeprefix("Twitter_volume_") for n in NAB_FILES),
        ],
        table,
    )
    print(
        "\nmodel: "
        + ("the committed artifact (trained on all five files: in-sample)" if args.committed
           else "one per file, trained without it (leave-one-file-out)")
    )  # fmt: skip
    figures["windows_total"] = sum(len(files[n]["bounds"]) for n in NAB_FILES)
    figures["in_sample"] = int(args.committed)
    figures["train_s_total"] = round(train_s, 1)
    figures["backtest_rows_per_s"] = round(rows_scored / backtest_s, 1)
    figures.update({f"published_{n.lower().replace(' ', '_')}_score": v for n, v in PUBLISHED.items()})
    path = _common.results_write("nab", figures)
    print(f"backtest: {figures['backtest_rows_per_s']:.0f} rows/s; wrote {path}")


if __name__ == "__main__":
    main()
