"""Train the crisis early-warning model on public data and write its artifact.

    python manage.py train_risk_model --data ../shared/data --output crisis/ml/artifacts/

is the exact command that built the committed artifact. It reads `<data>/nab_realtweets/` and
`<data>/crisislex/`, adds constructed scenarios (seeded, so the same data gives the same artifact),
and writes `risk-v1.json` (metadata: calibration; Brier, ECE, log-loss, AUC and the reliability
table on held-out series, also printed; the alert policy and its tuning grid) with `risk-v1.6h.txt`
and `risk-v1.24h.txt` (LightGBM text models). `--exclude-nab FILE` (repeatable) leaves a NAB file
out of training, for honest benchmarks.
"""

from __future__ import annotations

import time
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

import numpy as np
from django.core.management.base import BaseCommand, CommandError

from crisis.ml.risk import ARTIFACT_PATH, RiskModel
from crisis.ml.training import risk_model_train
from crisis.ml.training_data import NAB_FILES, crisislex_load, nab_load, scenarios_build

SCENARIOS = 40
SEED = 20150226


class Command(BaseCommand):
    help = "Train the crisis-risk model on NAB realTweets, CrisisLex and constructed scenarios."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--data", type=Path, required=True, help="the shared data folder")
        parser.add_argument(
            "--output", type=Path, default=ARTIFACT_PATH.parent, help="folder to write the artifact in"
        )
        parser.add_argument("--name", default=ARTIFACT_PATH.stem, help="artifact name (default risk-v1)")
        parser.add_argument(
            "--exclude-nab", action="append", default=[], choices=NAB_FILES, help="NAB file to leave out"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        data: Path = options["data"]
        nab_dir, crisislex_dir = data / "nab_realtweets", data / "crisislex"
        if not nab_dir.is_dir() or not crisislex_dir.is_dir():
            raise CommandError(f"{data} must hold nab_realtweets/ and crisislex/")
        started = time.monotonic()
        rng = np.random.default_rng(SEED)
        excluded = tuple(options["exclude_nab"])
        series = [
            *nab_load(nab_dir, exclude=excluded),
            *crisislex_load(crisislex_dir, rng),
            *scenarios_build(SCENARIOS, rng),
        ]
        self.stdout.write(f"loaded {len(series)} series in {time.monotonic() - started:.0f} s")
        model = risk_model_train(series, version=options["name"], log=self.stdout.write)
        model.metadata["training_data"]["excluded_nab_files"] = list(excluded)
        model.metadata["training_data"]["constructed_scenarios"] = {"count": SCENARIOS, "seed": SEED}
        path = options["output"] / f"{options['name']}.json"
        model.write(path)
        # Read the artifact back as production will, and check it gives the trained model's scores.
        reread = RiskModel.read(path)
        probe = np.array([[np.nan] * len(model.metadata["features"])])
        if not np.allclose(reread.scores(probe), model.scores(probe)):
            raise CommandError(f"{path} does not score as the trained model")
        self.stdout.write(
            self.style.SUCCESS(f"wrote {path} and its models in {time.monotonic() - started:.0f} s")
        )
