"""The tone check of a draft crisis statement: flags with their span and a suggestion, the elements
that are missing, the emotion of each sentence, and a readiness score 0-100 with its reasons.

It advises; it never blocks. The score starts at 100 and loses, per finding (READINESS_PENALTIES),
what a communications lead would weigh it: a missing apology where harm was done or a missing
acknowledgement costs most, a blaming phrase more than a cold one. Each deduction is a reason in the
report, so the score can always be explained and argued with.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from crisis.tone.emotion import LABELS, WARM_LABELS, EmotionModel
from crisis.tone.rules import ELEMENT_RULES, HARM, RULES, Category, Element

# What each finding costs the readiness score (points of 100).
READINESS_PENALTIES: dict[str, int] = {
    Category.BLAMING: 15,
    Category.DEFENSIVE: 10,
    Category.DISMISSIVE: 10,
    Category.COLD: 8,
    Element.ACKNOWLEDGEMENT: 20,
    Element.APOLOGY: 20,
    Element.ACTION: 15,
    Element.NEXT_UPDATE: 15,
    Element.HELP: 10,
    "low_warmth": 10,
}
# Flags of one category count at most this many times: five cold phrases make a statement cold,
# not five times colder than one would.
MAX_FLAGS_COUNTED_PER_CATEGORY = 2
# A sentence the emotion model reads as angry with at least this probability is flagged. The model
# learnt anger from tweets, and plain corporate facts often read as mildly angry to it ("Flight 3411
# was overbooked." 0.82, "We are refunding every affected ticket..." 0.67), while combative
# sentences score 0.88-0.99 ("these accusations are ridiculous...", "customers who ignored our
# warnings have only themselves to blame"): only the clear cases are flagged.
ANGER_FLAG = 0.85
# A statement that owes an apology and has no sentence this warm (sadness + optimism) reads cold:
# apologies and commitments score 0.6-0.97, bare facts and formulas 0.2-0.8.
WARMTH_MIN = 0.5
READY = 80
REVIEW = 50

# A sentence ends at ., ! or ? followed by space (not inside "jetblue.com" or "09.40"), or at a line
# break (greetings, bullets).
_BOUNDARY_RE = re.compile(r"(?<=[.!?])\s+|\s*\n\s*")


@dataclass(frozen=True)
class ToneFlag:
    category: str
    rule: str
    start: int  # character offsets into the draft
    end: int
    text: str
    message: str
    suggestion: str


@dataclass(frozen=True)
class MissingElement:
    element: str
    label: str
    why: str
    example: str


@dataclass(frozen=True)
class SentenceTone:
    start: int
    end: int
    text: str
    emotions: dict[str, float]  # LABELS -> probability
    anger: float
    warmth: float


@dataclass
class ToneReport:
    readiness: int
    verdict: str  # "ready", "review" or "not_ready"
    reasons: list[str]
    flags: list[ToneFlag]
    missing: list[MissingElement]
    present: list[str]
    apology_due: bool
    sentences: list[SentenceTone] = field(default_factory=list)
    model_version: str = ""

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready form (what an API would serialise)."""
        return {
            "readiness": self.readiness,
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "flags": [vars(flag) for flag in self.flags],
            "missing": [vars(item) for item in self.missing],
            "present": list(self.present),
            "apology_due": self.apology_due,
            "sentences": [{**vars(s), "emotions": dict(s.emotions)} for s in self.sentences],
            "model_version": self.model_version,
        }


def sentences_split(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence with words in it, offsets into `text`, whitespace trimmed."""
    spans = []
    start = 0
    for boundary in [*_BOUNDARY_RE.finditer(text), None]:
        end = len(text) if boundary is None else boundary.start()
        chunk = text[start:end]
        if re.search(r"\w", chunk):
            left = start + len(chunk) - len(chunk.lstrip())
            spans.append((left, start + len(chunk.rstrip())))
        if boundary is not None:
            start = boundary.end()
    return spans


def _rule_flags(text: str) -> list[ToneFlag]:
    flags: list[ToneFlag] = []
    for rule in RULES:
        for match in rule.pattern.finditer(text):
            span = match.group().strip()
            if not span:
                continue
            start = match.start() + (len(match.group()) - len(match.group().lstrip()))
            flags.append(
                ToneFlag(
                    rule.category.value,
                    rule.id,
                    start,
                    start + len(span),
                    span,
                    rule.message,
                    rule.suggestion,
                )
            )
    return flags


def _overlaps(start: int, end: int, flags: Sequence[ToneFlag]) -> bool:
    return any(start < flag.end and flag.start < end for flag in flags)


def _elements_present(text: str, flags: Sequence[ToneFlag]) -> set[Element]:
    present = set()
    # A non-apology ("apologize for having to...", "sorry if...") is not the apology that is due.
    non_apologies = [
        f for f in flags if f.rule in {"conditional-apology", "sorry-for-having-to", "inconvenience"}
    ]
    for rule in ELEMENT_RULES:
        for pattern in rule.patterns:
            for match in pattern.finditer(text):
                if rule.element is Element.APOLOGY:
                    sentence_end = text.find(".", match.end())
                    end = len(text) if sentence_end < 0 else sentence_end
                    if _overlaps(match.start(), end, non_apologies):
                        continue
                present.add(rule.element)
                break
            if rule.element in present:
                break
    return present


def tone_check(
    text: str,
    *,
    apology_due: bool | None = None,
    model: EmotionModel | None = None,
    use_model: bool = True,
) -> ToneReport:
    """The tone report of a draft. `apology_due`: whether customers were harmed (the incident's
    scenario knows); None infers it from the draft's own words. `model`: the emotion model (the
    committed one by default); `use_model=False` runs the rules alone."""
    flags = _rule_flags(text)
    spans = sentences_split(text)
    sentences: list[SentenceTone] = []
    model_version = ""
    if use_model and spans:
        model = model or EmotionModel.load()
        model_version = model.version
        proba = model.predict_proba([text[start:end] for start, end in spans])
        warm = [LABELS.index(label) for label in WARM_LABELS]
        for (start, end), row in zip(spans, proba, strict=True):
            anger = float(row[LABELS.index("anger")])
            sentences.append(
                SentenceTone(
                    start, end, text[start:end], dict(zip(LABELS, map(float, row), strict=True)),
                    anger, float(row[warm].sum()),
                )
            )  # fmt: skip
            if anger >= ANGER_FLAG:
                flags.append(
                    ToneFlag(
                        Category.DEFENSIVE.value, "emotion-anger", start, end, text[start:end],
                        f"This sentence reads as angry or combative (emotion model: anger {anger:.0%}).",
                        "Rephrase it around the people affected and what you are doing for them.",
                    )
                )  # fmt: skip
    flags.sort(key=lambda flag: (flag.start, flag.end, flag.rule))

    if apology_due is None:
        # A euphemism, a passive phrase about harm or a customer blamed is harm being talked around.
        apology_due = bool(HARM.search(text)) or any(
            f.rule in {"euphemism", "passive-harm", "customer-refused"} for f in flags
        )
    present = _elements_present(text, flags)
    required = [rule for rule in ELEMENT_RULES if rule.element is not Element.APOLOGY or apology_due]
    missing = [
        MissingElement(rule.element.value, rule.label, rule.why, rule.example)
        for rule in required
        if rule.element not in present
    ]

    score = 100
    reasons: list[str] = []
    counted: dict[str, int] = {}
    for flag in flags:
        counted[flag.category] = counted.get(flag.category, 0) + 1
        if counted[flag.category] <= MAX_FLAGS_COUNTED_PER_CATEGORY:
            penalty = READINESS_PENALTIES[flag.category]
            score -= penalty
            reasons.append(f"-{penalty}: {flag.category} language: \u201c{flag.text}\u201d")
    for item in missing:
        penalty = READINESS_PENALTIES[item.element]
        score -= penalty
        reasons.append(f"-{penalty}: missing {item.label}")
    if sentences and apology_due and max(s.warmth for s in sentences) < WARMTH_MIN:
        penalty = READINESS_PENALTIES["low_warmth"]
        score -= penalty
        reasons.append(f"-{penalty}: no sentence reads as warm or empathetic (emotion model)")
    score = max(score, 0)
    if not reasons:
        reasons.append("no defensive, blaming, dismissive or cold language found; every element is there")
    verdict = "ready" if score >= READY else "review" if score >= REVIEW else "not_ready"
    return ToneReport(
        readiness=score,
        verdict=verdict,
        reasons=reasons,
        flags=flags,
        missing=missing,
        present=sorted(element.value for element in present),
        apology_due=apology_due,
        sentences=sentences,
        model_version=model_version,
    )
