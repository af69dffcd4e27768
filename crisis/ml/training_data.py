"""Training series for the risk model: NAB realTweets, CrisisLex timelines, constructed scenarios.

Each `Series` is a 5-minute signal series with the times crises started (`onsets`) and, for NAB, its
labelled anomaly windows. Read only by `train_risk_model` and `bench/nab.py` (never at run time).

- **NAB realTweets** (5 files, 2015): mention volume of AAPL, AMZN, FB, GOOG, IBM; onsets are NAB's
  anomaly labels (`combined_labels.json`), windows `combined_windows.json`. Volume only.
- **CrisisLex T26** (25 crises with a tweet-id file): each crisis's collected tweets binned into
  5-minute counts give a real crisis's shape (how fast attention rises, how it decays). The
  collections start with the crisis, so there is no "before": each timeline is laid onto a
  constructed seasonal background (1 to 10 days before it), scaled so its peak hour is 3-20x the usual
  volume. The onset is when 2% of the crisis's tweets had been posted (robust to a few stray early
  tweets). Volume only.
- **Constructed scenarios**: seasonal backgrounds (daily and weekly rhythm, trend, over-dispersed
  counts) with every signal (negative, reach-weighted negativity, crisis language, novelty, press),
  and injected crises: a precursor of hours in which negativity and crisis language climb at modest
  volume, then a surge with press pick-up, then decay. They also hold the look-alikes a real brand
  sees, labelled as no crisis: launches and viral praise (volume surges with usual or lower
  negativity), and short negativity blips at usual volume. They teach the model what the
  volume-only public data cannot: a surge of praise is not a crisis, a surge of anger is.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from crisis.ml.features import BUCKET_MINUTES, Signals

NAB_FILES = (
    "Twitter_volume_AAPL.csv",
    "Twitter_volume_AMZN.csv",
    "Twitter_volume_FB.csv",
    "Twitter_volume_GOOG.csv",
    "Twitter_volume_IBM.csv",
)
_STEP = timedelta(minutes=BUCKET_MINUTES)


@dataclass
class Series:
    name: str
    source: str  # nab, crisislex, constructed
    rows: list[Signals]
    onsets: list[datetime]
    windows: list[tuple[datetime, datetime]] = field(default_factory=list)


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def nab_load(folder: Path, *, exclude: tuple[str, ...] = ()) -> list[Series]:
    """The realTweets files with their labels and windows (files named in `exclude` left out)."""
    labels = json.loads((folder / "combined_labels.json").read_text())
    windows = json.loads((folder / "combined_windows.json").read_text())
    result = []
    for name in NAB_FILES:
        if name in exclude:
            continue
        frame = pd.read_csv(folder / name)
        rows = [
            Signals(timestamp=_utc(ts), volume=float(value))
            for ts, value in zip(frame["timestamp"], frame["value"], strict=True)
        ]
        key = f"realTweets/{name}"
        result.append(
            Series(
                name=name,
                source="nab",
                rows=rows,
                onsets=[_utc(ts) for ts in labels[key]],
                windows=[(_utc(a), _utc(b)) for a, b in windows[key]],
            )
        )
    return result


def _background(rng: np.random.Generator, buckets: int, start: datetime) -> np.ndarray:
    """Expected mentions per bucket of an ordinary brand: level x daily x weekly rhythm x trend."""
    level = math.exp(rng.uniform(math.log(2), math.log(300)))
    hours = np.array([(start + i * _STEP).hour + (start + i * _STEP).minute / 60 for i in range(buckets)])
    weekdays = np.array([(start + i * _STEP).weekday() for i in range(buckets)])
    peak_hour = rng.uniform(12, 20)
    daily = 1.0 + rng.uniform(0.2, 0.8) * np.cos((hours - peak_hour) / 24 * 2 * math.pi)
    weekly = np.where(weekdays >= 5, rng.uniform(0.5, 1.0), 1.0)
    trend = np.exp(np.linspace(0, rng.uniform(-0.3, 0.3), buckets))
    return level * daily * weekly * trend


def _counts(rng: np.random.Generator, expected: np.ndarray, dispersion: float) -> np.ndarray:
    """Gamma-Poisson (negative binomial) counts: real mention counts are burstier than Poisson."""
    return rng.poisson(expected * rng.gamma(dispersion, 1.0 / dispersion, size=len(expected))).astype(float)


def crisislex_load(folder: Path, rng: np.random.Generator) -> list[Series]:
    """Each CrisisLex T26 crisis timeline laid onto a constructed background (volume only)."""
    result = []
    for directory in sorted((folder / "CrisisLexT26").iterdir()):
        ids_file = directory / f"{directory.name}-tweetids_entire_period.csv"
        if not ids_file.exists():
            continue
        with ids_file.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            next(reader)
            times = sorted(datetime.strptime(row[0], "%a %b %d %H:%M:%S %z %Y") for row in reader if row)
        onset_time = times[int(0.02 * len(times))]
        first = times[0]
        # The timeline's own counts per bucket from its first tweet, a week at most.
        span = min(int((times[-1] - first) / _STEP) + 1, 7 * 288)
        timeline = np.zeros(span)
        for ts in times:
            index = int((ts - first) / _STEP)
            if index < span:
                timeline[index] += 1
        before = int(rng.integers(1 * 288, 10 * 288))
        start = (first - before * _STEP).replace(second=0, microsecond=0)
        expected = _background(rng, before + span, start)
        hourly_peak = np.convolve(timeline, np.ones(12), mode="valid").max() / 12
        scale = rng.uniform(3, 20) * expected.mean() / max(hourly_peak, 1e-9)
        expected[before:] += timeline * scale
        counts = _counts(rng, expected, dispersion=rng.uniform(5, 30))
        rows = [Signals(timestamp=start + i * _STEP, volume=float(c)) for i, c in enumerate(counts)]
        onset = start + (before + int((onset_time - first) / _STEP)) * _STEP
        result.append(Series(name=directory.name, source="crisislex", rows=rows, onsets=[onset]))
    return result


def _pulse(buckets: int, at: int, rise: int, half_life: int) -> np.ndarray:
    """0 before `at`, a linear rise to 1 over `rise` buckets, then exponential decay."""
    shape = np.zeros(buckets)
    idx = np.arange(buckets)
    rising = (idx >= at) & (idx < at + rise)
    shape[rising] = (idx[rising] - at + 1) / rise
    after = idx >= at + rise
    shape[after] = 0.5 ** ((idx[after] - at - rise) / half_life)
    return shape


def scenarios_build(count: int, rng: np.random.Generator, *, days: int = 14) -> list[Series]:
    """`count` constructed series with every signal, crises and look-alikes (see module doc)."""
    result = []
    buckets = days * 288
    for number in range(count):
        start = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=int(rng.integers(0, 365)))
        expected = _background(rng, buckets, start)
        multiplier = np.ones(buckets)
        negative = np.full(buckets, rng.uniform(0.08, 0.25))
        crisis_words = np.full(buckets, rng.uniform(0.002, 0.02))
        press = np.full(buckets, rng.uniform(0.005, 0.03))
        novelty = np.full(buckets, rng.uniform(0.02, 0.1))
        onsets = []
        # Events start on different days, from the second day on (early ones teach the model what
        # a surge looks like before the baseline has settled).
        slots = rng.permutation(np.arange(1, days - 1))[: int(rng.integers(1, 5))]
        for slot in sorted(slots):
            at = int(slot * 288 + rng.integers(0, 288))
            kind = rng.choice(["crisis", "crisis", "praise", "blip"])
            if kind == "crisis":
                precursor = int(rng.integers(6, 96))  # 30 min to 8 h
                ramp = _pulse(buckets, at - precursor, precursor, 1) * (np.arange(buckets) < at)
                surge = _pulse(buckets, at, int(rng.integers(2, 12)), int(rng.integers(12, 144)))
                multiplier += ramp * rng.uniform(0.1, 1.5) + surge * math.exp(rng.uniform(math.log(2), 3.4))
                heat = np.maximum(ramp * rng.uniform(0.3, 1.0), surge)
                negative = np.maximum(negative, heat * rng.uniform(0.4, 0.85))
                crisis_words = np.maximum(crisis_words, heat * rng.uniform(0.08, 0.5))
                press = np.maximum(press, surge * rng.uniform(0.05, 0.3))
                novelty = np.maximum(novelty, heat * rng.uniform(0.3, 0.9))
                onsets.append(start + at * _STEP)
            elif kind == "praise":
                surge = _pulse(buckets, at, int(rng.integers(2, 24)), int(rng.integers(12, 144)))
                multiplier += surge * math.exp(rng.uniform(math.log(2), 3.4))
                negative = negative * (1 - surge * rng.uniform(0.0, 0.6))
                press = np.maximum(press, surge * rng.uniform(0.02, 0.2))
                novelty = np.maximum(novelty, surge * rng.uniform(0.3, 0.9))
            else:
                blip = _pulse(buckets, at, int(rng.integers(1, 6)), int(rng.integers(3, 24)))
                negative = np.maximum(negative, blip * rng.uniform(0.3, 0.7))
                crisis_words = np.maximum(crisis_words, blip * rng.uniform(0.02, 0.15))
        volume = _counts(rng, expected * multiplier, dispersion=rng.uniform(5, 30))
        reach_noise = rng.normal(0, 0.05, buckets)
        rows = []
        for i in range(buckets):
            v = volume[i]
            rows.append(
                Signals(
                    timestamp=start + i * _STEP,
                    volume=float(v),
                    negative=float(rng.binomial(int(v), min(negative[i], 1.0))),
                    reach_negativity=float(np.clip(negative[i] + reach_noise[i] + press[i] * 0.5, 0, 1)),
                    crisis_language=float(rng.binomial(int(v), min(crisis_words[i], 1.0))),
                    novelty=float(np.clip(novelty[i] + rng.normal(0, 0.03), 0, 1)),
                    press=float(rng.binomial(int(v), min(press[i], 1.0))),
                )
            )
        result.append(Series(name=f"scenario-{number:03d}", source="constructed", rows=rows, onsets=onsets))
    return result
