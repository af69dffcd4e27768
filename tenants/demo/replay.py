"""The demo's outage, replayed in accelerated time: the story's two hours of mentions (first reports,
the surge, anger and waiting, recovery) arrive `speed` times faster than they were written, step by
step, through the real ingest path, so enrichment, metrics, alerts and the risk score react to them
as they would to a real outage. After each step's mentions, the communication team's actions due
by then happen (tenants.demo.story): declaring from the alert, the holding statement through tone
check, verification and approval, publishing, resolving, resuming the held posts, the report.

A replay is named by its start time and speed; each step ingests the story minutes
`[step * STEP_MINUTES, (step + 1) * STEP_MINUTES)` with their times compressed. The story is drawn
from a generator seeded by the start time, so a step run twice (a redelivered task) stores nothing
new: the same external ids are duplicates."""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from listening.connectors.base import MentionIn
from listening.models import Source
from listening.services.ingest import mention_ingest
from tenants.demo.companies import LISTENING
from tenants.demo.listening import PRESS_SOURCE, SOCIAL_SOURCE
from tenants.demo.mentions import OUTAGE_PHASES, Company, MentionWriter
from tenants.demo.story import Cast, Progress, Scene, story_advance, story_progress

STEP_MINUTES = 5
STORY_MINUTES = OUTAGE_PHASES[-1][1]
STEPS = -(-STORY_MINUTES // STEP_MINUTES)
DEFAULT_SPEED = 30.0
SPEEDS = (1.0, 300.0)


@dataclass(frozen=True)
class Replay:
    started_at: datetime  # real time of story minute 0
    speed: float

    def real_time(self, story_offset: timedelta) -> datetime:
        return self.started_at + story_offset / self.speed

    @property
    def step_seconds(self) -> float:
        return STEP_MINUTES * 60 / self.speed

    @property
    def ends_at(self) -> datetime:
        return self.started_at + timedelta(seconds=STEPS * self.step_seconds)


def replay_company(slug: str) -> Company:
    if not replay_available(slug):
        raise ValidationError("This workspace has no demo data: the outage replay runs in the demo tenants.")
    return LISTENING[slug].company


def replay_available(slug: str) -> bool:
    return slug in LISTENING and Source.objects.filter(name=SOCIAL_SOURCE).exists()


def replay_validate(speed: float) -> None:
    if not SPEEDS[0] <= speed <= SPEEDS[1]:
        raise ValidationError({"speed": f"Replay between {SPEEDS[0]:g}x and {SPEEDS[1]:g}x real time."})


def replay_story(*, replay: Replay, company: Company) -> list[MentionIn]:
    """The replay's mentions, in order, with their times compressed (`speed` times faster)."""
    seed = zlib.crc32(company.handle.encode()) ^ int(replay.started_at.timestamp())
    story = MentionWriter(company, seed=seed).outage(start=replay.started_at)
    return [replace(m, posted_at=replay.real_time(m.posted_at - replay.started_at)) for m in story]


def replay_step(*, replay: Replay, step: int, company: Company) -> int:
    """Ingest one step of the story; returns the mentions stored (0 when the step ran before)."""
    first = replay.real_time(timedelta(minutes=step * STEP_MINUTES))
    last = replay.real_time(timedelta(minutes=(step + 1) * STEP_MINUTES))
    window = [m for m in replay_story(replay=replay, company=company) if first <= m.posted_at < last]
    stored = 0
    for name, kind_is_news in ((SOCIAL_SOURCE, False), (PRESS_SOURCE, True)):
        items = [m for m in window if (m.raw.get("kind") == "news") == kind_is_news]
        if items:
            stored += mention_ingest(source=Source.objects.get(name=name), items=items).stored
    return stored


def replay_scene(*, replay: Replay, step: int, company: Company) -> Scene:
    """The story as of the end of `step` (its minute), named by the replay's start."""
    return Scene(
        key=f"demo-outage:{replay.started_at.isoformat()}",
        started_at=replay.started_at,
        company=company,
        minute=(step + 1) * STEP_MINUTES,
        real_time=lambda minute: replay.real_time(timedelta(minutes=minute)),
    )


def replay_act(*, replay: Replay, step: int, company: Company, cast: Cast) -> str | None:
    """The team's next action due by the end of `step`; returns it (None when nothing was done)."""
    return story_advance(scene=replay_scene(replay=replay, step=step, company=company), cast=cast)


RUNNING_KEY = "demo:outage-replay"
# The latest replay, for the overview's progress list after it ended (a day is plenty for a demo).
LAST_KEY = "demo:outage-replay:last"
LAST_TIMEOUT = 24 * 60 * 60
ALIVE_MARGIN_S = 120


def replay_start(*, slug: str, speed: float = DEFAULT_SPEED) -> Replay:
    """Start the replay in the current tenant on the workers (one step after another); refused while
    one is running. Returns the replay (its end: `started_at + STORY_MINUTES / speed`)."""
    from tenants.tasks import demo_replay_step

    replay_validate(speed)
    company = replay_company(slug)
    replay = Replay(started_at=timezone.now(), speed=speed)
    duration = STEPS * replay.step_seconds
    if not cache.add(RUNNING_KEY, replay.started_at.isoformat(), timeout=int(duration) + 60):
        raise ValidationError("An outage replay is running in this workspace already.")
    cache.set(LAST_KEY, {"started_at": replay.started_at.isoformat(), "speed": speed}, timeout=LAST_TIMEOUT)
    # The company travels with the task: what the story is about is the starter's to say.
    args = (replay.started_at.isoformat(), speed, 0, asdict(company))
    transaction.on_commit(lambda: demo_replay_step.delay(*args))
    return replay


def replay_running() -> bool:
    return cache.get(RUNNING_KEY) is not None


def replay_alive(*, replay: Replay, step: int) -> None:
    """A step runs: the replay is running for the rest of its steps, however late a busy worker runs
    them (the key made at the start assumed an idle one), and two minutes more if the chain dies."""
    remaining = (STEPS - step) * replay.step_seconds
    cache.set(RUNNING_KEY, replay.started_at.isoformat(), timeout=int(remaining) + ALIVE_MARGIN_S)


def replay_finished() -> None:
    """The last step ran: another replay may start (without waiting for the running key's timeout)."""
    cache.delete(RUNNING_KEY)


def replay_latest() -> Replay | None:
    """This workspace's latest replay (kept a day), or None."""
    last = cache.get(LAST_KEY)
    if not last:
        return None
    return Replay(started_at=datetime.fromisoformat(last["started_at"]), speed=last["speed"])


def replay_progress(slug: str) -> list[Progress]:
    """Where the latest replay of this workspace's story is (empty before the first one)."""
    replay = replay_latest()
    if replay is None or slug not in LISTENING:
        return []
    return story_progress(scene=replay_scene(replay=replay, step=STEPS - 1, company=LISTENING[slug].company))
