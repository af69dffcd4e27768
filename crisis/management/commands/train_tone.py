"""Train the tone check's emotion head from TweetEval's emotion tweets and report it.

    python manage.py train_tone --data ../shared/data/emotion \\
        --output crisis/tone/artifacts/tone-emotion-v1.npz

About a minute on 2 cores, most of it embedding the 3,600 tweets.
"""

from __future__ import annotations

import importlib.metadata
import time
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

import numpy as np
from django.core.management.base import BaseCommand, CommandError

from crisis.tone.emotion import ARTIFACT_PATH, LABELS, EmotionModel, artifact_write
from crisis.tone.emotion_train import (
    FOLDS,
    emotion_split_load,
    head_fit,
    keyword_predict,
    macro_f1,
    majority_predict,
)
from listening.nlp import embedder


class Command(BaseCommand):
    help = "Train the tone check's emotion model on TweetEval emotion tweets; report macro-F1 on validation."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--data", type=Path, required=True, help="shared/data/emotion folder")
        parser.add_argument("--output", type=Path, default=ARTIFACT_PATH, help=f"default {ARTIFACT_PATH}")
        parser.add_argument(
            "--model-version", default="", help="version stored in the artifact (default: output file stem)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        data: Path = options["data"]
        output: Path = options["output"]
        version = options["model_version"] or output.stem
        if not (data / "train_text.txt").is_file() or not (data / "val_text.txt").is_file():
            raise CommandError(f"{data} must hold train_text.txt, train_labels.txt, val_* and mapping.txt")
        started = time.monotonic()
        train = emotion_split_load(data, "train")
        val = emotion_split_load(data, "val")
        counts = np.bincount(train.labels, minlength=len(LABELS))
        self.stdout.write(
            f"{len(train.texts)} training tweets ("
            + ", ".join(f"{label} {n}" for label, n in zip(LABELS, counts, strict=True))
            + f"), {len(val.texts)} validation tweets"
        )
        train_embeddings = embedder.encode(train.texts).astype(np.float64)
        val_embeddings = embedder.encode(val.texts)
        self.stdout.write(f"embedded ({time.monotonic() - started:.0f} s)")

        fit = head_fit(train_embeddings, train.labels)
        for c, score in fit.cv_macro_f1.items():
            self.stdout.write(f"  C={c:g}: {FOLDS}-fold macro-F1 {score:.4f}")

        config = {
            "version": version,
            "hyperparameters": {"c": fit.c, "class_weight": "balanced"},
            "training_data": {
                "source": "TweetEval emotion (cardiffnlp/tweeteval), train split",
                "examples": dict(zip(LABELS, map(int, counts), strict=True)),
            },
            "libraries": {
                name: importlib.metadata.version(name)
                for name in ("scikit-learn", "sentence-transformers", "torch", "numpy")
            },
        }
        # Score what the file holds, read back as the product reads it, and store that figure.
        probe = output.with_name(f".{output.name}.probe")
        artifact_write(probe, fit.coef, fit.intercept, config)
        predicted = EmotionModel.read(probe).proba_from_embeddings(val_embeddings).argmax(axis=1)
        probe.unlink()
        score = macro_f1(val.labels, predicted)
        majority = majority_predict(train.labels, len(val.texts))
        baselines = {
            "majority": macro_f1(val.labels, majority),
            "keywords": macro_f1(val.labels, keyword_predict(val.texts, int(majority[0]))),
        }
        config["metrics"] = {
            "val_macro_f1": round(score, 4),
            "cv_macro_f1": round(fit.cv_macro_f1[fit.c], 4),
            **{f"{name}_baseline_val_macro_f1": round(value, 4) for name, value in baselines.items()},
        }
        sha256 = artifact_write(output, fit.coef, fit.intercept, config)
        self.stdout.write(
            f"chosen C={fit.c:g}: validation macro-F1 {score:.4f} (majority {baselines['majority']:.4f},"
            f" keywords {baselines['keywords']:.4f})"
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"wrote {output} ({output.stat().st_size / 1e3:.0f} kB, version {version}, sha256 {sha256})"
                f" in {time.monotonic() - started:.0f} s"
            )
        )
