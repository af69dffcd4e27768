"""Readers for the public sentiment data sets (shared/data/sentiment): used by the training command
and the benchmark only; the product never reads them.

Both sets hold tweets as the SemEval organisers distributed them: some wrapped in CSV quotes with
doubled inner quotes, some with JSON-style escapes left in (`\\u2019`, `\\u002c`, `\\"`). `_unmangle`
undoes that the same way for both, so a tweet reads the same whichever file it comes from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

LABELS = ("negative", "neutral", "positive")

_ESCAPE_RE = re.compile(r"\\u([0-9a-fA-F]{4})")


@dataclass(frozen=True, slots=True)
class LabelledText:
    text: str
    label: str
    source: str  # file name, for reports


def _unmangle(raw: str) -> str:
    text = raw.strip()
    text = _ESCAPE_RE.sub(lambda m: chr(int(m.group(1), 16)), text)
    text = text.replace('\\"', '"')
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        text = text[1:-1]
    return text.replace('""', '"').strip()


def semeval_load(folder: Path) -> list[LabelledText]:
    """Every row of the SemEval 2013-2016 subtask A files (`*-A.tsv`: id, label, text, and in
    2016test a trailing empty column), in file order. Duplicates are kept: the caller dedupes."""
    files = sorted(folder.glob("*-A.tsv"))
    if not files:
        raise FileNotFoundError(f"no SemEval *-A.tsv files in {folder}")
    rows: list[LabelledText] = []
    for path in files:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                fields = line.rstrip("\n").split("\t")
                if len(fields) < 3 or fields[1] not in LABELS:
                    raise ValueError(f"{path.name}:{number}: not an id<TAB>label<TAB>text row")
                rows.append(LabelledText(_unmangle(fields[2]), fields[1], path.name))
    return rows


def tweeteval_load(folder: Path) -> list[LabelledText]:
    """The TweetEval sentiment split in `folder` (`val_text.txt`, `val_labels.txt`: one tweet and
    one label 0/1/2 per line, mapped by `mapping.txt` to negative/neutral/positive)."""
    texts = (folder / "val_text.txt").read_text(encoding="utf-8").splitlines()
    codes = (folder / "val_labels.txt").read_text(encoding="utf-8").split()
    mapping = dict(line.split("\t") for line in (folder / "mapping.txt").read_text().splitlines() if line)
    if len(texts) != len(codes):
        raise ValueError(f"{folder}: {len(texts)} texts but {len(codes)} labels")
    return [
        LabelledText(_unmangle(text), mapping[code], "tweeteval_val")
        for text, code in zip(texts, codes, strict=True)
    ]
