"""Mentions for the demo tenants: months of ordinary conversation about a company with a daily and
weekly rhythm, and the minute-by-minute story of a service outage.

The texts are written here, not copied from any dataset: templates of what people really post about
an IT company (praise, questions, complaints, feature requests, comparisons, news), filled with the
company's products and competitors, mostly in English with some German, French and Spanish. Authors
come from a fixed pool with a heavy-tailed follower count (a few big accounts, many small ones);
news outlets post through the "news" sources. Everything is drawn from a seeded generator, so a
demo built twice is the same demo. The mentions go through the real pipeline (ingest, enrichment on
the workers, metrics, topics, alerts, risk): this module only writes what people would have said.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from listening.connectors.base import MentionIn


@dataclass(frozen=True)
class Company:
    name: str
    handle: str  # the company's own account, without "@"
    products: tuple[str, ...]
    competitors: tuple[str, ...]
    status_url: str


# Hour-of-day weights (UTC; the demo companies' customers are mostly in Europe and the Americas)
# and day-of-week weights (Monday first): what a B2B software brand's mention volume looks like.
HOURLY = np.array(
    [
        *(0.25, 0.2, 0.18, 0.18, 0.2, 0.3, 0.5, 0.75, 1.0, 1.2, 1.3, 1.35),
        *(1.4, 1.5, 1.6, 1.65, 1.6, 1.45, 1.25, 1.05, 0.85, 0.65, 0.45, 0.33),
    ]
)
WEEKLY = np.array([1.1, 1.15, 1.12, 1.08, 0.95, 0.55, 0.5])

ORDINARY: dict[str, tuple[str, ...]] = {
    "praise": (
        "Really impressed with {product} from {company}, setup took five minutes",
        "{product} just saved our release. Thank you @{handle}!",
        "Switched our team to {product} last month and nobody wants to go back",
        "The new dashboard in {product} is so much faster, nice work @{handle}",
        "Shoutout to the {company} support team, fixed my issue in under an hour",
        "{product} keeps getting better. The latest update is excellent",
    ),
    "question": (
        "Does anyone know if {product} supports single sign-on with Okta?",
        "@{handle} how do I export my data from {product} to CSV?",
        "Is there a way to set up alerts in {product} for failed jobs?",
        "Anyone using {product} with Terraform? Looking for examples",
        "@{handle} when will {product} be available in the Frankfurt region?",
    ),
    "complaint": (
        "{product} has been really slow this afternoon, anyone else?",
        "Third time this week {product} logged me out for no reason @{handle}",
        "The pricing change for {product} is hard to justify for small teams",
        "Waiting two days for a reply from {company} support is not great",
        "Why did {product} remove the old API endpoint without warning?",
    ),
    "feature": (
        "Would love dark mode in {product}. Please @{handle}",
        "Feature request for {product}: let us schedule reports weekly",
        "If {product} had audit logs per project we would upgrade tomorrow",
    ),
    "comparison": (
        "Comparing {product} with {competitor} for our platform team, thoughts?",
        "We moved from {competitor} to {product} and cut our bill by a third",
        "{competitor} or {product}? {product} wins on docs, {competitor} on price",
    ),
    "news": (
        "{company} announces {product} general availability in three new regions",
        "{company} reports strong quarter as {product} adoption grows",
        "Interview: how {company} builds {product} with a remote-first team",
        "{company} joins open-source foundation, will contribute parts of {product}",
    ),
}

OTHER_LANGUAGES: dict[str, tuple[str, ...]] = {
    "de": (
        "{product} von {company} läuft bei uns seit Monaten stabil, sehr zufrieden",
        "Weiß jemand, ob {product} auch in der EU gehostet werden kann?",
        "Der Support von {company} hat heute schnell geholfen, danke!",
    ),
    "fr": (
        "Très content de {product}, la migration s'est faite sans souci",
        "Quelqu'un a déjà intégré {product} avec GitLab ? Des retours ?",
        "Le service client de {company} met trop de temps à répondre",
    ),
    "es": (
        "Estamos probando {product} y de momento nos encanta",
        "¿Alguien sabe si {product} tiene plan para ONG?",
        "{product} va muy lento hoy, ¿a alguien más le pasa?",
    ),
}

# An outage told as it unfolds: minute offsets from its start and what people post in each phase.
OUTAGE_PHASES: tuple[tuple[int, int, float, tuple[str, ...]], ...] = (
    # (from minute, to minute, mentions per minute, texts)
    (
        0,
        12,
        1.5,
        (
            "Is {product} down for anyone else? Can't sign in",
            "{product} dashboard not loading for me @{handle}",
            "Getting 502 errors from {product} API right now",
        ),
    ),
    (
        12,
        45,
        6.0,
        (
            "{product} is down. Our whole team is blocked @{handle}",
            "Outage at {company}: {product} completely unavailable, no word on the status page",
            "Hey @{handle}, {product} has been down for 20 minutes, any update?",
            "Our customers can't log in because {product} is down. This is unacceptable",
            "{company} outage taking down half of our stack. Again",
            "Still no statement from {company} about the {product} outage?",
            "{product} ist komplett ausgefallen, nichts geht mehr",
            "Panne générale de {product}, impossible de se connecter",
        ),
    ),
    (
        45,
        80,
        4.0,
        (
            "{company} says engineers are working on the {product} outage, next update in 30 minutes",
            "Thanks @{handle} for the quick update on the outage, waiting for the fix",
            "{product} still down after an hour. Will there be SLA credits?",
            "Seriously considering moving to {competitor} after this {product} outage",
            "News: {company} {product} outage affects thousands of customers",
        ),
    ),
    (
        80,
        120,
        1.5,
        (
            "{product} is back for us. Thanks for the clear updates @{handle}",
            "Looks like {product} has recovered, dashboards loading again",
            "{company} publishes root cause for the {product} outage, good transparency",
            "Good to see {company} owning the outage and offering credits",
        ),
    ),
)

PRESS = (
    ("techwire", "TechWire", 480_000),
    ("cloudbeat_news", "CloudBeat News", 220_000),
    ("devdaily", "DevDaily", 95_000),
)


def _authors(rng: np.random.Generator, count: int) -> list[tuple[str, str, int]]:
    first = ("alex", "sam", "maria", "jonas", "li", "priya", "tom", "ana", "kofi", "eva", "noah", "mia")
    last = ("dev", "ops", "cloud", "codes", "builds", "sre", "eng", "data", "stack", "infra")
    authors = []
    for index in range(count):
        handle = f"{first[index % len(first)]}_{last[(index // len(first)) % len(last)]}{index}"
        followers = int(min(rng.lognormal(mean=5.5, sigma=1.6), 2_000_000))
        authors.append((handle, handle.replace("_", " ").title(), followers))
    return authors


class MentionWriter:
    """Draws mentions about one company: `history` for a past period, `outage` for the story."""

    def __init__(self, company: Company, *, seed: int = 7) -> None:
        self.company = company
        self.rng = np.random.default_rng(seed)
        self.authors = _authors(self.rng, 400)
        self.serial = 0

    def _fill(self, template: str) -> str:
        rng, company = self.rng, self.company
        return template.format(
            company=company.name,
            handle=company.handle,
            product=company.products[int(rng.integers(len(company.products)))],
            competitor=company.competitors[int(rng.integers(len(company.competitors)))],
        )

    def _mention(self, text: str, at: datetime, *, kind: str, lang: str = "") -> MentionIn:
        self.serial += 1
        if kind == "news":
            handle, name, followers = PRESS[int(self.rng.integers(len(PRESS)))]
        else:
            handle, name, followers = self.authors[int(self.rng.zipf(1.6)) % len(self.authors)]
        return MentionIn(
            external_id=f"demo-{self.company.handle}-{int(at.timestamp())}-{self.serial}",
            text=text,
            posted_at=at,
            author_handle=handle,
            author_name=name,
            author_followers=followers,
            url=f"https://social.example/{handle}/{self.serial}",
            lang_hint=lang,
            raw={"demo": True, "kind": kind},
        )

    def history(self, *, start: datetime, end: datetime, per_day: float) -> Iterator[MentionIn]:
        """Ordinary days between `start` and `end` (whole hours), about `per_day` mentions a day,
        with the daily and weekly rhythm and a slow drift; news now and then."""
        kinds = tuple(ORDINARY)
        weights = np.array([0.3, 0.2, 0.2, 0.08, 0.1, 0.12])
        hour = start.replace(minute=0, second=0, microsecond=0)
        hours = max(0, int((end - hour).total_seconds() // 3600))
        norm = HOURLY.mean() * WEEKLY.mean()
        for step in range(hours):
            at = hour + timedelta(hours=step)
            drift = 1.0 + 0.15 * math.sin(step / (24 * 17.0))
            rate = per_day / 24.0 * HOURLY[at.hour] * WEEKLY[at.weekday()] * drift / norm
            for _ in range(int(self.rng.poisson(rate))):
                moment = at + timedelta(seconds=float(self.rng.uniform(0, 3600)))
                if self.rng.random() < 0.12:
                    lang = ("de", "fr", "es")[int(self.rng.integers(3))]
                    texts = OTHER_LANGUAGES[lang]
                    text = self._fill(texts[int(self.rng.integers(len(texts)))])
                    yield self._mention(text, moment, kind="ordinary", lang=lang)
                    continue
                kind = kinds[int(self.rng.choice(len(kinds), p=weights / weights.sum()))]
                texts = ORDINARY[kind]
                yield self._mention(self._fill(texts[int(self.rng.integers(len(texts)))]), moment, kind=kind)

    def outage(self, *, start: datetime) -> list[MentionIn]:
        """The outage's mentions in time order, from `start` (the first report) over two hours."""
        mentions = []
        for first, last, per_minute, texts in OUTAGE_PHASES:
            for minute in range(first, last):
                for _ in range(int(self.rng.poisson(per_minute))):
                    moment = start + timedelta(minutes=minute, seconds=float(self.rng.uniform(0, 60)))
                    template = texts[int(self.rng.integers(len(texts)))]
                    kind = "news" if template.startswith("News:") else "outage"
                    mentions.append(self._mention(self._fill(template), moment, kind=kind))
        return sorted(mentions, key=lambda m: m.posted_at)
