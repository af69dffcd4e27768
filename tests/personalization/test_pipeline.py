"""The whole ML core wired as a worker will wire it: deliveries -> behaviour features and interests ->
segments -> sends per segment -> engagement model -> advice. Plain arrays, no database."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd

from personalization.ml.engagement import engagement_train
from personalization.ml.recommend import RecommendConfig, slots_recommend
from personalization.ml.segments import contact_features, interest_embeddings, segments_train

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
# Planted groups: favourite channel and favourite local hour. (Two groups that share a channel and
# differ only by hour are merged at this noise level: the silhouette prefers the top-level split.)
GROUPS = (("email", 8), ("mastodon", 20), ("webhook", 14))


def _deliveries(seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    contacts, messages = 1500, 160
    group = rng.integers(0, len(GROUPS), contacts)
    topics = rng.normal(size=(len(GROUPS), 32))
    topic = rng.integers(0, len(GROUPS), messages)
    embeddings = topics[topic] + rng.normal(scale=0.4, size=(messages, 32))
    channel = rng.choice(["email", "mastodon", "webhook"], messages)
    sent = NOW - pd.to_timedelta(rng.integers(1, 60 * 24, messages), unit="h")
    message = np.repeat(np.arange(messages), 600)
    contact = rng.integers(0, contacts, len(message))
    how = ((sent.day_of_week * 24 + sent.hour).to_numpy()[message]) % 168
    favourite_channel = np.array([c for c, _ in GROUPS])[group[contact]]
    favourite_hour = np.array([h for _, h in GROUPS])[group[contact]]
    rate = 0.05 * np.where(channel[message] == favourite_channel, 3.0, 1.0)
    rate *= np.where(np.abs(how % 24 - favourite_hour) <= 2, 3.0, 1.0)
    rate *= np.where(topic[message] == group[contact], 1.5, 1.0)
    deliveries = pd.DataFrame(
        {
            "contact": contact,
            "message": message,
            "channel": channel[message],
            "hour_of_week": how,
            "sent_at": sent[message],
            "engaged": rng.random(len(message)) < rate,
        }
    )
    return deliveries, embeddings, group


def test_deliveries_to_segments_to_the_planted_hours() -> None:
    deliveries, embeddings, group = _deliveries(seed=0)
    features = contact_features(deliveries=deliveries, now=NOW, window_days=90)
    engaged = deliveries[deliveries["engaged"]]
    interests = interest_embeddings(
        contacts=features.index,
        engaged_contacts=engaged["contact"],
        engaged_content=engaged["message"],
        embeddings=embeddings,
    )
    segments = segments_train(behaviour=features, embeddings=interests)
    segment_of = pd.Series(segments.assign(features, interests), index=features.index)
    # Each planted group is (almost all) one segment.
    assert len(segments.ids) == len(GROUPS)
    purity = pd.crosstab(group[features.index], segment_of.to_numpy()).max(axis=1) / np.bincount(group)
    assert (purity > 0.85).all()

    rows = (
        deliveries.assign(segment=segment_of.loc[deliveries["contact"]].to_numpy().astype(str))
        .groupby(["segment", "message", "channel", "hour_of_week"], as_index=False)["engaged"]
        .agg(exposures="size", engagements="sum")
    )
    frame = rows.assign(tone="neutral", media_type="text", call_to_action=0, length=280)
    model = engagement_train(frame=frame, embeddings=embeddings[rows["message"].to_numpy()])

    for index, (channel, hour) in enumerate(GROUPS):
        segment = segment_of[np.flatnonzero(group[features.index] == index)].mode().iloc[0]
        description = next(d for d in segments.descriptions if d.id == segment)
        assert description.channel == channel
        advice = slots_recommend(
            model=model,
            segment=str(segment),
            channel=channel,
            now=NOW,
            timezone="UTC",
            config=RecommendConfig(exploration_rate=0.0),
        )
        assert advice.status == "ok"
        assert all(abs(slot.hour_of_week % 24 - hour) <= 2 for slot in advice.slots), advice.slots
