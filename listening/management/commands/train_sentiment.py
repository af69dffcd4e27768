"""Train the sentiment artifact from the public SemEval tweets; tune and report on TweetEval's
validation split.

    python manage.py train_sentiment --data ../shared/data/sentiment \\
        --output listening/nlp/artifacts/sentiment-v1.npz

About 10 minutes on 2 cores, most of it embedding ~50k tweets; `--cache DIR` keeps each text's
embedding between runs (keyed by its normalised text, the model and the normalisation version).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import time
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from django.core.management.base import BaseCommand, CommandError

from listening.nlp import embedder
from listening.nlp.normalize import NORMALIZATION_VERSION, normalize_text
from listening.nlp.sentiment import LABELS, NgramSpec, SentimentModel, artifact_write, model_text
from listening.nlp.sentiment_data import semeval_load, tweeteval_load
from listening.nlp.sentiment_train import Grid, Split, heads_fit, macro_recall, training_set_build

# Word 1-2-grams and character 2-5-grams in 2**18 columns each: 2**17 costs half a point of macro
# recall to the n-gram head alone, 2**18 keeps the artifact at about 2.5 MB.
NGRAM_SPEC = NgramSpec(word_ngrams=(1, 2), char_ngrams=(2, 5), hash_bits=18)


class Command(BaseCommand):
    help = "Train the sentiment model on SemEval 2013-2016 tweets, tuned on TweetEval's validation split."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--data", type=Path, required=True, help="shared/data/sentiment folder")
        parser.add_argument("--output", type=Path, required=True, help="artifact to write (.npz)")
        # (`--version` is Django's own option.)
        parser.add_argument(
            "--model-version", default="", help="version stored in the artifact (default: output file stem)"
        )
        parser.add_argument("--cache", type=Path, help="folder to keep embeddings in between runs")
        parser.add_argument("--jobs", type=int, default=2, help="fits run in parallel (default 2)")

    def handle(self, *args: Any, **options: Any) -> None:
        data: Path = options["data"]
        output: Path = options["output"]
        version = options["model_version"] or output.stem
        semeval_dir, val_dir = data / "semeval2013_2016", data / "tweeteval_val"
        if not semeval_dir.is_dir() or not val_dir.is_dir():
            raise CommandError(f"{data} must hold semeval2013_2016/ and tweeteval_val/")
        started = time.monotonic()

        rows = semeval_load(semeval_dir)
        val = tweeteval_load(val_dir)
        training = training_set_build(rows, [row.text for row in val])
        counts = np.bincount(training.labels, minlength=len(LABELS))
        self.stdout.write(
            f"{training.rows} rows, {training.tweets} distinct tweets; removed {training.held_out_overlaps}"
            f" copies of validation tweets and {training.conflicts} with conflicting labels;"
            f" training on {len(training.texts)} ("
            + ", ".join(f"{label} {n}" for label, n in zip(LABELS, counts, strict=True))
            + ")"
        )

        val_texts = [row.text for row in val]
        val_labels = np.array([LABELS.index(row.label) for row in val], dtype=np.int64)
        embeddings = self._embed(training.texts + val_texts, options["cache"])
        train_split = Split(
            embeddings[: len(training.texts)].astype(np.float64),
            NGRAM_SPEC.features([model_text(t) for t in training.texts]).astype(np.float64),
            training.labels,
        )
        val_split = Split(
            embeddings[len(training.texts) :],
            NGRAM_SPEC.features([model_text(t) for t in val_texts]),
            val_labels,
        )
        self.stdout.write(f"embedded and featurised ({time.monotonic() - started:.0f} s)")

        result = heads_fit(
            train_split, val_split, NGRAM_SPEC, Grid(), n_jobs=options["jobs"], log=self.stdout.write
        )
        for name, score in result.single_head_scores.items():
            self.stdout.write(f"  one head, {name}: {score:.4f}")
        for (ec, nc, weight), score in sorted(result.grid_scores.items(), key=lambda item: -item[1])[:5]:
            self.stdout.write(
                f"  embedding C={ec:g}, n-gram C={nc:g}, embedding weight={weight:g}: {score:.4f}"
            )

        config = {
            "version": version,
            "hyperparameters": result.hyperparameters,
            "metrics": {"tweeteval_val_macro_recall": round(result.val_macro_recall, 4)},
            "training_data": {
                "source": "SemEval 2013-2016 task 4A tweets (cbaziotis/datastories-semeval2017-task4)",
                "rows": training.rows,
                "distinct_tweets": training.tweets,
                "removed_validation_copies": training.held_out_overlaps,
                "removed_label_conflicts": training.conflicts,
                "examples": dict(zip(LABELS, map(int, counts), strict=True)),
            },
            "tuned_on": "TweetEval sentiment validation split (cardiffnlp/tweeteval), 2000 tweets",
            "libraries": {
                name: importlib.metadata.version(name)
                for name in ("scikit-learn", "sentence-transformers", "torch", "numpy")
            },
        }
        sha256 = artifact_write(output, result.heads, config)

        # Read the file back as the product will, and check it scores what was chosen.
        model = SentimentModel.read(output)
        proba = model.heads.proba(val_split.embeddings, val_split.ngrams)
        recall = macro_recall(val_labels, proba.argmax(axis=1))
        if abs(recall - result.val_macro_recall) > 1e-9:
            raise CommandError(f"the written artifact scores {recall:.4f}, not {result.val_macro_recall:.4f}")
        per_label = [float(np.mean(proba.argmax(axis=1)[val_labels == i] == i)) for i in range(len(LABELS))]
        self.stdout.write(
            f"chosen {result.hyperparameters}: TweetEval validation macro recall {recall:.4f} ("
            + ", ".join(f"{label} {r:.3f}" for label, r in zip(LABELS, per_label, strict=True))
            + ")"
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"wrote {output} ({output.stat().st_size / 1e6:.2f} MB, version {version}, sha256 {sha256})"
                f" in {time.monotonic() - started:.0f} s"
            )
        )

    def _embed(self, texts: list[str], cache: Path | None) -> npt.NDArray[np.float32]:
        """Embeddings of `texts`; with a cache folder, those of texts embedded by an earlier run
        are reused (keyed by normalised text, under a file named for the model and normalisation)."""
        if cache is None:
            return self._encode(texts)
        # Hex, not bytes: numpy's fixed-width bytes drop trailing NULs, so 1 key in 256 would not
        # read back as written.
        keys = [hashlib.blake2b(normalize_text(t).encode(), digest_size=16).hexdigest() for t in texts]
        tag = hashlib.sha256(
            f"{embedder.MODEL_NAME}|{embedder.MAX_WORD_PIECES}|{NORMALIZATION_VERSION}".encode()
        ).hexdigest()[:12]
        path = cache / f"embeddings-{tag}.npz"
        known: dict[str, npt.NDArray[np.float32]] = {}
        if path.exists():
            with np.load(path, allow_pickle=False) as stored:
                known = dict(zip(stored["keys"].tolist(), stored["vectors"], strict=True))
        missing = {key: text for key, text in zip(keys, texts, strict=True) if key not in known}
        self.stdout.write(
            f"embeddings: {len(set(keys)) - len(missing)} from {path}, {len(missing)} to compute"
        )
        if missing:
            known.update(zip(missing, self._encode(list(missing.values())), strict=True))
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savez(path, keys=np.array(list(known)), vectors=np.stack(list(known.values())))
        return np.stack([known[key] for key in keys])

    def _encode(self, texts: list[str]) -> npt.NDArray[np.float32]:
        started = time.monotonic()
        embeddings = embedder.encode(texts)
        elapsed = time.monotonic() - started
        self.stdout.write(f"embedded {len(texts)} texts in {elapsed:.0f} s ({len(texts) / elapsed:.0f}/s)")
        return embeddings
