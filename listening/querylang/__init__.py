"""The tenant's boolean query language: which mentions a saved query (a brand, a product, a competitor)
matches. Pure Python, no ORM and no I/O, so ingest, the backfill job and the portal's editor all call
the same code::

    query = parse('(acme OR "acme cloud") AND (outage OR down*) -lang:de')
    doc = Document.of(text="Acme Cloud is DOWN again #acme", author_handle="@jo", lang="en",
                      source_name="Status page", source_kind="rss")
    query.matches(doc)  # True
    query.terms  # (Term(key='acme'), Phrase(keys=('acme', 'cloud')), Term(key='outage'), Prefix(...))
    str(query)  # '(acme OR "acme cloud") AND (outage OR down*) AND NOT lang:de', and parse() of it
                # gives an equal Query

Documents are tokenized once (`Document.of`); evaluation is then look-ups only, so build each
Document once and evaluate every query against it (or one query against many Documents).

The language
------------
Matching is case-, accent- and width-insensitive (`cafe` finds "Café", and full-width letters find
their ASCII forms) and ignores punctuation.

``acme``            a word. It also matches the hashtag ``#acme`` (as in Brandwatch: hashtags are
                    words used in prose) but not the mention ``@acme`` (replies addressing a handle are
                    found with ``@acme`` or ``author:acme``).
``#acme`` ``@acme`` only that hashtag, only that mention.
``acme.com``        a word the tokenizer splits (``covid-19``, ``don't``) is searched as a phrase.
``"acme cloud"``    a phrase: those words consecutively, in order, whatever punctuation is between.
``outag*``          any word starting with ``outag``; at least 3 letters before the ``*``, and only at
                    the end of a word. ``#acm*`` and ``@acm*`` stay within hashtags and mentions.
``a AND b``, ``a b`` both (juxtaposition is AND).
``a OR b``          either.
``NOT a``, ``-a``   not ``a``. A query must look for something: ``NOT a`` alone, or ``a OR NOT b``,
                    is refused because it would match almost every mention.
``a NEAR/n b``      ``a`` and ``b`` in either order with at most ``n`` words between them (0 to 100;
                    ``NEAR/0`` is adjacent), as Brandwatch reads it. Operands are words, phrases,
                    wildcards or parenthesized ``OR`` groups of them: ``(acme OR "acme cloud")
                    NEAR/3 (down OR outage*)``. NEARs cannot be chained: join them with AND.
``author:jo``       the author handle, with or without ``@``; ``author:jo`` also finds the Mastodon
                    account ``jo@mastodon.social``.
``lang:en``         the mention's language, an ISO 639-1 code (``en-US`` in the data counts as ``en``).
``source:rss``      the source's name or its kind; quote values with spaces: ``source:"Status page"``.
``( ... )``         grouping.

Precedence, tightest first: NEAR, NOT, AND, OR. So ``a b OR c`` is ``(a AND b) OR c`` and
``NOT a NEAR/3 b`` is ``NOT (a NEAR/3 b)``: NEAR binds tightest because its operands must be things
with a place in the text. Operators are uppercase; ``and``, ``or``, ``not`` in lower or mixed case are
refused as probable typos (quote them, ``"or"``, to search for the word).

Tokenization: words are runs of letters, digits, underscores and combining marks (so Indic and Arabic
words stay whole); hashtags and mentions follow Twitter's rules; a URL contributes its words but no
hashtags or mentions; emoji and other symbols only separate words and cannot be searched for. Chinese
and Japanese characters are one token each, so ``阿克米`` is the phrase of its three characters (a
substring match, as search engines do without a dictionary); Hangul and Thai stay in runs.

Errors raise `QuerySyntaxError` with `.position` (0-based), `.message` and `.render()` (the query with a
caret under the mistake). Limits keep hostile queries cheap: `MAX_LENGTH` characters, `MAX_DEPTH`
levels of parentheses and NOT, `MAX_TERMS` terms; texts are indexed up to `MAX_TEXT_LENGTH` characters.
"""

from listening.querylang.errors import QuerySyntaxError
from listening.querylang.nodes import Leaf, Phrase, Prefix, Query, Term
from listening.querylang.parser import (
    MAX_DEPTH,
    MAX_LENGTH,
    MAX_NEAR_DISTANCE,
    MAX_TERMS,
    MIN_PREFIX_LENGTH,
    parse,
)
from listening.querylang.text import MAX_TEXT_LENGTH, Document

__all__ = [
    "MAX_DEPTH",
    "MAX_LENGTH",
    "MAX_NEAR_DISTANCE",
    "MAX_TERMS",
    "MAX_TEXT_LENGTH",
    "MIN_PREFIX_LENGTH",
    "Document",
    "Leaf",
    "Phrase",
    "Prefix",
    "Query",
    "QuerySyntaxError",
    "Term",
    "parse",
]
