"""Segmentation (personalization/ml/segments.py): the number of segments from the data, ids stable
across retraining, descriptions. Plain arrays, no database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from personalization.ml.segments import (
    SegmentConfig,
    SegmentModel,
    contact_features,
    interest_embeddings,
    segments_train,
)
from tests.personalization.synthetic import PROFILES, contacts

THREE = {"email_mornings": 300, "social_evenings": 250, "lapsed": 350}


@pytest.fixture(scope="module")
def first() -> tuple[SegmentModel, np.ndarray]:
    behaviour, embeddings, truth = contacts(THREE, seed=1)
    model = segments_train(behaviour=behaviour, embeddings=embeddings)
    assert adjusted_rand_score(truth, model.assign(behaviour, embeddings)) > 0.95
    return model, truth


def _segment_of(model: SegmentModel, profile: str, *, seed: int = 11) -> int:
    """The id the model gives most contacts of a planted profile."""
    behaviour, embeddings, _ = contacts({profile: 40}, seed=seed)
    ids, counts = np.unique(model.assign(behaviour, embeddings), return_counts=True)
    return int(ids[counts.argmax()])


def test_the_number_of_segments_comes_from_the_data(first: tuple[SegmentModel, np.ndarray]) -> None:
    model, _ = first
    assert model.ids == [1, 2, 3]
    assert max(model.silhouettes, key=model.silhouettes.get) == 3  # type: ignore[arg-type]
    four = {**THREE, "press_night_owls": 200}
    behaviour, embeddings, truth = contacts(four, seed=2)
    model4 = segments_train(behaviour=behaviour, embeddings=embeddings)
    assert len(model4.ids) == 4
    assert adjusted_rand_score(truth, model4.assign(behaviour, embeddings)) > 0.95


def test_a_group_below_the_minimum_size_is_not_a_segment() -> None:
    behaviour, embeddings, _ = contacts({**THREE, "press_night_owls": 8}, seed=3)
    model = segments_train(behaviour=behaviour, embeddings=embeddings, config=SegmentConfig(min_size=20))
    assert len(model.ids) == 3
    assert min(d.size for d in model.descriptions) >= 20


def test_ids_survive_a_retrain_on_shuffled_and_shifted_data(first: tuple[SegmentModel, np.ndarray]) -> None:
    model, _ = first
    # Other contacts, another order, every profile moved by 10%.
    behaviour, embeddings, _ = contacts(THREE, seed=4, shift=0.1)
    retrained = segments_train(behaviour=behaviour, embeddings=embeddings, previous=model)
    assert retrained.ids == [1, 2, 3]
    assert set(retrained.matched) == {1, 2, 3}
    assert all(distance < 0.75 for distance in retrained.matched.values())
    for profile in THREE:
        assert _segment_of(retrained, profile) == _segment_of(model, profile)
    assert np.mean(model.assign(behaviour, embeddings) == retrained.assign(behaviour, embeddings)) > 0.97
    assert retrained.next_id == 4


def test_a_new_group_gets_a_new_id_and_retired_ids_are_not_reused(
    first: tuple[SegmentModel, np.ndarray],
) -> None:
    model, _ = first
    behaviour, embeddings, _ = contacts({**THREE, "press_night_owls": 200}, seed=5)
    grown = segments_train(behaviour=behaviour, embeddings=embeddings, previous=model)
    assert grown.ids == [1, 2, 3, 4]
    assert set(grown.matched) == {1, 2, 3}
    assert _segment_of(grown, "press_night_owls") == 4
    for profile in THREE:
        assert _segment_of(grown, profile) == _segment_of(model, profile)

    lapsed_id = _segment_of(grown, "lapsed")
    without = {"email_mornings": 300, "social_evenings": 250, "press_night_owls": 200}
    behaviour, embeddings, _ = contacts(without, seed=6)
    shrunk = segments_train(behaviour=behaviour, embeddings=embeddings, previous=grown)
    assert lapsed_id not in shrunk.ids and len(shrunk.ids) == 3
    behaviour, embeddings, _ = contacts({**without, "lapsed": 300}, seed=7)
    back = segments_train(behaviour=behaviour, embeddings=embeddings, previous=shrunk)
    # The lapsed contacts return as a new segment (id 5): a retired id never comes back.
    assert _segment_of(back, "lapsed") == 5 and back.next_id == 6


def test_segments_are_described_in_words(first: tuple[SegmentModel, np.ndarray]) -> None:
    model, _ = first
    by_id = {d.id: d for d in model.descriptions}
    email = by_id[_segment_of(model, "email_mornings")]
    assert (email.channel, email.time) == ("email", "morning")
    assert email.size == 300 and email.share == pytest.approx(300 / 900)
    assert dict(email.distinctive)["channel:email"] > 1
    assert email.text.startswith(
        f"Segment {email.id}: 300 contacts (33%), most engaged on email, mostly in the morning."
    )
    assert "engagement on email much above average (+" in email.text
    lapsed = by_id[_segment_of(model, "lapsed")]
    assert "days since the last engagement much above average" in lapsed.text
    social = by_id[_segment_of(model, "social_evenings")]
    assert (social.channel, social.time) == ("mastodon", "evening")


def test_descriptions_name_the_topics_a_segment_leans_to() -> None:
    behaviour, embeddings, _ = contacts(THREE, seed=8)
    # The generator's fixed topic direction per profile, named as a tenant would name its topics.
    topic = np.random.default_rng(1234).normal(size=(len(PROFILES), 24))
    topics = {"outages": topic[0], "pricing": topic[1], "security": topic[2]}
    model = segments_train(behaviour=behaviour, embeddings=embeddings, topics=topics)
    by_id = {d.id: d for d in model.descriptions}
    assert by_id[_segment_of(model, "social_evenings")].interests[0] == "pricing"
    assert "Leans towards pricing" in by_id[_segment_of(model, "social_evenings")].text


def test_contacts_without_engaged_content_and_behaviour_only_models_work() -> None:
    behaviour, embeddings, truth = contacts(THREE, seed=9)
    embeddings[::5] = np.nan  # a fifth of the contacts never engaged with any content
    model = segments_train(behaviour=behaviour, embeddings=embeddings)
    assert adjusted_rand_score(truth, model.assign(behaviour, embeddings)) > 0.9
    plain = segments_train(behaviour=behaviour)
    assert len(plain.ids) == 3 and plain.space.pca_components is None


def test_serializes_to_json_and_back_and_is_deterministic(first: tuple[SegmentModel, np.ndarray]) -> None:
    model, _ = first
    text = model.to_json()
    assert json.loads(text)["format"] == "candor-segments/1"
    restored = SegmentModel.from_json(text)
    behaviour, embeddings, _ = contacts(THREE, seed=10)
    np.testing.assert_array_equal(restored.assign(behaviour, embeddings), model.assign(behaviour, embeddings))
    assert restored.descriptions == model.descriptions
    assert restored.to_json() == text
    behaviour, embeddings, _ = contacts(THREE, seed=1)
    assert segments_train(behaviour=behaviour, embeddings=embeddings).to_json() == text


def test_bad_input_is_refused_with_what_is_wrong(first: tuple[SegmentModel, np.ndarray]) -> None:
    model, _ = first
    behaviour, embeddings, _ = contacts(THREE, seed=12)
    with pytest.raises(ValueError, match="recency_days"):
        segments_train(behaviour=behaviour.assign(recency_days=np.nan))
    with pytest.raises(ValueError, match="missing behaviour columns: frequency_per_month"):
        model.assign(behaviour.drop(columns=["frequency_per_month"]), embeddings)
    with pytest.raises(ValueError, match="give them"):
        model.assign(behaviour)
    with pytest.raises(ValueError, match="one row per contact"):
        segments_train(behaviour=behaviour, embeddings=embeddings[:10])
    with pytest.raises(ValueError, match="k_min"):
        SegmentConfig(k_min=5, k_max=3)


def test_large_audiences_choose_k_on_a_sample_and_segment_everyone() -> None:
    behaviour, embeddings, truth = contacts(THREE, seed=13)
    config = SegmentConfig(fit_sample=300, silhouette_sample=200)
    model = segments_train(behaviour=behaviour, embeddings=embeddings, config=config)
    assert len(model.ids) == 3
    assert adjusted_rand_score(truth, model.assign(behaviour, embeddings)) > 0.95
    assert sorted(d.size for d in model.descriptions) == [250, 300, 350]


def test_behaviour_features_and_interests_from_deliveries() -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    deliveries = pd.DataFrame(
        [
            # contact, channel, local hour of week, days ago, engaged
            ("ann", "email", 8, 2, True),
            ("ann", "email", 9, 3, False),
            ("ann", "mastodon", 20, 5, False),
            ("bob", "mastodon", 20, 10, True),
            ("bob", "mastodon", 44, 30, True),
            ("cid", "email", 8, 1, False),
            ("ann", "email", 8, 200, True),  # outside the 90-day window
        ],
        columns=["contact", "channel", "hour_of_week", "days_ago", "engaged"],
    )
    deliveries["sent_at"] = [now - timedelta(days=d) for d in deliveries["days_ago"]]
    features = contact_features(deliveries=deliveries, now=now)
    assert list(features.index) == ["ann", "bob", "cid"]
    ann, bob, cid = (features.loc[c] for c in ("ann", "bob", "cid"))
    assert (ann["channel:email"], ann["channel:mastodon"]) == (0.5, 0.0)
    assert (ann["time:morning"], ann["time:evening"], ann["time:night"]) == (0.5, 0.0, 0.0)
    assert ann["recency_days"] == pytest.approx(2) and ann["frequency_per_month"] == pytest.approx(1 / 3)
    assert (bob["channel:mastodon"], bob["channel:email"], bob["time:evening"]) == (1.0, 0.0, 1.0)
    assert bob["recency_days"] == pytest.approx(10) and bob["frequency_per_month"] == pytest.approx(2 / 3)
    assert cid["recency_days"] == 180 and cid["frequency_per_month"] == 0
    with pytest.raises(ValueError, match="timezone-aware"):
        contact_features(deliveries=deliveries.assign(sent_at=pd.Timestamp("2026-11-30")), now=now)
    with pytest.raises(ValueError, match="missing delivery columns: engaged"):
        contact_features(deliveries=deliveries.drop(columns=["engaged"]), now=now)

    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    interests = interest_embeddings(
        contacts=["ann", "bob", "cid"],
        engaged_contacts=["ann", "ann", "bob", "zed"],  # zed is not in the audience: ignored
        engaged_content=[0, 1, 2, 0],
        embeddings=vectors,
    )
    np.testing.assert_allclose(interests[:2], [[0.5, 0.5], [1.0, 1.0]])
    assert np.isnan(interests[2]).all()
    with pytest.raises(ValueError, match="index rows"):
        interest_embeddings(
            contacts=["ann"], engaged_contacts=["ann"], engaged_content=[3], embeddings=vectors
        )
