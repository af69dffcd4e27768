"""Tone check quality and speed: the committed emotion head on TweetEval's emotion validation split,
next to a majority-class and a keyword baseline measured in the same run, and the whole tone check's
speed next to the raw embedder's.

Quality: macro-averaged F1 over anger/joy/optimism/sadness on the 374 validation tweets
(`tone_val_macro_f1`; the head's C was chosen by cross-validation on the training split, so this is
a held-out figure), per-label F1, and the baselines: always the training split's most frequent label
(`majority_baseline_val_macro_f1`) and a small emotion word list (`keyword_baseline_val_macro_f1`,
`crisis.tone.emotion_train.BASELINE_KEYWORDS`). TweetEval's published RoBERTa-base figure on this
task's test split is 0.72 macro-F1 (Barbieri et al. 2020), for reference only (another split, a
fine-tuned transformer).

Speed: `tone_check_statements_per_s` is `tone_check` on written crisis statements of four to eight
sentences (rules, sentence split, embedding of each sentence, emotion head, report), and its
baseline `raw_encode_statements_per_s` is `embedder.encode` of the same sentences alone; they take
turns for `--rounds` passes, so `tone_over_raw_x` holds on a noisy machine. `rules_statements_per_s`
is the rules alone (`use_model=False`).

No database: the tone check is pure Python. Run: `.venv/bin/python bench/tone.py
[--data ../shared/data/emotion] [--rounds 20]`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import _common

DEFAULT_DATA = _common.REPO.parent / "shared" / "data" / "emotion"

STATEMENTS = [
    "Since 09:40 UTC, many of you cannot sign in to Acme Cloud. We are sorry: you rely on us for your work. "
    "Our engineers have rolled back this morning's change and are restoring service region by region. We "
    "will post the next update at 10:30 UTC on https://status.acme.example. If you need help, contact "
    "support@acme.example.",
    "This is an upsetting event to all of us here at United. I apologize for having to re-accommodate these "
    "customers. Our team is moving with a sense of urgency to work with the authorities and conduct our own "
    "detailed review of what happened. We are also reaching out to this passenger to talk directly to him.",
    "Some users may have experienced a brief disruption. The issue was caused by a third-party vendor. We "
    "followed all procedures and there is no evidence of data loss. We regret any inconvenience.",
    "On 2 December at 08:15 UTC we learned that someone outside Acme gained access to names and email "
    "addresses. We are sorry. You trusted us with this information and we failed to protect it. We have "
    "closed the access and are informing the authorities. Please reset your password. We will publish the "
    "next update at 16:00 UTC at https://acme.example/incident. Contact us at help@acme.example.",
]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"default {DEFAULT_DATA}")
    parser.add_argument("--rounds", type=int, default=20, help="passes over the statements (default 20)")
    args = parser.parse_args()
    # Nothing here loads settings; if anything did, it would land on the benchmark data folder.
    _common.bench_environment()

    from sklearn.metrics import f1_score

    from crisis.tone.check import sentences_split, tone_check
    from crisis.tone.emotion import LABELS, EmotionModel
    from crisis.tone.emotion_train import emotion_split_load, keyword_predict, macro_f1, majority_predict
    from listening.nlp import embedder

    train = emotion_split_load(args.data, "train")
    val = emotion_split_load(args.data, "val")
    model = EmotionModel.load()
    predicted = model.predict_proba(val.texts).argmax(axis=1)
    majority = majority_predict(train.labels, len(val.texts))
    keywords = keyword_predict(val.texts, int(majority[0]))
    figures: dict[str, float] = {
        "tone_val_macro_f1": macro_f1(val.labels, predicted),
        "majority_baseline_val_macro_f1": macro_f1(val.labels, majority),
        "keyword_baseline_val_macro_f1": macro_f1(val.labels, keywords),
        "val_texts": len(val.texts),
    }
    per_label = f1_score(val.labels, predicted, labels=list(range(len(LABELS))), average=None)
    keyword_per_label = f1_score(val.labels, keywords, labels=list(range(len(LABELS))), average=None)
    for label, model_f1, keyword_f1 in zip(LABELS, per_label, keyword_per_label, strict=True):
        figures[f"tone_val_f1_{label}"] = float(model_f1)
        figures[f"keyword_baseline_val_f1_{label}"] = float(keyword_f1)

    sentences = [text[start:end] for text in STATEMENTS for start, end in sentences_split(text)]
    tone_check(STATEMENTS[0], model=model)  # warm-up, not counted
    seconds = {"tone_check": 0.0, "raw_encode": 0.0}
    for i in range(args.rounds):
        order = ("tone_check", "raw_encode") if i % 2 == 0 else ("raw_encode", "tone_check")
        for name in order:
            started = time.perf_counter()
            if name == "tone_check":
                for text in STATEMENTS:
                    tone_check(text, model=model)
            else:
                for text in STATEMENTS:
                    embedder.encode([text[start:end] for start, end in sentences_split(text)])
            seconds[name] += time.perf_counter() - started
    runs = len(STATEMENTS) * args.rounds
    figures["tone_check_statements_per_s"] = runs / seconds["tone_check"]
    figures["raw_encode_statements_per_s"] = runs / seconds["raw_encode"]
    figures["tone_over_raw_x"] = (
        figures["tone_check_statements_per_s"] / figures["raw_encode_statements_per_s"]
    )
    started = time.perf_counter()
    for _ in range(args.rounds):
        for text in STATEMENTS:
            tone_check(text, use_model=False)
    figures["rules_statements_per_s"] = runs / (time.perf_counter() - started)
    figures["sentences_per_statement"] = len(sentences) / len(STATEMENTS)

    print(f"emotion model {model.version} (sha256 {model.sha256[:12]}) on TweetEval emotion validation")
    _common.table_print(
        ("", "model", "keywords", "majority"),
        [
            ("macro-F1", f"{figures['tone_val_macro_f1']:.4f}",
             f"{figures['keyword_baseline_val_macro_f1']:.4f}",
             f"{figures['majority_baseline_val_macro_f1']:.4f}"),
            *[
                (f"F1 {label}", f"{figures[f'tone_val_f1_{label}']:.4f}",
                 f"{figures[f'keyword_baseline_val_f1_{label}']:.4f}", "")
                for label in LABELS
            ],
        ],
    )  # fmt: skip
    print()
    _common.table_print(
        ("statements/s", "value"),
        [
            ("tone_check (rules + model)", f"{figures['tone_check_statements_per_s']:.1f}"),
            ("embedder.encode alone", f"{figures['raw_encode_statements_per_s']:.1f}"),
            ("rules alone", f"{figures['rules_statements_per_s']:.0f}"),
        ],
    )
    print(f"\nwrote {_common.results_write('tone', figures)}")


if __name__ == "__main__":
    main()
