"""Language detection with lingua (offline, accurate on tweet-length text), and the PostgreSQL
full-text configuration for a language.

The detector chooses among `LANGUAGES`, the languages that listening for IT companies meets: the big
European markets and their neighbours, the languages of the outsourcing and development hubs
(Indonesian, Vietnamese, Tagalog, Hindi, Bengali, Polish, Romanian, Ukrainian) and the large
non-Latin scripts. Each language added slows every text of its script and adds ways to confuse
short texts, so the set is deliberately not all of lingua's 75: with all of them detection ran about
3x slower (it would then cost enrichment a quarter of the embedder's speed, where this set costs
under a tenth: about 2,000 tweets/s on 2 cores) and left twice as many English tweets unlabelled.
The price: a text in a language outside the set gets the closest one inside it (Slovak and
Croatian read as Czech, Malay as Indonesian) or a wrong one; add a market's language here when a
tenant needs it.

A text gets "" when it is unsure: fewer than `MIN_LETTERS` letters once links, handles and hashtag
signs are gone ("", "😀😀", "12345", "ok"), or when the two likeliest languages are too close
(`MIN_RELATIVE_DISTANCE`, lingua's own measure; mixed-language and ambiguous texts).
The answer depends on the text alone, never on the rest of the batch or on the thread timing.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from listening.nlp.normalize import HANDLE_RE, URL_RE, clean_text

if TYPE_CHECKING:
    from lingua import LanguageDetector

# ISO 639-1 codes (lingua's names: nb is BOKMAL, the written Norwegian of most posts).
LANGUAGES: tuple[str, ...] = (
    # Latin script
    "en", "es", "fr", "de", "pt", "it", "nl", "sv", "da", "nb", "fi", "pl", "cs", "ro", "hu", "tr",
    "ca", "id", "vi", "tl",
    # other scripts
    "ru", "uk", "el", "ar", "fa", "he", "hi", "bn", "th", "ko", "ja", "zh",
)  # fmt: skip
MIN_LETTERS = 3
# lingua's distance between the two likeliest languages' log-probabilities, relative: 0 always
# answers. Measured on 10,000 SemEval tweets (nearly all English): at 0.1, 0.9% are left unlabelled
# (one-word, mixed and name-only posts) and 0.6% get another language (some rightly), where 0
# labels 1.0% as another language and 0.2 leaves 2.3% unlabelled.
MIN_RELATIVE_DISTANCE = 0.1

_HASHTAG_SIGN_RE = re.compile(r"#(?=\w)")
_RETWEET_RE = re.compile(r"^\s*RT\b", re.IGNORECASE)

_detector: LanguageDetector | None = None
_lock = threading.Lock()


def _get_detector() -> LanguageDetector:
    global _detector
    if _detector is None:
        with _lock:
            if _detector is None:
                from lingua import IsoCode639_1, LanguageDetectorBuilder

                codes = [getattr(IsoCode639_1, code.upper()) for code in LANGUAGES]
                # Language models load lazily, only for the scripts and languages texts call for:
                # preloading all of them took 9 s and 70 MB more, and detected no faster.
                _detector = (
                    LanguageDetectorBuilder.from_iso_codes_639_1(*codes)
                    .with_minimum_relative_distance(MIN_RELATIVE_DISTANCE)
                    .build()
                )
    return _detector


def language_text(text: str) -> str:
    """What the detector reads: the words of a post, without links, handles, hashtag signs or a
    retweet marker (they are in no language, and a handle would pull towards English)."""
    text = clean_text(text)
    text = URL_RE.sub(" ", text)
    text = HANDLE_RE.sub(" ", text)
    text = _RETWEET_RE.sub(" ", text)
    return _HASHTAG_SIGN_RE.sub("", text).strip()


def detect_languages(texts: Sequence[str]) -> list[str]:
    """The ISO 639-1 code of each text's language, or "" when unsure (module docstring)."""
    prepared = [language_text(text) for text in texts]
    answers = [""] * len(prepared)
    todo = [i for i, text in enumerate(prepared) if sum(ch.isalpha() for ch in text) >= MIN_LETTERS]
    if todo:
        detected = _get_detector().detect_languages_in_parallel_of([prepared[i] for i in todo])
        for i, language in zip(todo, detected, strict=True):
            if language is not None:
                answers[i] = language.iso_code_639_1.name.lower()
    return answers


# PostgreSQL 16's built-in text search configurations, by ISO 639-1 code.
_PG_CONFIGS = {
    "ar": "arabic",
    "hy": "armenian",
    "eu": "basque",
    "ca": "catalan",
    "da": "danish",
    "nl": "dutch",
    "en": "english",
    "fi": "finnish",
    "fr": "french",
    "de": "german",
    "el": "greek",
    "hi": "hindi",
    "hu": "hungarian",
    "id": "indonesian",
    "ga": "irish",
    "it": "italian",
    "lt": "lithuanian",
    "ne": "nepali",
    "nb": "norwegian",
    "nn": "norwegian",
    "no": "norwegian",
    "pt": "portuguese",
    "ro": "romanian",
    "ru": "russian",
    "sr": "serbian",
    "es": "spanish",
    "sv": "swedish",
    "ta": "tamil",
    "tr": "turkish",
    "yi": "yiddish",
}


def postgres_text_search_config(lang: str) -> str:
    """The PostgreSQL 16 text search configuration for an ISO 639-1 code ("pt", "pt-BR", "PT_br"
    alike), or "simple" (no stemming, no stop words) for any other language and for ""."""
    base = lang.strip().lower().replace("_", "-").split("-")[0]
    return _PG_CONFIGS.get(base, "simple")
