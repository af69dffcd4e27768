"""Recommendations from an engagement model: which variant to send to each segment, and the best
time slots of the coming week for a segment on a channel.

Every answer carries an estimate with its confidence interval, its top reasons, how it was made
(`basis`) and a sentence for people (`note`):

- **Not enough data.** Below `min_exposures` deliveries for the segment on the channel, the model
  is not asked: the answer says so and falls back to the channel's historical averages (if the
  channel alone has enough), else the tenant's, else gives no advice.
- **Exploration.** A share `exploration_rate` of decisions (10% by default: the cost of one in ten
  picks being a bet, for advice that does not only reinforce what was done before) goes to options
  the history has not tried (slots never used for that segment and channel, message formats never
  sent to that segment), chosen among them by Thompson sampling: one bootstrap member of the model
  drawn at random is asked, so options the model is unsure about get their chance in proportion to
  how plausibly they are best. Those picks are marked `exploration=True`. The RNG is seeded
  (`seed`), so the same call gives the same advice.
- **Crisis.** `crisis_mode=True` switches timing advice off: "timing advice paused during a crisis".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from personalization.ml.engagement import (
    HOURS_OF_WEEK,
    Array,
    EngagementModel,
    Reason,
    history_key,
    poisson_interval,
    slot_label,
)

OK = "ok"
NOT_ENOUGH_DATA = "not_enough_data"
PAUSED = "paused"
CRISIS_NOTE = "Timing advice paused during a crisis."


@dataclass(frozen=True, slots=True)
class RecommendConfig:
    min_exposures: int = 1000  # deliveries to the segment on the channel before the model is trusted
    min_slot_exposures: int = 50  # deliveries in an hour of the week before the fallback ranks it
    exploration_rate: float = 0.1
    slots: int = 3
    reasons: int = 3
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.exploration_rate <= 1:
            raise ValueError("exploration_rate must be between 0 and 1")
        if not 1 <= self.slots <= HOURS_OF_WEEK:
            raise ValueError(f"slots must be between 1 and {HOURS_OF_WEEK}")
        if self.min_exposures < 0:
            raise ValueError("min_exposures must not be negative")


@dataclass(frozen=True, slots=True)
class Estimate:
    """An engagement rate (per exposure) with its confidence interval."""

    rate: float
    low: float
    high: float
    confidence: float


@dataclass(frozen=True, slots=True)
class Message:
    """A draft message or one of its variants, as the model sees it."""

    key: str
    tone: str
    media_type: str
    call_to_action: bool
    length: int
    embedding: Array | None = None


@dataclass(frozen=True, slots=True)
class VariantAdvice:
    segment: str
    channel: str
    status: str  # OK or NOT_ENOUGH_DATA
    basis: str  # "model", "channel_average", "tenant_average" or "none"
    note: str
    variant: str | None = None
    estimate: Estimate | None = None
    reasons: tuple[Reason, ...] = ()
    exploration: bool = False
    # Every variant's estimate (model basis only), so a person can see how close the call was.
    candidates: dict[str, Estimate] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Slot:
    starts_at: datetime
    hour_of_week: int
    estimate: Estimate
    reasons: tuple[Reason, ...] = ()
    exploration: bool = False


@dataclass(frozen=True, slots=True)
class SlotAdvice:
    segment: str
    channel: str
    status: str  # OK, NOT_ENOUGH_DATA or PAUSED
    basis: str
    note: str
    slots: tuple[Slot, ...] = ()


def _fallback(
    model: EngagementModel, *, segment: str, channel: str, config: RecommendConfig
) -> tuple[str, list[float] | None, str]:
    """(basis, [exposures, engagements] of it, why) when the segment has too little history."""
    history = model.history
    have = history.segment_channel.get(history_key(segment, channel), [0.0, 0.0])[0]
    why = (
        f"Not enough history for segment {segment} on {channel} "
        f"({have:,.0f} deliveries, {config.min_exposures:,} needed)"
    )
    channel_counts = history.channel.get(channel)
    if channel_counts and channel_counts[0] >= config.min_exposures:
        return "channel_average", channel_counts, why + ": showing the channel's averages."
    if history.tenant[0] >= config.min_exposures:
        return "tenant_average", history.tenant, why + ": showing the averages of all your channels."
    return "none", None, why + ", and not enough in this workspace as a whole: no advice yet."


def _enough(model: EngagementModel, *, segment: str, channel: str, config: RecommendConfig) -> bool:
    counts = model.history.segment_channel.get(history_key(segment, channel))
    return counts is not None and counts[0] >= config.min_exposures


def _estimate_from_counts(counts: Sequence[float], confidence: float) -> Estimate:
    exposures, engagements = counts
    low, high = poisson_interval(engagements, exposures, confidence)
    return Estimate(engagements / exposures if exposures else 0.0, low, high, confidence)


def _message_rows(
    model: EngagementModel, *, messages: Sequence[Message], segment: str, channel: str, hours: Sequence[int]
) -> tuple[pd.DataFrame, Array | None]:
    """One model row per (message, hour): the frame and the embeddings (None: the typical topic)."""
    rows = []
    embeddings = []
    for message in messages:
        for hour in hours:
            rows.append(
                {
                    "segment": segment,
                    "channel": channel,
                    "tone": message.tone,
                    "media_type": message.media_type,
                    "call_to_action": int(message.call_to_action),
                    "length": message.length,
                    "hour_of_week": hour,
                }
            )
            embeddings.append(message.embedding)
    if not model.has_topics or all(e is None for e in embeddings):
        return pd.DataFrame(rows), None
    given = [e for e in embeddings if e is not None]
    if len(given) != len(embeddings):
        raise ValueError("give every message an embedding, or none")
    return pd.DataFrame(rows), np.vstack(given)


def typical_message(model: EngagementModel) -> Message:
    """The tenant's most common format: what timing advice assumes when no draft is given."""
    typical = model.typical
    return Message(
        key="typical",
        tone=typical["tone"],
        media_type=typical["media_type"],
        call_to_action=bool(typical["call_to_action"]),
        length=int(typical["length"]),
    )


def _estimates(
    model: EngagementModel, frame: pd.DataFrame, embeddings: Array | None
) -> tuple[list[Estimate], Array]:
    """Estimates per row, and the bootstrap members' rates (for Thompson sampling)."""
    prediction, members = model.predict_with_members(frame, embeddings)
    estimates = [
        Estimate(float(r), float(lo), float(hi), prediction.confidence)
        for r, lo, hi in zip(prediction.rate, prediction.low, prediction.high, strict=True)
    ]
    return estimates, members


def _thompson_pick(members: Array, candidates: Sequence[int], rng: np.random.Generator) -> int:
    """Among candidate columns, the best under one bootstrap member drawn at random."""
    member = members[rng.integers(len(members))]
    return candidates[int(np.argmax(member[list(candidates)]))]


def variants_recommend(
    *,
    model: EngagementModel,
    messages: Sequence[Message],
    segments: Sequence[str],
    channel: str,
    hour_of_week: int,
    config: RecommendConfig | None = None,
) -> list[VariantAdvice]:
    """For each segment, the variant of a draft to send on `channel` at `hour_of_week`."""
    config = config or RecommendConfig()
    if not messages:
        raise ValueError("give at least one message variant")
    if len({m.key for m in messages}) != len(messages):
        raise ValueError("variant keys must be unique")
    if not 0 <= hour_of_week < HOURS_OF_WEEK:
        raise ValueError("hour_of_week must be from 0 (Monday 00:00) to 167")
    rng = np.random.default_rng(config.seed)
    advice = []
    for segment in segments:
        segment = str(segment)
        if not _enough(model, segment=segment, channel=channel, config=config):
            basis, counts, note = _fallback(model, segment=segment, channel=channel, config=config)
            if counts is not None:
                note = note.replace(": showing", ": no variant is preferred; showing")
            estimate = None if counts is None else _estimate_from_counts(counts, model.config.confidence)
            advice.append(VariantAdvice(segment, channel, NOT_ENOUGH_DATA, basis, note, estimate=estimate))
            continue
        frame, embeddings = _message_rows(
            model, messages=messages, segment=segment, channel=channel, hours=[hour_of_week]
        )
        estimates, members = _estimates(model, frame, embeddings)
        explore = rng.random() < config.exploration_rate
        if explore:
            untried = [
                i
                for i, m in enumerate(messages)
                if history_key(segment, m.tone, m.media_type, int(m.call_to_action))
                not in model.history.formats_tried
            ]
            pick = _thompson_pick(members, untried or list(range(len(messages))), rng)
            note = (
                f"Exploring: {messages[pick].key} tries a format segment {segment} has never been sent"
                if untried
                else f"Exploring: {messages[pick].key} drawn by Thompson sampling among the variants"
            ) + ", to keep learning what works."
        else:
            pick = int(np.argmax([e.rate for e in estimates]))
            note = f"{messages[pick].key} is expected to engage segment {segment} best on {channel}."
        reasons = model.reasons(
            frame.iloc[[pick]], None if embeddings is None else embeddings[[pick]], top=config.reasons
        )[0]
        advice.append(
            VariantAdvice(
                segment,
                channel,
                OK,
                "model",
                note,
                variant=messages[pick].key,
                estimate=estimates[pick],
                reasons=tuple(reasons),
                exploration=explore,
                candidates={m.key: e for m, e in zip(messages, estimates, strict=True)},
            )
        )
    return advice


def slot_next(hour_of_week: int, *, now: datetime, timezone: str) -> datetime:
    """The next start of `hour_of_week` (Monday 00:00 = 0) after `now`, in `timezone`'s local time."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"unknown time zone {timezone!r}") from error
    local = now.astimezone(zone)
    day, hour = divmod(hour_of_week, 24)
    date = local.date() + timedelta(days=(day - local.weekday()) % 7)
    start = datetime(date.year, date.month, date.day, hour, tzinfo=zone)
    if start <= local:
        date += timedelta(days=7)
        start = datetime(date.year, date.month, date.day, hour, tzinfo=zone)
    return start


def slots_recommend(
    *,
    model: EngagementModel,
    segment: str,
    channel: str,
    now: datetime,
    timezone: str,
    message: Message | None = None,
    crisis_mode: bool = False,
    config: RecommendConfig | None = None,
) -> SlotAdvice:
    """The best `config.slots` hours of the coming week for `segment` on `channel`, in the
    contacts' `timezone`, for `message` (the tenant's typical message if None)."""
    config = config or RecommendConfig()
    segment = str(segment)
    if crisis_mode:
        return SlotAdvice(segment, channel, PAUSED, "none", CRISIS_NOTE)
    hours = list(range(HOURS_OF_WEEK))
    starts = [slot_next(h, now=now, timezone=timezone) for h in hours]
    if not _enough(model, segment=segment, channel=channel, config=config):
        return _slots_fallback(model, segment=segment, channel=channel, starts=starts, config=config)
    message = message or typical_message(model)
    frame, embeddings = _message_rows(
        model, messages=[message], segment=segment, channel=channel, hours=hours
    )
    estimates, members = _estimates(model, frame, embeddings)
    order = list(np.argsort([-e.rate for e in estimates], kind="stable"))
    untried = [h for h in hours if history_key(segment, channel, h) not in model.history.slots_tried]
    rng = np.random.default_rng(config.seed)
    picks: list[tuple[int, bool]] = []
    for _ in range(config.slots):
        taken = {h for h, _ in picks}
        if rng.random() < config.exploration_rate:
            pool = [h for h in untried if h not in taken] or [h for h in hours if h not in taken]
            picks.append((_thompson_pick(members, pool, rng), True))
        else:
            picks.append((next(int(h) for h in order if h not in taken), False))
    rows = [h for h, _ in picks]
    reasons = model.reasons(
        frame.iloc[rows], None if embeddings is None else embeddings[rows], top=config.reasons
    )
    slots = tuple(
        Slot(starts[h], h, estimates[h], tuple(reasons[i]), explore) for i, (h, explore) in enumerate(picks)
    )
    explored = [slot_label(s.hour_of_week) for s in slots if s.exploration]
    note = f"Best hours of the coming week for segment {segment} on {channel} ({timezone})."
    if explored:
        note += (
            f" Exploring {', '.join(explored)}: "
            f"{'not tried before' if untried else 'drawn by Thompson sampling'} for this segment, "
            "to keep learning."
        )
    return SlotAdvice(segment, channel, OK, "model", note, slots)


def _slots_fallback(
    model: EngagementModel, *, segment: str, channel: str, starts: Sequence[datetime], config: RecommendConfig
) -> SlotAdvice:
    """Below the minimum: the hours of the channel (or the tenant) with at least
    `min_slot_exposures` deliveries whose historical rate is surely best (highest lower bound)."""
    basis, counts, note = _fallback(model, segment=segment, channel=channel, config=config)
    if counts is None:
        return SlotAdvice(segment, channel, NOT_ENOUGH_DATA, basis, note)
    history = model.history
    confidence = model.config.confidence
    by_hour = {}
    for hour in range(HOURS_OF_WEEK):
        if basis == "channel_average":
            pair = history.channel_hour.get(history_key(channel, hour))
        else:
            pair = history.hour.get(str(hour))
        if pair and pair[0] >= max(config.min_slot_exposures, 1):
            by_hour[hour] = _estimate_from_counts(pair, confidence)
    # Hours with a few deliveries are left out and the rest ranked by the interval's lower bound:
    # an hour with one delivery and one engagement (100%, lower bound still 5%) must not beat a
    # steady rate over thousands.
    best = sorted(by_hour, key=lambda h: -by_hour[h].low)[: config.slots]
    slots = tuple(Slot(starts[h], h, by_hour[h]) for h in best)
    return SlotAdvice(segment, channel, NOT_ENOUGH_DATA, basis, note, slots)
