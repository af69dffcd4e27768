"""Sentiment quality and speed: the committed artifact and VADER on TweetEval's validation split,
and the model's throughput next to the raw embedder's.

Quality: macro-averaged recall over negative/neutral/positive on the 2,000 validation tweets
(`tweeteval_val_macro_recall`; the hyper-parameters were chosen on this split, so read it as a
slightly optimistic figure), with per-label recalls, and VADER (vaderSentiment, compound >= 0.05
positive, <= -0.05 negative, else neutral) on the same tweets (`vader_val_macro_recall`).

Speed, on the validation tweets, after an uncounted warm-up: `sentiment_texts_per_s` is
`SentimentModel.predict` from raw text (normalisation, embedding, both heads), and its baseline
`raw_encode_texts_per_s` is `embedder.encode` alone; they take turns on slices of 250 tweets (order
flipped each slice) for `--rounds` passes, so `sentiment_over_raw_x` (their ratio) holds on a noisy
machine. The other enrichment steps are timed in the same run: `language_texts_per_s`
(`detect_languages`), `story_key_texts_per_s` (`dedupe.story_key`), and VADER's own speed.

No database: the NLP core is pure Python. Run: `.venv/bin/python bench/sentiment.py
[--data ../shared/data/sentiment] [--rounds 3]`.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import _common
import numpy as np

DEFAULT_DATA = _common.REPO.parent / "shared" / "data" / "sentiment"
# Texts per timed slice: a batch of the size enrichment hands the models.
CHUNK = 250


def _rate(fn: Callable[[Sequence[str]], object], texts: Sequence[str]) -> float:
    started = time.perf_counter()
    fn(texts)
    return len(texts) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"default {DEFAULT_DATA}")
    parser.add_argument("--rounds", type=int, default=2, help="passes over the tweets (default 2)")
    args = parser.parse_args()
    # Settings are never loaded (the NLP core has no ORM), but if anything did load them it would
    # land on the benchmark data folder.
    _common.bench_environment()

    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    from listening.nlp import embedder
    from listening.nlp.dedupe import story_key
    from listening.nlp.language import detect_languages
    from listening.nlp.sentiment import LABELS, SentimentModel
    from listening.nlp.sentiment_data import tweeteval_load
    from listening.nlp.sentiment_train import macro_recall

    val = tweeteval_load(args.data / "tweeteval_val")
    texts = [row.text for row in val]
    truth = np.array([LABELS.index(row.label) for row in val])
    model = SentimentModel.load()

    predicted = np.array([LABELS.index(label) for label, _ in model.predict(texts)])
    vader = SentimentIntensityAnalyzer()

    def vader_labels(batch: Sequence[str]) -> list[int]:
        compounds = (vader.polarity_scores(text)["compound"] for text in batch)
        return [2 if c >= 0.05 else 0 if c <= -0.05 else 1 for c in compounds]

    vader_predicted = np.array(vader_labels(texts))
    figures: dict[str, float] = {
        "tweeteval_val_macro_recall": macro_recall(truth, predicted),
        "vader_val_macro_recall": macro_recall(truth, vader_predicted),
    }
    for i, label in enumerate(LABELS):
        figures[f"tweeteval_val_recall_{label}"] = float(np.mean(predicted[truth == i] == i))
        figures[f"vader_val_recall_{label}"] = float(np.mean(vader_predicted[truth == i] == i))

    # Warm-up (thread pools, lazy language models) is not counted.
    embedder.encode(texts[:64])
    model.predict(texts[:64])
    detect_languages(texts[:64])
    # The two pipelines take turns on slices of CHUNK texts (order flipped each slice), so a burst
    # of load from another process on this shared machine falls on both alike.
    pipelines: dict[str, Callable[[Sequence[str]], object]] = {
        "raw_encode": embedder.encode,
        "sentiment": model.predict,
    }
    seconds = dict.fromkeys(pipelines, 0.0)
    slices = [texts[start : start + CHUNK] for start in range(0, len(texts), CHUNK)] * args.rounds
    for i, chunk in enumerate(slices):
        for name in pipelines if i % 2 == 0 else reversed(pipelines):
            started = time.perf_counter()
            pipelines[name](chunk)
            seconds[name] += time.perf_counter() - started
    for name, elapsed in seconds.items():
        figures[f"{name}_texts_per_s"] = len(texts) * args.rounds / elapsed
    figures["sentiment_over_raw_x"] = figures["sentiment_texts_per_s"] / figures["raw_encode_texts_per_s"]
    figures["language_texts_per_s"] = _rate(detect_languages, texts)
    figures["story_key_texts_per_s"] = _rate(lambda batch: [story_key(t) for t in batch], texts)
    figures["vader_texts_per_s"] = _rate(vader_labels, texts)
    figures["val_texts"] = len(texts)

    rows = [
        ("macro recall, TweetEval val", f"{figures['tweeteval_val_macro_recall']:.4f}",
         f"{figures['vader_val_macro_recall']:.4f}"),
        *[
            (f"recall {label}", f"{figures[f'tweeteval_val_recall_{label}']:.4f}",
             f"{figures[f'vader_val_recall_{label}']:.4f}")
            for label in LABELS
        ],
        ("texts/s", f"{figures['sentiment_texts_per_s']:.0f}", f"{figures['vader_texts_per_s']:.0f}"),
    ]  # fmt: skip
    print(f"sentiment model {model.version} (sha256 {model.sha256[:12]}) against VADER")
    _common.table_print(("", "model", "VADER"), rows)
    print()
    _common.table_print(
        ("throughput on the validation tweets", "texts/s"),
        [
            ("embedder.encode (baseline)", f"{figures['raw_encode_texts_per_s']:.0f}"),
            ("SentimentModel.predict from raw text", f"{figures['sentiment_texts_per_s']:.0f}"),
            ("  ratio to the baseline", f"{figures['sentiment_over_raw_x']:.3f}"),
            ("detect_languages", f"{figures['language_texts_per_s']:.0f}"),
            ("story_key", f"{figures['story_key_texts_per_s']:.0f}"),
        ],
    )
    path = _common.results_write("sentiment", figures)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
