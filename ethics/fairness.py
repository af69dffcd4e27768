"""The fairness core of bias audits: pure Python over arrays, no ORM, so the services, the model
trainers of personalization and crisis, and `bench/bias_audit_bank.py` all audit the same way.

For one model's held-out decisions (0/1, or scores turned into decisions by a threshold or a top
fraction), the true outcomes where they are known, and one or more sensitive attributes, it reports
per group: count, selection rate and error rates (true/false positive and negative rates), and per
attribute the demographic parity difference and ratio and the equalized odds difference. Point
estimates come from fairlearn; confidence intervals from a seeded bootstrap stratified by group.

Groups too small to judge (fewer than `min_group_size` rows, or a selection-rate interval wider than
`max_ci_width`) are shown with a warning and left out of the summary metrics and of pass/fail: a
group of five people can look "biased" by chance alone. An attribute with fewer than two groups
left cannot be judged: it neither passes nor fails, and says so.

Pass/fail is the four-fifths rule on the selection rate (ratio of the lowest to the highest judged
group's rate at least `min_dp_ratio`, 0.8 by default; EEOC Uniform Guidelines, 29 CFR 1607.4(D)),
and optionally an upper bound on the equalized odds difference.

Regression models (engagement) are audited on the decision they drive: the rows they would target.
`decisions_from_scores(scores, top_fraction=0.2)` marks the top fifth of predicted engagement as
"recommended"; the true outcome is the real engagement turned into 0/1 by the same rule (the top
fifth of observed engagement), so error rates say whom the model wrongly leaves out or picks.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_negative_rate,
    true_positive_rate,
)

UNKNOWN_GROUP = "(unknown)"
# Upper bounds of the default age bands: <=25, 26-35, 36-55, 56-65, >65.
DEFAULT_AGE_BAND_BOUNDS = (25, 35, 55, 65)


class FairnessInputError(ValueError):
    """The arrays given to an audit do not fit together (lengths, values)."""


@dataclass(frozen=True)
class Thresholds:
    """What an audit judges against; a tenant's fairness settings become one of these."""

    min_dp_ratio: float = 0.8
    max_eo_difference: float | None = None
    min_group_size: int = 30
    max_ci_width: float = 0.4
    resamples: int = 1000
    confidence: float = 0.95
    seed: int = 0


@dataclass(frozen=True)
class Interval:
    low: float | None
    high: float | None

    @property
    def width(self) -> float | None:
        if self.low is None or self.high is None:
            return None
        return self.high - self.low


@dataclass(frozen=True)
class GroupResult:
    group: str
    count: int
    selected: int
    selection_rate: float
    selection_rate_ci: Interval
    positives: int | None = None
    true_positive_rate: float | None = None
    true_positive_rate_ci: Interval | None = None
    false_positive_rate: float | None = None
    false_positive_rate_ci: Interval | None = None
    true_negative_rate: float | None = None
    false_negative_rate: float | None = None
    too_small: bool = False
    warning: str = ""


@dataclass(frozen=True)
class AttributeResult:
    attribute: str
    groups: list[GroupResult]
    judged_groups: list[str]
    dp_difference: float | None = None
    dp_difference_ci: Interval | None = None
    dp_ratio: float | None = None
    dp_ratio_ci: Interval | None = None
    eo_difference: float | None = None
    eo_difference_ci: Interval | None = None
    # None: fewer than two groups are large enough to judge.
    passed: bool | None = None
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AuditReport:
    rows: int
    decision_rule: str
    has_labels: bool
    thresholds: Thresholds
    attributes: list[AttributeResult]

    @property
    def passed(self) -> bool:
        """No attribute fails. Attributes that cannot be judged do not fail, but warn."""
        return all(a.passed is not False for a in self.attributes)

    @property
    def failures(self) -> list[str]:
        return [f for a in self.attributes for f in a.failures]

    @property
    def warnings(self) -> list[str]:
        return [w for a in self.attributes for w in a.warnings] + [
            f"{a.attribute} = {g.group}: {g.warning}" for a in self.attributes for g in a.groups if g.warning
        ]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed, "failures": self.failures, "warnings": self.warnings}


def age_band(age: int | float | None, bounds: Sequence[int] = DEFAULT_AGE_BAND_BOUNDS) -> str:
    """The band of an age: with bounds (25, 35, 55, 65), '<=25', '26-35', '36-55', '56-65', '>65'."""
    if age is None or (isinstance(age, float) and math.isnan(age)):
        return UNKNOWN_GROUP
    previous: int | None = None
    for bound in bounds:
        if age <= bound:
            return f"<={bound}" if previous is None else f"{previous + 1}-{bound}"
        previous = bound
    return f">{bounds[-1]}"


def decisions_from_scores(
    scores: Sequence[float] | np.ndarray, *, threshold: float | None = None, top_fraction: float | None = None
) -> np.ndarray:
    """0/1 decisions from scores: at or above `threshold`, or the highest `top_fraction` of rows
    (ties broken by position, so exactly ceil(fraction * n) rows are chosen)."""
    values = np.asarray(scores, dtype=float)
    if (threshold is None) == (top_fraction is None):
        raise FairnessInputError("Give exactly one of threshold or top_fraction.")
    if np.isnan(values).any():
        raise FairnessInputError("Scores must be numbers, not NaN.")
    if threshold is not None:
        return (values >= threshold).astype(int)
    assert top_fraction is not None
    if not 0 < top_fraction <= 1:
        raise FairnessInputError("top_fraction must be in (0, 1].")
    chosen = math.ceil(top_fraction * len(values))
    order = np.argsort(-values, kind="stable")
    out = np.zeros(len(values), dtype=int)
    out[order[:chosen]] = 1
    return out


def _as_binary(name: str, values: Sequence[Any] | np.ndarray) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise FairnessInputError(f"{name} must be a flat list.")
    if array.size and not np.isin(array, (0, 1, True, False)).all():
        raise FairnessInputError(f"{name} must hold only 0 and 1.")
    return array.astype(int)


def _group_labels(values: Sequence[Any]) -> np.ndarray:
    return np.asarray([UNKNOWN_GROUP if v is None or v == "" else str(v) for v in values], dtype=object)


def _group_order(name: str) -> tuple[int, float, str]:
    """Numeric bands in numeric order ('<=25', '26-35', ..., '>65'), then names, then unknown."""
    if name == UNKNOWN_GROUP:
        return (2, 0.0, name)
    number = re.search(r"\d+(\.\d+)?", name)
    if number is None:
        return (1, 0.0, name)
    value = float(number.group())
    if name.startswith("<"):
        value -= 0.5
    elif name.startswith(">"):
        value += 0.5
    return (0, value, name)


def _interval(samples: np.ndarray, confidence: float) -> Interval:
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        return Interval(None, None)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return Interval(float(low), float(high))


def _finite(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def _bootstrap_cells(
    cells: np.ndarray, resamples: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Resampled (selection rate, TPR, FPR) of one group, `resamples` times.

    Resampling a group's n rows with replacement only changes how many fall in each cell of
    (decision, outcome): that count is multinomial(n, observed cell shares). Drawing it directly is
    the same bootstrap as resampling rows, in O(resamples) instead of O(resamples * n)."""
    n = int(cells.sum())
    draws = rng.multinomial(n, cells / n, size=resamples).astype(float)
    tp, fp, fn, tn = draws[:, 0], draws[:, 1], draws[:, 2], draws[:, 3]
    with np.errstate(invalid="ignore", divide="ignore"):
        return (tp + fp) / n, tp / (tp + fn), fp / (fp + tn)


def _spread(rates: np.ndarray) -> np.ndarray:
    """Per resample (rows), the largest difference between groups (columns), ignoring NaN."""
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmax(rates, axis=1) - np.nanmin(rates, axis=1)


def _audit_attribute(
    name: str,
    groups: np.ndarray,
    y_pred: np.ndarray,
    y_true: np.ndarray | None,
    thresholds: Thresholds,
    rng: np.random.Generator,
) -> AttributeResult:
    labels = y_true if y_true is not None else y_pred
    metrics: dict[str, Any] = {"selection_rate": selection_rate}
    if y_true is not None:
        metrics |= {
            "tpr": true_positive_rate,
            "fpr": false_positive_rate,
            "tnr": true_negative_rate,
            "fnr": false_negative_rate,
        }
    with warnings.catch_warnings():
        # fairlearn warns on groups without positives or negatives; their rates are NaN and shown as such.
        warnings.simplefilter("ignore")
        # A Series, not an array: fairlearn takes a one-row array for a row of several features.
        frame = MetricFrame(
            metrics=metrics, y_true=labels, y_pred=y_pred, sensitive_features=pd.Series(groups, name=name)
        )
    by_group = frame.by_group

    results: list[GroupResult] = []
    boot_sel: dict[str, np.ndarray] = {}
    boot_tpr: dict[str, np.ndarray] = {}
    boot_fpr: dict[str, np.ndarray] = {}
    for group in sorted(by_group.index, key=lambda g: _group_order(str(g))):
        mask = groups == group
        pred = y_pred[mask]
        truth = labels[mask]
        cells = np.array(
            [
                np.sum((pred == 1) & (truth == 1)),
                np.sum((pred == 1) & (truth == 0)),
                np.sum((pred == 0) & (truth == 1)),
                np.sum((pred == 0) & (truth == 0)),
            ]
        )
        sel, tpr, fpr = _bootstrap_cells(cells, thresholds.resamples, rng)
        row = by_group.loc[group]
        sel_ci = _interval(sel, thresholds.confidence)
        count = int(mask.sum())
        warning = ""
        if count < thresholds.min_group_size:
            warning = f"only {count} rows (fewer than {thresholds.min_group_size}): too small to judge"
        elif (sel_ci.width or 0) > thresholds.max_ci_width:
            warning = (
                f"selection-rate interval {sel_ci.width:.2f} wide (more than {thresholds.max_ci_width:.2f}):"
                " too uncertain to judge"
            )
        too_small = bool(warning)
        if not too_small:
            boot_sel[group], boot_tpr[group], boot_fpr[group] = sel, tpr, fpr
        extra: dict[str, Any] = {}
        if y_true is not None:
            extra = {
                "positives": int(truth.sum()),
                "true_positive_rate": _finite(row["tpr"]),
                "true_positive_rate_ci": _interval(tpr, thresholds.confidence),
                "false_positive_rate": _finite(row["fpr"]),
                "false_positive_rate_ci": _interval(fpr, thresholds.confidence),
                "true_negative_rate": _finite(row["tnr"]),
                "false_negative_rate": _finite(row["fnr"]),
            }
        results.append(
            GroupResult(
                group=str(group),
                count=count,
                selected=int(pred.sum()),
                selection_rate=float(row["selection_rate"]),
                selection_rate_ci=sel_ci,
                too_small=too_small,
                warning=warning,
                **extra,
            )
        )

    judged = sorted(boot_sel)
    if len(judged) < 2:
        return AttributeResult(
            attribute=name,
            groups=results,
            judged_groups=judged,
            warnings=[f"{name}: fewer than two groups are large enough to judge; not judged"],
        )

    # The summary metrics over the judged groups, from the same fairlearn MetricFrame: fairlearn's
    # demographic_parity_* and equalized_odds_difference are these between-group spreads, and
    # building a frame per metric would triple the cost (tests check they agree).
    judged_rates = by_group.loc[judged]
    highest, lowest = judged_rates["selection_rate"].max(), judged_rates["selection_rate"].min()
    dp_difference = float(highest - lowest)
    # Nobody selected in any group is parity, not an undefined ratio.
    dp_ratio = float(lowest / highest) if highest > 0 else 1.0
    sel_matrix = np.column_stack([boot_sel[g] for g in judged])
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio_samples = sel_matrix.min(axis=1) / sel_matrix.max(axis=1)
    failures: list[str] = []
    if not dp_ratio >= thresholds.min_dp_ratio:
        failures.append(
            f"{name}: selection-rate ratio {dp_ratio:.2f} is below {thresholds.min_dp_ratio:.2f}"
            " (four-fifths rule)"
        )
    eo_difference: float | None = None
    eo_ci: Interval | None = None
    if y_true is not None:
        spreads = [judged_rates[m].max() - judged_rates[m].min() for m in ("tpr", "fpr")]
        eo_difference = _finite(max(spreads)) if not any(math.isnan(x) for x in spreads) else None
        tpr_matrix = np.column_stack([boot_tpr[g] for g in judged])
        fpr_matrix = np.column_stack([boot_fpr[g] for g in judged])
        eo_ci = _interval(np.fmax(_spread(tpr_matrix), _spread(fpr_matrix)), thresholds.confidence)
        bound = thresholds.max_eo_difference
        if bound is not None and eo_difference is not None and eo_difference > bound:
            failures.append(f"{name}: equalized odds difference {eo_difference:.2f} is above {bound:.2f}")
    return AttributeResult(
        attribute=name,
        groups=results,
        judged_groups=judged,
        dp_difference=dp_difference,
        dp_difference_ci=_interval(_spread(sel_matrix), thresholds.confidence),
        dp_ratio=dp_ratio if math.isfinite(dp_ratio) else None,
        dp_ratio_ci=_interval(ratio_samples, thresholds.confidence),
        eo_difference=eo_difference,
        eo_difference_ci=eo_ci,
        passed=not failures,
        failures=failures,
    )


def audit(
    *,
    y_pred: Sequence[int] | np.ndarray,
    sensitive: Mapping[str, Sequence[Any]],
    y_true: Sequence[int] | np.ndarray | None = None,
    thresholds: Thresholds | None = None,
    decision_rule: str = "binary decision",
) -> AuditReport:
    """Audit 0/1 decisions across each sensitive attribute. Missing attribute values form the
    group '(unknown)'. Seeded: the same inputs give the same intervals."""
    thresholds = thresholds or Thresholds()
    pred = _as_binary("y_pred", y_pred)
    truth = _as_binary("y_true", y_true) if y_true is not None else None
    if pred.size == 0:
        raise FairnessInputError("There are no predictions to audit.")
    if truth is not None and truth.size != pred.size:
        raise FairnessInputError(f"y_true has {truth.size} values but y_pred has {pred.size}.")
    if not sensitive:
        raise FairnessInputError("Give at least one sensitive attribute.")
    for name, values in sensitive.items():
        if len(values) != pred.size:
            raise FairnessInputError(
                f"Attribute '{name}' has {len(values)} values but y_pred has {pred.size}."
            )
    rng = np.random.default_rng(thresholds.seed)
    attributes = [
        _audit_attribute(name, _group_labels(values), pred, truth, thresholds, rng)
        for name, values in sensitive.items()
    ]
    return AuditReport(
        rows=int(pred.size),
        decision_rule=decision_rule,
        has_labels=truth is not None,
        thresholds=thresholds,
        attributes=attributes,
    )
