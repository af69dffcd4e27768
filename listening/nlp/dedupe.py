"""Near-duplicate and retweet detection: a thousand copies of one post are one story with a thousand
shares.

`story_key(text)` is a 64-bit SimHash (Charikar 2002; Manku et al. 2007) of the post's canonical
text: retweet prefixes (`RT @user:`), links, a trailing `via @user`, case and punctuation are
removed first, so retweets and copies that differ only in their (per-copy shortened) links have the
same key exactly. Near copies (a word added, a truncated tail) have keys a few bits apart.

How the caller finds a post's story, cheapest first:

1. Exact key: `story_key` is a signed 64-bit integer, stored as-is in an indexed PostgreSQL
   `bigint` column; equality finds retweets and link-varied copies.
2. Hamming radius among recent stories (a tenant's last few days, thousands of keys): the nearest
   key within `HAMMING_RADIUS` bits, in numpy with `stories_within(key, keys)`, or in SQL with
   `bit_count((story_key # %s)::bit(64)) <= 6` (PostgreSQL 14+) over the recent rows. Limiting the
   scan to recent stories is what keeps it cheap (no index serves a Hamming radius this wide), and
   a story is a burst in time anyway.

The radius was measured on the SemEval tweets (49,440 distinct texts, every pair compared): pairs
within 7 bits were all copies of one post (a retweet with a comment, a `#cricket` prefix, a
changed word, a truncated tail; 372 pairs, none with a word overlap under 50%); at 8 bits the first
different posts on one topic appear (11 of 115 pairs), and from 10 bits on most pairs are
unrelated. 6 keeps a margin for posts shorter than tweets, whose keys scatter more.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from listening.nlp.normalize import URL_RE, clean_text

KEY_BITS = 64
HAMMING_RADIUS = 6
# The key of a post with no text at all (an image alone): such posts cannot be grouped by text, so
# the caller should not collapse them into one story.
EMPTY_STORY_KEY = 0

_MASK = (1 << KEY_BITS) - 1
_SHINGLE = 4  # characters per shingle: robust to one changed letter, selective on short texts

_RETWEET_RE = re.compile(r"^\s*(?:RT|MT)\b\s*:?\s*@\w+\s*:?\s*", re.IGNORECASE)
_VIA_RE = re.compile(r"\s*\bvia\s+@\w+\s*$", re.IGNORECASE)
_SPACE_RE = re.compile(r"\s+")
# Truncated copies end with an ellipsis, which NFKC has turned into dots.
_TRAILING_DOTS_RE = re.compile(r"\s*\.{2,}\s*$")


def is_retweet(text: str) -> bool:
    """A native or manual retweet: the text starts with `RT @user` (or `MT @user`, a modified one)."""
    return _RETWEET_RE.match(clean_text(text)) is not None


def canonical_text(text: str) -> str:
    """The text a story key is computed from: no retweet prefix, links, trailing `via @user`,
    trailing ellipsis, punctuation or case. A post that is only links keeps them, without scheme,
    so different links stay different stories."""
    text = clean_text(text)
    while (prefix := _RETWEET_RE.match(text)) is not None:
        text = text[prefix.end() :]
    without_links = _VIA_RE.sub("", URL_RE.sub(" ", text))
    without_links = _TRAILING_DOTS_RE.sub("", without_links)
    canonical = _squash(without_links)
    if not canonical:
        canonical = _squash(re.sub(r"https?://", " ", text, flags=re.IGNORECASE))
    return canonical


def _squash(text: str) -> str:
    # Unicode punctuation of every script (categories P*), `#` and `@` included.
    unpunctuated = "".join(" " if unicodedata.category(ch)[0] == "P" else ch for ch in text.casefold())
    return _SPACE_RE.sub(" ", unpunctuated).strip()


def story_key(text: str) -> int:
    """64-bit SimHash of `canonical_text(text)` over character 4-gram shingles, as a signed integer
    (fits a PostgreSQL bigint). Stable across processes and machines (BLAKE2b, not `hash()`)."""
    canonical = canonical_text(text)
    if not canonical:
        return EMPTY_STORY_KEY
    padded = f" {canonical} "
    shingles = {padded[i : i + _SHINGLE] for i in range(max(1, len(padded) - _SHINGLE + 1))}
    hashes = np.fromiter(
        (int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "little") for s in shingles),
        dtype="<u8",  # explicit byte order: the same key on a big-endian machine
        count=len(shingles),
    )
    # Each shingle votes +1 for the bits set in its hash and -1 for the others; the key holds the
    # majority of each bit.
    bits = np.unpackbits(hashes.view(np.uint8).reshape(-1, 8), axis=1, bitorder="little")
    votes = 2 * bits.sum(axis=0, dtype=np.int64) - len(shingles)
    unsigned = int(np.packbits(votes > 0, bitorder="little").view("<u8")[0])
    return _signed(unsigned)


def _signed(value: int) -> int:
    return value - (1 << KEY_BITS) if value >= 1 << (KEY_BITS - 1) else value


def hamming(a: int, b: int) -> int:
    """Bits that differ between two story keys (signed or unsigned 64-bit)."""
    return ((a ^ b) & _MASK).bit_count()


def stories_within(
    key: int, keys: Iterable[int] | npt.NDArray[np.int64], radius: int = HAMMING_RADIUS
) -> npt.NDArray[np.intp]:
    """Indexes of `keys` within `radius` bits of `key`, nearest first (ties in input order)."""
    candidates = np.asarray(list(keys) if not isinstance(keys, np.ndarray) else keys, dtype=np.int64)
    if candidates.size == 0:
        return np.empty(0, dtype=np.intp)
    xor = (candidates ^ np.int64(_signed(key & _MASK))).view(np.uint8).reshape(-1, 8)
    distances = np.unpackbits(xor, axis=1).sum(axis=1)
    (hits,) = np.nonzero(distances <= radius)
    return hits[np.argsort(distances[hits], kind="stable")]
