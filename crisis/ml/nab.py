"""The Numenta Anomaly Benchmark's scoring (NAB 1.x `nab/sweeper.py`), for detectors that alert.

Rules, as NAB applies them to one data file:

- The first 15% of rows (at most 750) are probationary: detections there count for nothing.
- A detection inside a labelled window scores by its relative position
  `-(right - i + 1) / width` through `scaled_sigmoid` (0.987 at the left edge, 0 at the right),
  divided by the left-edge value and times A_TP; only a window's best (earliest) detection counts.
  A window with no detection costs A_FN.
- A detection outside every window costs A_FP times `scaled_sigmoid` of its distance past the last
  window's right edge in window widths (`|prev_right - i| / (prev_width - 1)`): about nothing just
  after a window, the full A_FP from three widths on and before the first window.

The normalised score over a corpus is `100 * (raw - null) / (perfect - null)`, where the null
detector never alerts and the perfect one alerts at each window's left edge.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class CostMatrix:
    tp: float
    fp: float
    fn: float


STANDARD_PROFILE = CostMatrix(tp=1.0, fp=0.11, fn=1.0)
PROBATION_PERCENT = 0.15


def scaled_sigmoid(position: float) -> float:
    """NAB's reward by relative position: 2 * sigmoid(-5 x) - 1, and -1 from three widths past."""
    if position >= 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


@dataclass(frozen=True, slots=True)
class FileScore:
    raw: float
    null: float
    perfect: float
    true_positives: int  # windows detected
    false_negatives: int  # windows missed
    false_positives: int  # scorable detections outside every window


def probation_rows(rows: int) -> int:
    return int(min(math.floor(PROBATION_PERCENT * rows), PROBATION_PERCENT * 5000))


def window_bounds(
    timestamps: Sequence[datetime], windows: Sequence[tuple[datetime, datetime]]
) -> list[tuple[int, int]]:
    """Windows as (left, right) row indices, inclusive: the rows whose time lies inside each."""
    stamps = np.array([ts.timestamp() for ts in timestamps])
    bounds = []
    for start, end in windows:
        left = int(np.searchsorted(stamps, start.timestamp(), side="left"))
        right = int(np.searchsorted(stamps, end.timestamp(), side="right")) - 1
        if left <= right:
            bounds.append((left, right))
    return bounds


def file_score(
    detections: npt.ArrayLike, bounds: Sequence[tuple[int, int]], cost: CostMatrix = STANDARD_PROFILE
) -> FileScore:
    """Score one file's detections (a boolean per row) against its windows (`window_bounds`)."""
    detected = np.asarray(detections, dtype=bool)
    rows = len(detected)
    probation = probation_rows(rows)
    max_tp = scaled_sigmoid(-1.0)
    # Every scorable window starts as a miss; its best detection replaces that.
    window_scores = {index: -cost.fn for index, (_, right) in enumerate(bounds) if right >= probation}
    fp_total, fp_count = 0.0, 0
    window_at = np.full(rows, -1)
    for index, (left, right) in enumerate(bounds):
        window_at[left : right + 1] = index
    for i in map(int, np.flatnonzero(detected)):
        index = int(window_at[i])
        if i < probation:
            continue
        if index >= 0:
            left, right = bounds[index]
            width = float(right - left + 1)
            weighted = scaled_sigmoid(-(right - i + 1) / width) * cost.tp / max_tp
            window_scores[index] = max(window_scores[index], weighted)
            continue
        # The nearest window that ended before this row.
        before = [(left, right) for left, right in bounds if right < i]
        if before:
            left, right = before[-1]
            # NAB divides by (width - 1); a one-row window would divide by zero there.
            position = abs(right - i) / max(float(right - left), 1.0)
        else:
            position = 3.0
        fp_total += scaled_sigmoid(position) * cost.fp
        fp_count += 1
    detected_windows = sum(1 for score in window_scores.values() if score > -cost.fn)
    return FileScore(
        raw=sum(window_scores.values()) + fp_total,
        null=-cost.fn * len(window_scores),
        perfect=cost.tp * len(window_scores),
        true_positives=detected_windows,
        false_negatives=len(window_scores) - detected_windows,
        false_positives=fp_count,
    )


def normalized_score(files: Sequence[FileScore]) -> float:
    """NAB's normalised score of a detector over a corpus: 0 is the null detector, 100 perfect."""
    raw = sum(f.raw for f in files)
    null = sum(f.null for f in files)
    perfect = sum(f.perfect for f in files)
    if perfect == null:
        return 0.0
    return 100.0 * (raw - null) / (perfect - null)
