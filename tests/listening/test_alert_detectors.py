"""The detectors on constructed series: seasonality learned, spikes and negative jumps found,
normal peaks and small samples left alone, sensitivity ordering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from listening.alerting import detectors as d

MONDAY = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday, 00:00 UTC


def daily_peak_series(weeks: int, seed: int = 7) -> np.ndarray:
    """5-minute Poisson counts: 2 per bin at night, 30 per bin at the 09:00-10:00 UTC peak."""
    rng = np.random.default_rng(seed)
    bins = weeks * 7 * 24 * 12
    hours = (np.arange(bins) // 12) % 24
    rate = np.where(hours == 9, 30.0, 2.0)
    return rng.poisson(rate)


def test_a_daily_peak_is_learned_and_does_not_fire() -> None:
    profile = d.profile_fit(start=MONDAY, counts=daily_peak_series(3))
    peak = MONDAY + timedelta(weeks=3, hours=9, minutes=15)  # the next Monday's peak
    detection = d.volume_spike(
        profile=profile, observed=92, start=peak, end=peak + timedelta(minutes=15), sensitivity=10
    )
    assert not detection.fired
    assert 80 < detection.expected < 100
    assert "this hour of the week" in detection.why


def test_the_peak_volume_at_night_fires() -> None:
    profile = d.profile_fit(start=MONDAY, counts=daily_peak_series(3))
    night = MONDAY + timedelta(weeks=3, hours=3)
    detection = d.volume_spike(
        profile=profile, observed=92, start=night, end=night + timedelta(minutes=15), sensitivity=5
    )
    assert detection.fired
    assert 4 < detection.expected < 8
    assert detection.observed == 92
    assert "92 mentions in 15 min" in detection.why


def test_short_history_falls_back_to_the_hour_of_the_day() -> None:
    profile = d.profile_fit(start=MONDAY, counts=daily_peak_series(1)[: 3 * 24 * 12])  # 3 days
    # A Friday was never seen: its 09:00 slot comes from 09:00 of the days that were.
    friday_peak = MONDAY + timedelta(days=4, hours=9)
    level, _ = profile.at(friday_peak)
    assert profile.basis[d._slot(friday_peak)] == "day"
    assert 25 < level < 35


def test_cold_start_needs_a_minimum_count() -> None:
    profile = d.profile_fit(start=MONDAY, counts=[0, 1, 0])
    assert profile.basis == ("cold",) * d.SLOTS
    now = MONDAY + timedelta(hours=1)
    quiet = d.volume_spike(
        profile=profile, observed=3, start=now, end=now + timedelta(minutes=15), sensitivity=10
    )
    loud = d.volume_spike(
        profile=profile, observed=12, start=now, end=now + timedelta(minutes=15), sensitivity=5
    )
    assert not quiet.fired
    assert loud.fired
    assert "no history yet" in loud.why


def test_past_spikes_do_not_teach_the_baseline_that_spikes_are_normal() -> None:
    counts = daily_peak_series(3).astype(float)
    counts[500:503] = 400  # one earlier burst
    profile = d.profile_fit(start=MONDAY, counts=counts)
    assert max(profile.level) < 35


def test_sensitivity_orders_the_thresholds() -> None:
    profile = d.profile_fit(start=MONDAY, counts=daily_peak_series(3))
    night = MONDAY + timedelta(weeks=3, hours=3)
    end = night + timedelta(minutes=15)
    fired = [
        d.volume_spike(profile=profile, observed=18, start=night, end=end, sensitivity=s).fired
        for s in range(1, 11)
    ]
    assert fired[-1] and not fired[0]
    assert fired == sorted(fired)  # once it fires at a sensitivity, it fires at every higher one
    z = [d.spike_threshold(s)[0] for s in range(1, 11)]
    assert z == sorted(z, reverse=True)


@pytest.mark.parametrize(
    ("negative", "total", "baseline", "fired"),
    [
        (30, 50, 0.15, True),  # 60% against 15%
        (9, 50, 0.15, False),  # 18%: within the noise
        (12, 15, 0.15, False),  # too few mentions to judge
        (600, 3000, 0.15, False),  # 20%: significant on this volume, but no real jump
    ],
)
def test_negative_share_jump(negative: int, total: int, baseline: float, fired: bool) -> None:
    detection = d.negative_share_jump(
        negative=negative, total=total, baseline_share=baseline, sensitivity=5, minutes=60
    )
    assert detection.fired is fired
    assert detection.expected == baseline
    if total >= d.MIN_SHARE_VOLUME:
        assert f"{negative} of {total} mentions negative" in detection.why
    else:
        assert "too few" in detection.why


def test_negative_share_sensitivity() -> None:
    def fires(s: int) -> bool:
        return d.negative_share_jump(
            negative=14, total=40, baseline_share=0.15, sensitivity=s, minutes=60
        ).fired

    assert fires(10)
    assert not fires(1)


def test_profile_round_trips_through_json() -> None:
    profile = d.profile_fit(start=MONDAY, counts=daily_peak_series(2))
    assert d.Profile.from_json(profile.to_json()) == profile


def test_new_topic_needs_growth_and_volume_by_sensitivity() -> None:
    def fires(volume: int, previous: int, growth: float, s: int = 5) -> bool:
        return d.new_topic(
            label="outage · login", volume=volume, previous_volume=previous, growth=growth, sensitivity=s
        ).fired

    assert fires(40, 2, 7.0)
    assert not fires(40, 30, 0.33)  # big, but not growing
    assert not fires(8, 0, 1.6)  # growing, but too small at sensitivity 5
    assert fires(8, 0, 1.6, s=10)
    assert fires(20, 2, 2.0, s=10) and not fires(20, 2, 2.0, s=1)
    detection = d.new_topic(label="outage · login", volume=40, previous_volume=2, growth=7.0, sensitivity=5)
    assert "New topic 'outage · login': 40 mentions, 2 in the window before (+700%)" in detection.why
