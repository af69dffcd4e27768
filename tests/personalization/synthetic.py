"""Synthetic tenants with planted effects, so tests know the true engagement rate of every send."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tenants.demo.audience import PROFILES

SEGMENTS = ("0", "1", "2", "3")
CHANNELS = ("email", "mastodon")
TONES = ("neutral", "empathetic", "urgent")
MEDIA = ("text", "image", "video")


def true_rate(frame: pd.DataFrame) -> np.ndarray:
    """The planted truth: segment 2 engages 2.5x more at 14:00 (any day), video adds 40%, email
    beats mastodon, segment 3 dislikes urgent tones, weekends are a little lower."""
    rate = np.full(len(frame), 0.03)
    segment = frame["segment"].astype(str).to_numpy()
    hour = frame["hour_of_week"].to_numpy() % 24
    day = frame["hour_of_week"].to_numpy() // 24
    rate *= np.where((segment == "2") & (hour == 14), 2.5, 1.0)
    rate *= np.where(frame["media_type"].to_numpy() == "video", 1.4, 1.0)
    rate *= np.where(frame["channel"].to_numpy() == "email", 1.3, 0.8)
    rate *= np.where((segment == "3") & (frame["tone"].to_numpy() == "urgent"), 0.5, 1.0)
    rate *= np.where(day >= 5, 0.85, 1.0)
    return rate


def sends(
    n: int, *, seed: int, segments: tuple[str, ...] = SEGMENTS, exposures: tuple[int, int] = (300, 3000)
) -> pd.DataFrame:
    """`n` aggregated sends with engagements drawn from the planted Poisson rates."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "segment": rng.choice(segments, n),
            "channel": rng.choice(CHANNELS, n),
            "tone": rng.choice(TONES, n),
            "media_type": rng.choice(MEDIA, n),
            "call_to_action": rng.integers(0, 2, n),
            "length": rng.integers(40, 600, n),
            # Office hours mostly, as real senders do: nights stay untried.
            "hour_of_week": rng.integers(0, 7, n) * 24 + rng.integers(7, 20, n),
            "exposures": rng.integers(*exposures, n),
        }
    )
    frame["engagements"] = rng.poisson(true_rate(frame) * frame["exposures"].to_numpy())
    return frame


def contacts(
    sizes: dict[str, int], *, seed: int, shift: float = 0.0, dims: int = 24
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """(behaviour, interest embeddings, true group index) for contacts of the planted profiles;
    `shift` moves every profile by that fraction of itself (a slightly changed audience)."""
    rng = np.random.default_rng(seed)
    topic = np.random.default_rng(1234).normal(size=(len(PROFILES), dims))  # fixed per profile
    rows, vectors, truth = [], [], []
    for g, name in enumerate(PROFILES):
        n = sizes.get(name, 0)
        profile = PROFILES[name]
        for _ in range(n):
            rows.append({k: v * (1 + shift) * rng.lognormal(0, 0.15) for k, v in profile.items()})
        vectors.append(topic[g] + rng.normal(scale=0.6, size=(n, dims)))
        truth += [g] * n
    order = rng.permutation(len(rows))
    frame = pd.DataFrame(rows).iloc[order].reset_index(drop=True)
    return frame, np.vstack(vectors)[order], np.asarray(truth)[order]
