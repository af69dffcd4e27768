"""Folding and tokenization, shared by documents and query terms so both sides always agree, and the
`Document` that queries are evaluated against.

Every pattern here is a fixed, linear regular expression written by us: nothing from a user is ever
compiled into a regex (wildcards are prefix look-ups in a sorted key list, see `nodes.Prefix`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# A mention's text is indexed up to this many characters. Posts longer than this are rare (a long blog
# post is ~20k characters) and cutting here keeps one pathological feed entry from stalling ingest:
# tokenizing and matching cost is linear in the indexed length.
MAX_TEXT_LENGTH = 200_000


def _mark_class() -> str:
    """Combining marks that `\\w` does not match (it covers letters and digits only), as a character
    class body. Without them, Indic words split at every vowel sign: `\\w+` reads "हिंदी" as "ह", "द".
    Marks live in planes 0 and 1 plus the variation selectors supplement; scanning those takes ~20 ms
    once at import and stays right for whatever Unicode version this Python ships."""
    planes = [*range(0x20000), *range(0xE0100, 0xE01F0)]
    marks = [cp for cp in planes if unicodedata.category(chr(cp)).startswith("M") and not chr(cp).isalnum()]
    ranges: list[list[int]] = []
    for cp in marks:
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    return "".join(re.escape(chr(a)) + (f"-{re.escape(chr(b))}" if b > a else "") for a, b in ranges)


# Scripts written without spaces between words: each character is its own token, so a query term of
# several characters becomes a phrase of single characters (substring match), the usual unigram approach
# (Lucene's StandardTokenizer does the same for ideographs). Hangul is written with spaces: it stays in
# runs like Latin. Thai and other unspaced scripts also stay in runs (a known limitation).
_CJK = (
    "\u3005-\u3007"  # 々〆〇: iteration and closing marks that occur inside Japanese words
    "\u3040-\u30ff"  # Hiragana, Katakana
    "\u31f0-\u31ff"  # Katakana phonetic extensions
    "\u3400-\u4dbf"  # CJK extension A
    "\u4e00-\u9fff"  # CJK unified ideographs
    "\uf900-\ufaff"  # CJK compatibility ideographs
    "\U00020000-\U0003134f"  # CJK extensions B-G
)
# Word characters outside the CJK ranges; `[^\W...]` is "a word character and not one of these".
_WORD = rf"[^\W{_CJK}](?:[^\W{_CJK}]|[{_mark_class()}\u200c\u200d])*"  # ZWNJ/ZWJ join Persian, Indic
_PIECE = re.compile(rf"{_WORD}|[{_CJK}]")
_TOKEN = re.compile(
    # A URL's words are searchable, but a `#fragment` or `user@` inside it is no hashtag or mention, and
    # the scheme and `www` are noise.
    r"(?:https?://(?:www\.)?|www\.)(?P<url>[^\s<>\"']+)"
    # Hashtags and mentions as Twitter reads them: not glued to a preceding word (`a#b`, e-mail
    # addresses) nor part of an HTML entity (`&#39;`).
    rf"|(?<![^\W{_CJK}])(?<!&)[#@]{_WORD}"
    rf"|{_PIECE.pattern}"
)
# Diacritics folded away so `cafe` finds "café" and "Café" finds "cafe": the combining marks of Latin,
# Greek and Cyrillic (after NFKD), and the optional vowel points of Hebrew and Arabic plus the Arabic
# tatweel, which writers add or leave out freely. Marks that are letters' essential parts (Indic vowel
# signs, Thai, kana voicing) are kept.
_FOLDED_MARKS = re.compile("[\u0300-\u036f\u0591-\u05c7\u0610-\u061a\u0640\u064b-\u065f\u0670]+")


def fold(text: str) -> str:
    """Case-, width- and accent-insensitive form of `text`: NFKD (full-width and ligatures to plain
    letters), casefold, drop the marks above, NFC (so Hangul and kana recompose)."""
    if text.isascii():
        return text.lower()  # the common case, ten times cheaper than the Unicode path
    text = _FOLDED_MARKS.sub("", unicodedata.normalize("NFKD", text).casefold())
    return unicodedata.normalize("NFC", text)


def tokenize(text: str) -> list[str]:
    """The tokens of `text`, folded: words (`acme`), hashtags (`#acme`), mentions (`@acme`) and single
    CJK characters. Punctuation, emoji, symbols and control characters (NUL included) only separate
    tokens; they are never tokens themselves."""
    tokens: list[str] = []
    for match in _TOKEN.finditer(fold(text)):
        url = match.group("url")
        if url is None:
            tokens.append(match.group())
        else:
            tokens.extend(_PIECE.findall(url))
    return tokens


def normalize_handle(handle: str) -> str:
    """An author handle compared case-insensitively, with or without leading `@`."""
    return fold(handle.strip()).lstrip("@")


def normalize_name(name: str) -> str:
    """A source name or kind compared case-insensitively, with runs of whitespace as one space."""
    return " ".join(fold(name).split())


def normalize_lang(lang: str) -> str:
    """The ISO 639-1 part of a language tag (`en-US` and `en_us` are `en`)."""
    return lang.strip().lower().replace("_", "-").partition("-")[0]


@dataclass(frozen=True, slots=True, eq=False)
class Document:
    """A mention as queries see it, tokenized once so that evaluating many queries against it (ingest)
    or one query against many of them (backfill, the editor's live count) costs only look-ups.

    Build it with `Document.of`; the fields are derived data that only `of` keeps consistent.
    `index` maps each token to its positions; a hashtag is indexed under both `#acme` and `acme`,
    because a plain term matches hashtags (Brandwatch does the same), while a mention is indexed only
    under `@acme`. `keys` is the index's keys sorted, for prefix (wildcard) look-ups by bisection.
    """

    tokens: Sequence[str]
    index: Mapping[str, Sequence[int]]
    keys: Sequence[str]
    author_handle: str
    lang: str
    source_name: str
    source_kind: str

    @classmethod
    def of(
        cls,
        *,
        text: str,
        author_handle: str = "",
        lang: str = "",
        source_name: str = "",
        source_kind: str = "",
    ) -> Document:
        tokens = tokenize(text[:MAX_TEXT_LENGTH])
        index: dict[str, list[int]] = {}
        for position, token in enumerate(tokens):
            index.setdefault(token, []).append(position)
            if token[0] == "#":
                index.setdefault(token[1:], []).append(position)
        return cls(
            tokens=tuple(tokens),
            index=index,
            keys=tuple(sorted(index)),
            author_handle=normalize_handle(author_handle),
            lang=normalize_lang(lang),
            source_name=normalize_name(source_name),
            source_kind=normalize_name(source_kind),
        )
