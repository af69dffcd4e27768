"""Text normalisation for the models: pure, idempotent functions of one string.

`normalize_text` is what the embedder and the sentiment model read, at training and at inference
alike, so a model never sees a form of text it was not trained on. It follows the conventions of the
TweetEval data the sentiment model is tuned on (Barbieri et al. 2020: user handles become `@user`,
links become `http`) and adds what social text needs on top:

- HTML entities are decoded (tweets arrive with `&amp;`, `&gt;`), invisible format characters (NUL,
  zero-width joiners, bidi marks, emoji skin tones and variation selectors) are dropped, and NFKC
  folds compatibility forms (fullwidth letters, "mathematical bold" letters, `…`) to plain ones.
- Emoticons and common emoji become short English phrases. The SemEval training tweets hold
  emoticons but not one emoji, so mapping `:)` and 🙂 to the same words lets what the model learnt
  from one carry over to the other, and gives MiniLM (whose vocabulary has few emoji) words it
  understands.
- Elongations are shortened (`soooo` -> `soo`, `!!!!!!` -> `!!!`), keeping the emphasis as a
  feature without a new token for every length; digits are left alone (`1000` stays `1000`).

Case is kept: MiniLM is uncased and the n-gram features lower-case on their own.
"""

from __future__ import annotations

import html
import re
import unicodedata

# Stored in every trained artifact: a model must be read with the normalisation it was trained with
# (sentiment.SentimentModel.load refuses a mismatch). Bump it whenever normalize_text changes output.
NORMALIZATION_VERSION = 1

USER_PLACEHOLDER = "@user"
URL_PLACEHOLDER = "http"

URL_RE = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
# Handles on Twitter/X, Instagram, TikTok, and Mastodon's @name@instance; an e-mail address is not
# a handle (the word character before its @ excludes it).
HANDLE_RE = re.compile(r"(?<![\w@])@\w+(?:@[\w.-]*\w)?")

# Letters repeated three times or more are cut to two, other symbols to three; digits never.
_LETTER_RUN_RE = re.compile(r"([^\W\d_])\1{2,}")
_SYMBOL_RUN_RE = re.compile(r"([^\w\s])\1{3,}")
_SPACE_RE = re.compile(r"\s+")

# Skin-tone modifiers and variation selectors only restyle the emoji before them.
_EMOJI_MODIFIERS = frozenset(["\ufe0e", "\ufe0f", *map(chr, range(0x1F3FB, 0x1F400))])
_DROP_MODIFIERS = str.maketrans(dict.fromkeys(_EMOJI_MODIFIERS, ""))

# Emoji and emoticon phrases: the CLDR short names, merged where the sentiment is the same.
_EMOJI_PHRASES: dict[str, str] = {
    **dict.fromkeys("🙂😊☺😀😃😄😁😆🤗", "smiling face"),
    **dict.fromkeys("😂🤣😹", "laughing face"),
    **dict.fromkeys("😉😜", "winking face"),
    **dict.fromkeys("😛😝😋", "face with tongue"),
    **dict.fromkeys("🙁☹😞😔😟😿", "sad face"),
    **dict.fromkeys("😢😭", "crying face"),
    **dict.fromkeys("😍🥰😻", "smiling face with heart eyes"),
    **dict.fromkeys("😘😗😚😙", "kissing face"),
    **dict.fromkeys("❤♥💕💖💗💓💞💘💙💚💛💜🧡🤍", "red heart"),
    "💔": "broken heart",
    **dict.fromkeys("😕🤔", "confused face"),
    **dict.fromkeys("😮😲😯", "surprised face"),
    **dict.fromkeys("😱🙀", "screaming face"),
    **dict.fromkeys("😠😡🤬👿", "angry face"),
    **dict.fromkeys("😒🙄", "unamused face"),
    **dict.fromkeys("😩😫😖😣", "weary face"),
    **dict.fromkeys("🤢🤮", "nauseated face"),
    **dict.fromkeys("😐😑😶", "neutral face"),
    "😬": "grimacing face",
    "😅": "smiling face with sweat",
    "😎": "smiling face with sunglasses",
    "🤩": "star struck",
    "🤦": "face palm",
    "💀": "skull",
    "👍": "thumbs up",
    "👎": "thumbs down",
    "👏": "clapping hands",
    "🙌": "raising hands",
    "🙏": "folded hands",
    "👌": "ok hand",
    "💪": "flexed biceps",
    "🔥": "fire",
    "💯": "hundred points",
    "🎉": "party popper",
    "✨": "sparkles",
    "🚀": "rocket",
    "✅": "check mark",
    **dict.fromkeys("❌✖", "cross mark"),
    "⚠": "warning",
}
_EMOJI_RE = re.compile("[" + "".join(map(re.escape, _EMOJI_PHRASES)) + "]")

# Emoticons, after elongations are cut (`:)))` is `:))` by then). They start with punctuation, so
# a word may run into them (`great:)`); the letter-led ones (`xD`) need a boundary on both sides.
_EMOTICONS: tuple[tuple[str, str], ...] = (
    (r"[:=]-?\)+|\(+-?[:=]|:-?\]", "smiling face"),
    (r"[:=]-?D+|[xX]D+", "laughing face"),
    (r";-?[)D]+", "winking face"),
    (r"[:;]-?[pP]+", "face with tongue"),
    (r":'-?\(+", "crying face"),
    (r"[:=]-?\(+|>:-?\(+", "sad face"),
    (r":-?\*+", "kissing face"),
    (r"</3+", "broken heart"),
    (r"<3+", "red heart"),
    (r":-?[/\\]", "confused face"),
    (r":-?[oO]", "surprised face"),
)
_EMOTICON_RE = re.compile(
    # The first lookahead only fails fast on the characters no emoticon starts with.
    r"(?=[:;=(<>xX])(?:(?<=[\w.,!?])|(?<![^\s]))(?:"
    + "|".join(f"(?P<e{i}>{pattern})" for i, (pattern, _) in enumerate(_EMOTICONS))
    + r")(?![^\s.,!?])"
)

# The pipeline repeats until nothing changes: a step can expose input for an earlier one (NFKC
# folds a fullwidth ampersand before `amp;` into an entity; dropping a zero-width space joins `:`
# and `)`). Real text settles in the first pass; the bound only stops a pathological input.
_MAX_PASSES = 6


def clean_text(text: str) -> str:
    """Decode HTML entities, drop control and invisible format characters, fold compatibility forms
    (NFKC) and collapse white space. Keeps every visible word, link and handle."""
    for _ in range(_MAX_PASSES):
        cleaned = _clean_once(text)
        if cleaned == text:
            break
        text = cleaned
    return text


def _clean_once(text: str) -> str:
    text = _unescape(text)
    # A printable text (most posts) has no control or format character: only emoji modifiers to drop.
    text = text.translate(_DROP_MODIFIERS) if text.isprintable() else "".join(map(_visible, text))
    text = unicodedata.normalize("NFKC", text)
    return _SPACE_RE.sub(" ", text).strip()


def _unescape(text: str) -> str:
    # Doubly escaped text (`&amp;gt;`) is common in scraped feeds; unescape until stable.
    while "&" in text:
        decoded = html.unescape(text)
        if decoded == text:
            break
        text = decoded
    return text


def _visible(ch: str) -> str:
    if ch in _EMOJI_MODIFIERS:
        return ""
    category = unicodedata.category(ch)
    if category == "Cc":  # NUL and other controls; tabs and newlines are white space for us
        return " "
    if category in ("Cf", "Cs", "Co", "Cn"):  # zero-width, bidi marks, lone surrogates, private use
        return ""
    return ch


def normalize_text(text: str) -> str:
    """The form of a text the models read (module docstring). Idempotent:
    `normalize_text(normalize_text(t)) == normalize_text(t)`."""
    for _ in range(_MAX_PASSES):
        normalized = _normalize_once(text)
        if normalized == text:
            break
        text = normalized
    return text


def _normalize_once(text: str) -> str:
    text = _clean_once(text)
    text = URL_RE.sub(URL_PLACEHOLDER, text)
    text = HANDLE_RE.sub(USER_PLACEHOLDER, text)
    text = _LETTER_RUN_RE.sub(r"\1\1", text)
    text = _SYMBOL_RUN_RE.sub(r"\1\1\1", text)
    if not text.isascii():  # a quick test that spares most posts the slower emoji scan
        text = _EMOJI_RE.sub(lambda m: f" {_EMOJI_PHRASES[m.group()]} ", text)
    text = _EMOTICON_RE.sub(_emoticon_phrase, text)
    return _SPACE_RE.sub(" ", text).strip()


def _emoticon_phrase(match: re.Match[str]) -> str:
    assert match.lastgroup is not None  # the pattern is a union of named groups
    return f" {_EMOTICONS[int(match.lastgroup[1:])][1]} "
