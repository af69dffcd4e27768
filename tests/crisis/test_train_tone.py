"""`manage.py train_tone` end to end on a small emotion folder: it trains, writes an artifact the
product loads, stores the validation figures next to the baselines, and refuses bad folders."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from crisis.tone.emotion import LABELS, EmotionModel

TWEETS = {
    "anger": ["I am furious about this", "This makes me so angry", "Absolutely livid right now",
              "I hate how they treated us", "What an outrageous insult", "Stop lying to us, I am fuming"],
    "joy": ["Best day ever, so happy", "I love this so much", "What a wonderful surprise party",
            "Laughing all day with friends", "Delighted with the result", "This made me smile"],
    "optimism": ["Tomorrow will be better, I believe it", "Keep going, success is near",
                 "I have hope for the future", "We will get through this together",
                 "Every setback is a setup for a comeback", "Stay positive and keep working"],
    "sadness": ["I miss her so much", "Feeling lonely and down tonight", "So sad about the news",
                "I cried all evening", "Heartbroken after the loss", "Nothing feels right anymore"],
}  # fmt: skip


def _folder(root: Path) -> Path:
    root.mkdir()
    codes = {label: str(i) for i, label in enumerate(LABELS)}
    (root / "mapping.txt").write_text("".join(f"{code}\t{label}\n" for label, code in codes.items()))
    for split, rows in (("train", slice(0, 5)), ("val", slice(5, 6))):
        pairs = [(text, codes[label]) for label, texts in TWEETS.items() for text in texts[rows]]
        (root / f"{split}_text.txt").write_text("".join(f"{text}\n" for text, _ in pairs))
        (root / f"{split}_labels.txt").write_text("".join(f"{code}\n" for _, code in pairs))
    return root


@pytest.mark.embedder
def test_train_tone_writes_a_loadable_artifact(tmp_path: Path) -> None:
    data = _folder(tmp_path / "emotion")
    output = tmp_path / "tone-test.npz"
    out = io.StringIO()
    call_command("train_tone", "--data", str(data), "--output", str(output), stdout=out)
    assert "validation macro-F1" in out.getvalue()
    model = EmotionModel.read(output)
    assert model.version == "tone-test"
    metrics = model.config["metrics"]
    assert set(metrics) == {
        "val_macro_f1", "cv_macro_f1", "majority_baseline_val_macro_f1", "keywords_baseline_val_macro_f1"
    }  # fmt: skip
    assert model.config["training_data"]["examples"] == dict.fromkeys(LABELS, 5)
    proba = model.predict_proba(["I am so angry and furious"])
    assert proba.shape == (1, len(LABELS))
    assert not list(tmp_path.glob(".*probe"))  # the read-back copy is removed


def test_train_tone_refuses_a_folder_without_the_splits(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match=r"must hold train_text\.txt"):
        call_command("train_tone", "--data", str(tmp_path), "--output", str(tmp_path / "x.npz"))


def test_train_tone_refuses_mismatched_labels(tmp_path: Path) -> None:
    data = _folder(tmp_path / "emotion")
    (data / "train_labels.txt").write_text("0\n1\n")
    with pytest.raises(ValueError, match="20 train texts but 2 labels"):
        call_command("train_tone", "--data", str(data), "--output", str(tmp_path / "x.npz"))
