"""Mentions of constructed themes for topic tests: each theme is a direction in embedding space
with its own words; its mentions scatter around the direction."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np

from listening.models import Mention, Source
from listening.nlp import topics

FILLER = ["today", "really", "people", "think", "morning", "team", "users", "week", "anyone", "still"]
WORDS = {
    "outage": ["login", "outage", "status page"],
    "pricing": ["pricing", "invoice", "renewal"],
    "keynote": ["keynote", "conference", "launch"],
}


def centers(seed: int = 11) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return dict(zip(WORDS, topics.unit(rng.normal(size=(len(WORDS), 384))), strict=True))


def seed_mentions(
    *,
    source: Source,
    theme: str,
    center: np.ndarray,
    count: int,
    start: datetime,
    span: timedelta,
    sentiment: str = "neutral",
    followers: int = 100,
    prefix: str = "",
    seed: int = 0,
    texts: list[str] | None = None,
) -> list[Mention]:
    """`count` enriched mentions of `theme`, posted evenly over [start, start + span); their texts
    are made of the theme's words, or taken in turn from `texts`."""
    rng = np.random.default_rng(seed)
    words = WORDS[theme]
    rows = []
    for i in range(count):
        filler = " ".join(rng.choice(FILLER, size=3, replace=False))
        rows.append(
            Mention(
                source=source,
                external_id=f"{prefix}{theme}-{seed}-{i}",
                text=texts[i % len(texts)] if texts else f"{words[i % 3]} {words[(i + 1) % 3]} {filler}",
                author_handle=f"user{i}",
                author_followers=followers,
                posted_at=start + span * (i / count),
                lang="en",
                sentiment=sentiment,
                sentiment_score=0.9,
                embedding=(center + rng.normal(scale=0.035, size=384)).astype(np.float32),
                enriched_at=start,
            )
        )
    return Mention.objects.bulk_create(rows)
