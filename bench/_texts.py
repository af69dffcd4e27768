"""Real tweet texts for the listening benchmarks: the SemEval files in ../shared/data/sentiment
(read only by benchmarks; the product never needs them)."""

from __future__ import annotations

import csv
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "sentiment"


def tweet_texts(data: Path, limit: int) -> list[str]:
    """Up to `limit` distinct tweet texts, in file order (the SemEval TSV files: id, label, text)."""
    seen: dict[str, None] = {}
    for path in sorted((data / "semeval2013_2016").glob("twitter-*.tsv")):
        with path.open(encoding="utf-8", errors="replace", newline="") as handle:
            for row in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
                if len(row) >= 3 and row[-1].strip():
                    seen.setdefault(row[-1].strip(), None)
                    if len(seen) >= limit:
                        return list(seen)
    if not seen:
        raise SystemExit(f"no tweet texts found under {data / 'semeval2013_2016'}: pass --data")
    return list(seen)
