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
Published NAB realTweets scores (from ../shared/data/README.md) are printed alongside, and each
detector's score per file.

Calibration, on data no model saw: the 6 h probabilities (`score / 100`) the held-out models gave
their held-out files against the 6 h labels of those files (`heldout_brier`, `heldout_ece`, the
reliability table), next to the always-the-base-rate forecast (`base_rate_brier`), and the
held-out-series calibration each training run measured itself (`train_heldout_brier_mean`,
`train_heldout_ece_mean`, from the artifacts' metadata).

Speed, each next to its baseline measured in the same run: training time per model
(`train_s_per_model`) next to reading and building its training series alone
(`read_training_data_s`); backtest rows/s (`backtest_rows_per_s`, the whole command: CSV in,
features, model, alert policy, CSV out) next to computing the features alone
(`features_rows_per_s`).

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

    from crisis.management.commands.train_risk_model import SCENARIOS, SEED
    from crisis.ml import nab
    from crisis.ml.features import Signals, features_compute
    from crisis.ml.risk import ARTIFACT_PATH, HORIZON_HOURS, AlertPolicy, alerts_compute, horizon_labels
    from crisis.ml.training import calibration_metrics
    from crisis.ml.training_data import NAB_FILES, crisislex_load, nab_load, scenarios_build

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
    model_scores: dict[str, np.ndarray] = {}
    train_heldout: list[dict[str, Any]] = []
    train_s, backtest_s, rows_scored, trained = 0.0, 0.0, 0, 0
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
            trained += 1
            artifact = work / f"risk-without-{Path(name).stem}.json"
            train_heldout.append(json.loads(artifact.read_text())["evaluation"]["6h"]["calibrated"])
        started = time.perf_counter()
        out = work / f"{name}.scores.csv"
        call_command(
            "backtest_risk", input=args.data / name, output=out, model=artifact, stdout=io.StringIO()
        )
        backtest_s += time.perf_counter() - started
        with out.open(newline="") as handle:
            scored_rows = list(csv.DictReader(handle))
        model_alerts[name] = [r["alert"] == "1" for r in scored_rows]
        model_scores[name] = np.array([float(r["score"]) for r in scored_rows])
        rows_scored += len(scored_rows)
        print(f"{name}: {sum(model_alerts[name])} alerts", flush=True)

    # Same-run baselines of the speed figures: the features alone over the same rows, and reading
    # and building the training series alone (what every training run starts with).
    started = time.perf_counter()
    for name in NAB_FILES:
        pairs = zip(files[name]["stamps"], files[name]["values"], strict=True)
        features_compute(Signals(timestamp=t, volume=float(v)) for t, v in pairs)
    features_s = time.perf_counter() - started
    started = time.perf_counter()
    training_root = args.training_data or args.data.parent
    rng = np.random.default_rng(SEED)
    nab_load(training_root / "nab_realtweets", exclude=(NAB_FILES[0],))
    crisislex_load(training_root / "crisislex", rng)
    scenarios_build(SCENARIOS, rng)
    read_s = time.perf_counter() - started

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

    # Calibration on the held-out files: the score is 100 x P(crisis within 6 h).
    probabilities = np.concatenate([model_scores[name] / 100.0 for name in NAB_FILES])
    outcomes = np.concatenate(
        [
            horizon_labels(
                np.array([t.timestamp() for t in files[name]["stamps"]]),
                [t.timestamp() for t in files[name]["labels"]],
                hours=HORIZON_HOURS["6h"],
            )
            for name in NAB_FILES
        ]
    )
    calibration = calibration_metrics(probabilities, outcomes)
    base_rate_brier = float(np.mean((outcomes - outcomes.mean()) ** 2))

    detectors = {
        "candor risk model": model_alerts,
        "fixed threshold": baseline(threshold_scores, THRESHOLD_MULTIPLES),
        "rolling z-score": baseline(zscore_scores, Z_LEVELS),
    }
    figures: dict[str, float] = {}
    table: list[list[str]] = []
    per_file: list[dict[str, float]] = []
    for name in NAB_FILES:
        score = nab.file_score(model_alerts[name], files[name]["bounds"])
        leads = lead_minutes(name, model_alerts[name])
        per_file.append(
            {
                "score": round(nab.normalized_score([score]), 2),
                "windows_detected": score.true_positives,
                "windows_missed": score.false_negatives,
                "false_positives": score.false_positives,
                "median_lead_minutes": round(statistics.median(leads), 1) if leads else 0.0,
            }
        )
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
    print("\nthe model per file:")
    _common.table_print(
        ["file", "NAB standard", "windows caught", "missed", "false pos.", "median lead min"],
        [
            [
                name,
                f"{f['score']:.1f}",
                str(f["windows_detected"]),
                str(f["windows_missed"]),
                str(f["false_positives"]),
                f"{f['median_lead_minutes']:.0f}" if f["windows_detected"] else "-",
            ]
            for name, f in zip(NAB_FILES, per_file, strict=True)
        ],
    )
    for name, file_figures in zip(NAB_FILES, per_file, strict=True):
        stem = Path(name).stem.removeprefix("Twitter_volume_").lower()
        figures.update({f"{stem}_{key}": value for key, value in file_figures.items()})
    print(
        f"\ncalibration of the 6 h probability on the held-out files ({calibration['rows']} rows, positive"
        f" rate {calibration['positive_rate']:.4f}): Brier {calibration['brier']:.4f} (always the base"
        f" rate: {base_rate_brier:.4f}), ECE {calibration['ece']:.4f},"
        f" log-loss {calibration['log_loss']:.4f}, ROC AUC {calibration['roc_auc']}"
    )
    _common.table_print(
        ["predicted", "rows", "mean predicted", "observed"],
        [
            [row["bin"], str(row["rows"]), f"{row['predicted']:.4f}", f"{row['observed']:.4f}"]
            for row in calibration["reliability"]
        ],
    )
    if train_heldout:
        print(
            "training runs' own held-out-series calibration (mean of the five):"
            f" Brier {statistics.mean(r['brier'] for r in train_heldout):.4f},"
            f" ECE {statistics.mean(r['ece'] for r in train_heldout):.4f}"
        )
        figures["train_heldout_brier_mean"] = round(statistics.mean(r["brier"] for r in train_heldout), 5)
        figures["train_heldout_ece_mean"] = round(statistics.mean(r["ece"] for r in train_heldout), 5)
    figures["heldout_brier"] = calibration["brier"]
    figures["heldout_ece"] = calibration["ece"]
    figures["heldout_roc_auc"] = calibration["roc_auc"] or 0.0
    figures["base_rate_brier"] = round(base_rate_brier, 5)
    figures["windows_total"] = sum(len(files[n]["bounds"]) for n in NAB_FILES)
    figures["in_sample"] = int(args.committed)
    figures["train_s_total"] = round(train_s, 1)
    figures["train_s_per_model"] = round(train_s / trained, 1) if trained else 0.0
    figures["read_training_data_s"] = round(read_s, 1)
    figures["backtest_rows_per_s"] = round(rows_scored / backtest_s, 1)
    figures["features_rows_per_s"] = round(rows_scored / features_s, 1)
    figures.update({f"published_{n.lower().replace(' ', '_')}_score": v for n, v in PUBLISHED.items()})
    path = _common.results_write("nab", figures)
    print(
        f"\nspeed: backtest {figures['backtest_rows_per_s']:.0f} rows/s (features alone:"
        f" {figures['features_rows_per_s']:.0f} rows/s)"
        + (
            f"; training {figures['train_s_per_model']:.0f} s a model (reading its data alone:"
            f" {figures['read_training_data_s']:.0f} s)"
            if trained
            else ""
        )
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
