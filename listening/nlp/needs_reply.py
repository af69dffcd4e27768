"""Does a post need an answer? Question and complaint rules, and the inbox priority score.

Pure functions of a text and a few numbers (no ORM), so they are tested on written examples and
tuned on public tweets (SemEval 2013-2016, CrisisLexT26's Spanish and French crises).

Rules, per language (English, German, French, Spanish, Portuguese, Italian, Dutch; a post in another
language, or with none detected, is read with every set, as posts mix English in):

- **Question**: a question mark ending a sentence of the post's own text (not inside a link, and
  not the `?` of a `RT @user:` quote), or the Spanish `¿`; or a request for help that
  people write without one ("anyone know", "please help", "weiß jemand", "quelqu'un sait",
  "alguien sabe"). Rhetorical questions are included: in SemEval, most tweets with a `?` that
  also carry a complaint word are still worth an answer ("why is my order late again?").
- **Complaint**: a phrase of service failure or a demand ("not working", "still waiting",
  "refund", "funktioniert nicht", "ne marche pas", "no funciona") unless the sentiment model calls
  the post positive; or a word of dissatisfaction ("worst", "enttäuscht", "déçu", "pésimo") when
  it calls the post negative. Phrases match whole words with accents folded ("decu" = "déçu").

Tuning on SemEval (49,418 distinct tweets, retweets left out): a bare `?` anywhere flagged URLs
and quoted retweets; a question word at the start without a `?` ("what a day") flagged
exclamations, so question words count only in the help-request phrases ("help me" alone flagged
"help me get ready"). Requiring an interrogative form in English (a question word, or an
auxiliary verb first) was tried and dropped: on a hand-checked sample of 40 tweets addressed to an
account, it kept 20 of them at 65% precision where the plain rule kept all 40 at 70% (it lost
"you down?", "toasted?", "Vermalen still sick?"). Words that are complaints only in context
("down", "slow", "bug", "fail") were dropped after they flagged sports and weather tweets; they
stay in phrases ("is down", "went down", "so slow"). "broken" alone flagged "broken heart";
"worst" and "terrible" alone flagged opinions about films and sport, hence the sentiment condition
on dissatisfaction words.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from listening.nlp.normalize import HANDLE_RE, URL_RE


class Reason:
    """Why a post is in the inbox (stored on the item, shown as badges)."""

    QUESTION = "question"
    COMPLAINT = "complaint"
    NEGATIVE = "negative"
    HIGH_REACH = "high_reach"
    VERIFIED = "verified"  # a verified or press account: raises priority, never the only reason

    ALL = (QUESTION, COMPLAINT, NEGATIVE, HIGH_REACH, VERIFIED)
    LABELS = {
        QUESTION: "Question",
        COMPLAINT: "Complaint",
        NEGATIVE: "Negative",
        HIGH_REACH: "High reach",
        VERIFIED: "Verified or press",
    }


_HELP_REQUESTS: dict[str, tuple[str, ...]] = {
    "en": (
        "anyone know", "does anyone", "does anybody", "can anyone", "can someone", "can somebody",
        "any idea", "any ideas", "please help", "pls help", "plz help", "need help", "can you help",
        "how do i", "how can i", "please advise", "please let me know", "please fix",
        "who do i contact", "is there a way",
    ),
    "de": (
        "weiss jemand", "kann jemand", "kann mir jemand", "hat jemand", "bitte helfen", "hilfe bitte",
        "brauche hilfe", "wie kann ich", "bitte um ruckmeldung", "bitte melden",
    ),
    "fr": (
        "quelqu'un sait", "quelqu un sait", "quelqu'un peut", "qui peut m'aider", "aidez-moi",
        "aidez moi", "besoin d'aide", "comment faire pour", "merci de me repondre", "svp aidez",
    ),
    "es": (
        "alguien sabe", "alguien me puede", "alguien puede", "necesito ayuda", "ayudenme", "ayuda por favor",
        "por favor ayuda", "como hago para", "me pueden ayudar", "me podrian ayudar",
    ),
    "pt": ("alguem sabe", "alguem pode", "preciso de ajuda", "me ajudem", "como faco para"),
    "it": ("qualcuno sa", "qualcuno puo", "ho bisogno di aiuto", "aiutatemi", "come faccio a"),
    "nl": ("weet iemand", "kan iemand", "hulp nodig", "help me", "hoe kan ik"),
}  # fmt: skip

# Service failures and demands: a complaint unless the post reads as positive.
_FAILURES: dict[str, tuple[str, ...]] = {
    "en": (
        "not working", "doesn't work", "doesnt work", "does not work", "don't work", "dont work",
        "stopped working", "isn't working", "isnt working", "won't load", "wont load", "can't log in",
        "cant log in", "can't login", "cant login", "can't access", "cant access", "is down", "are down",
        "went down", "still down", "outage", "is broken", "still broken", "broken again", "keeps crashing",
        "crashed my", "keeps freezing", "refund", "overcharged", "charged twice", "double charged",
        "still waiting", "no response", "no reply", "never received", "never got", "haven't received",
        "havent received", "lost my", "deleted my", "cancel my", "cancelling my", "canceling my",
        "poor service", "bad service", "fix this", "fix it", "shame on", "complaint", "hacked",
        "data breach", "data leak",
    ),
    "de": (
        "funktioniert nicht", "funktioniert nie", "geht nicht", "geht nichts", "kaputt", "ausfall",
        "storung", "stoerung", "absturz", "sturzt ab", "schlechter service", "warte seit",
        "keine antwort", "keine ruckmeldung", "erstattung", "geld zuruck", "kundigen", "kundigung",
        "abzocke", "betrug", "beschwerde", "gehackt", "datenleck",
    ),
    "fr": (
        "ne marche pas", "marche pas", "ne fonctionne pas", "fonctionne pas", "ne fonctionne plus",
        "en panne", "panne", "plante encore", "remboursement", "rembourser", "toujours pas", "toujours rien",
        "aucune reponse", "pas de reponse", "arnaque", "resilier", "reclamation", "pirate",
        "fuite de donnees",
    ),
    "es": (
        "no funciona", "no sirve", "no anda", "no carga", "esta caido", "se cayo", "fallo", "falla",
        "reembolso", "devolucion", "sigo esperando", "sin respuesta", "nadie responde", "estafa",
        "cancelar mi", "reclamo", "queja", "hackeado", "filtracion",
    ),
    "pt": (
        "nao funciona", "nao esta funcionando", "fora do ar", "caiu", "reembolso", "ainda esperando",
        "sem resposta", "golpe", "reclamacao", "cancelar minha", "cancelar meu",
    ),
    "it": (
        "non funziona", "non va", "disservizio", "rimborso", "ancora in attesa", "nessuna risposta",
        "truffa", "reclamo", "disdetta",
    ),
    "nl": (
        "werkt niet", "doet het niet", "storing", "kapot", "terugbetaling", "geld terug", "geen reactie",
        "geen antwoord", "oplichting", "opzeggen", "klacht",
    ),
}  # fmt: skip

# Dissatisfaction: a complaint only when the sentiment model also reads the post as negative
# ("the worst movie ever" about a film is not a complaint to a brand, but it is negative; in a brand
# mention these words nearly always are one).
_DISSATISFACTION: dict[str, tuple[str, ...]] = {
    "en": (
        "worst", "terrible", "horrible", "awful", "useless", "pathetic", "unacceptable", "ridiculous",
        "disappointed", "disappointing", "fed up", "sick of", "tired of", "so slow", "too slow", "scam",
        "ripoff", "rip off", "rip-off", "customer service", "customer support", "complain",
    ),
    "de": (
        "enttauscht", "enttauschend", "katastrophe", "katastrophal", "frechheit", "unverschamt",
        "unzumutbar", "kundenservice", "kundendienst", "schlimmste", "schlechteste", "nervt",
    ),
    "fr": (
        "nul", "nulle", "decu", "decue", "decevant", "honteux", "honte", "inadmissible", "inacceptable",
        "scandaleux", "service client", "pire", "lamentable",
    ),
    "es": (
        "pesimo", "pesima", "fatal", "horrible", "decepcionado", "decepcionada", "decepcion",
        "verguenza", "inaceptable", "atencion al cliente", "servicio al cliente", "el peor", "la peor",
    ),
    "pt": ("pessimo", "pessima", "decepcionado", "vergonha", "atendimento", "o pior"),
    "it": (
        "pessimo", "pessima", "deluso", "delusa", "vergogna", "inaccettabile", "servizio clienti",
        "il peggiore",
    ),
    "nl": ("slechtste", "teleurgesteld", "schandalig", "onacceptabel", "klantenservice"),
}  # fmt: skip


def fold(text: str) -> str:
    """Lower case, accents and typographic apostrophes folded: "Déçu" -> "decu", U+2019 -> "'"."""
    decomposed = unicodedata.normalize("NFKD", text.replace("\u2019", "'").replace("\u00df", "ss"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def _phrase_re(phrases: Iterable[str]) -> re.Pattern[str]:
    # Whole words: "nul" must not match "nullable", "caida" not "caidas" of other meanings.
    alternatives = sorted({re.escape(fold(p)) for p in phrases}, key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)")


_HELP_RE = {lang: _phrase_re(phrases) for lang, phrases in _HELP_REQUESTS.items()}
_FAILURE_RE = {lang: _phrase_re(phrases) for lang, phrases in _FAILURES.items()}
_DISSATISFACTION_RE = {lang: _phrase_re(phrases) for lang, phrases in _DISSATISFACTION.items()}
_ANY_HELP_RE = _phrase_re(p for phrases in _HELP_REQUESTS.values() for p in phrases)
_ANY_FAILURE_RE = _phrase_re(p for phrases in _FAILURES.values() for p in phrases)
_ANY_DISSATISFACTION_RE = _phrase_re(p for phrases in _DISSATISFACTION.values() for p in phrases)

# A quoted retweet ("RT @user: ..." or a comment before it): the quote is someone else's text.
_RETWEET_QUOTE_RE = re.compile(r"(?<!\w)(?:RT|MT)\s*@\w+.*", re.DOTALL)
# A question mark that ends a sentence: before whitespace, the end, closing punctuation, or an emoji.
_QUESTION_MARK_RE = re.compile(r"\?+(?=[\s\"'”)\]!.,;:…]|$|[^\w\s])")
_INVERTED_RE = re.compile(r"¿")


def _own_text(text: str) -> str:
    """The post's own words: no quoted retweet, no links (a `?` in a URL is a query string), no
    handles."""
    text = _RETWEET_QUOTE_RE.sub(" ", text)
    text = URL_RE.sub(" ", text)
    return HANDLE_RE.sub(" ", text)


def _patterns(
    lang: str, table: Mapping[str, re.Pattern[str]], every: re.Pattern[str]
) -> list[re.Pattern[str]]:
    if lang in table:
        return [table[lang]] if lang == "en" else [table[lang], table["en"]]
    return [every]


def is_question(text: str, lang: str = "") -> bool:
    own = _own_text(text)
    if _QUESTION_MARK_RE.search(own) or _INVERTED_RE.search(own):
        return True
    folded = fold(own)
    return any(p.search(folded) for p in _patterns(lang, _HELP_RE, _ANY_HELP_RE))


def is_complaint(text: str, lang: str = "", sentiment: str = "") -> bool:
    if sentiment == "positive":
        return False
    folded = fold(_own_text(text))
    if any(p.search(folded) for p in _patterns(lang, _FAILURE_RE, _ANY_FAILURE_RE)):
        return True
    return sentiment == "negative" and any(
        p.search(folded) for p in _patterns(lang, _DISSATISFACTION_RE, _ANY_DISSATISFACTION_RE)
    )


_VERIFIED_KEYS = ("verified", "is_verified", "blue_verified", "is_blue_verified")
_PRESS_WORDS = ("press", "media", "news", "journalist", "publisher", "newspaper", "broadcaster")


def is_verified_or_press(raw: Mapping[str, Any]) -> bool:
    """What the source's raw record says about the author: a verification flag (Twitter/X `verified`,
    Bluesky and others' `is_verified`), or an account type naming the press. Looked for at the top
    level and under the author object the common APIs nest it in (`user`, `author`, `account`)."""
    places: list[Mapping[str, Any]] = [raw]
    for key in ("user", "author", "account"):
        nested = raw.get(key)
        if isinstance(nested, Mapping):
            places.append(nested)
    for place in places:
        if any(place.get(key) is True for key in _VERIFIED_KEYS):
            return True
        kind = place.get("account_type") or place.get("verified_type") or place.get("author_type")
        if isinstance(kind, str) and any(word in kind.lower() for word in _PRESS_WORDS):
            return True
    return False


@dataclass(frozen=True)
class Thresholds:
    """A tenant's inbox settings, as the rules read them."""

    high_reach_followers: int = 10_000
    negative_min_score: float = 0.6


@dataclass(frozen=True)
class Post:
    text: str
    lang: str
    sentiment: str
    sentiment_score: float | None
    followers: int | None
    raw: Mapping[str, Any]


def reasons_for(post: Post, thresholds: Thresholds) -> list[str]:
    """Why the post needs an answer, in Reason.ALL order; [] when it does not."""
    found: set[str] = set()
    if is_question(post.text, post.lang):
        found.add(Reason.QUESTION)
    if is_complaint(post.text, post.lang, post.sentiment):
        found.add(Reason.COMPLAINT)
    if post.sentiment == "negative" and (post.sentiment_score or 0.0) >= thresholds.negative_min_score:
        found.add(Reason.NEGATIVE)
    if (post.followers or 0) >= thresholds.high_reach_followers:
        found.add(Reason.HIGH_REACH)
    if found and is_verified_or_press(post.raw):
        found.add(Reason.VERIFIED)
    return [reason for reason in Reason.ALL if reason in found]


# Priority weights: at most 100 before waiting time. Reach counts the most because a large audience
# watches the answer; a complaint outranks a question because it is a churn and reputation risk.
REACH_WEIGHT = 30.0
REACH_FULL_AT = 1_000_000  # followers at which reach counts fully (log scale below it)
NEGATIVE_WEIGHT = 20.0
COMPLAINT_WEIGHT = 20.0
QUESTION_WEIGHT = 15.0
VERIFIED_WEIGHT = 15.0
# Waiting adds up to WAIT_WEIGHT over WAIT_FULL_HOURS, so an item left alone rises over fresh ones
# of the same kind, without a day-old question burying a live crisis.
WAIT_WEIGHT = 10.0
WAIT_FULL_HOURS = 24.0


def base_priority(post: Post, reasons: Iterable[str]) -> float:
    """The item's priority when it arrives; waiting time is added when the inbox is read."""
    given = set(reasons)
    followers = max(post.followers or 0, 0)
    reach = min(1.0, math.log10(1 + followers) / math.log10(1 + REACH_FULL_AT))
    score = REACH_WEIGHT * reach
    if post.sentiment == "negative":
        score += NEGATIVE_WEIGHT * (post.sentiment_score if post.sentiment_score is not None else 0.5)
    if Reason.COMPLAINT in given:
        score += COMPLAINT_WEIGHT
    if Reason.QUESTION in given:
        score += QUESTION_WEIGHT
    if Reason.VERIFIED in given:
        score += VERIFIED_WEIGHT
    return round(score, 3)
