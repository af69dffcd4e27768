"""Properties of the query language over generated input: any string parses or fails cleanly and
quickly, valid queries survive their canonical form, documents never break evaluation, and NEAR agrees
with a brute-force reading of its definition."""

from __future__ import annotations

import tracemalloc
from datetime import timedelta

from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from listening.querylang import MAX_LENGTH, Document, QuerySyntaxError, parse
from listening.querylang.text import tokenize

# Parsing is linear in a query of at most MAX_LENGTH characters: a second per example is generous on a
# loaded machine and still catches anything pathological (exponential backtracking, runaway recursion).
BOUNDED = settings(
    deadline=timedelta(seconds=1), max_examples=400, suppress_health_check=[HealthCheck.too_slow]
)

SYNTAX = [
    "acme", "Acme", "AND", "OR", "NOT", "NEAR/3", "NEAR/0", "NEAR", "NEAR/x", "near/2", "and", "(", ")", '"',
    "-", "*", "outag*", "ou*", "author:", "author:jo", "lang:", "lang:en", "source:", 'source:"a b"', "foo:",
    ":", "/", "#", "@", "#acme", "@acme", " ", "\t", "\n", "\x00", "阿克米", "é", "\u0301", "🔥", "\ud800",
    "https://acme.com", "\u202e", "ﷺ", "\uff02", "\ufe61", "\uff0a", "\uff08", "\u3000", "\uff21\uff2e\uff24",
]  # fmt: skip
WORDS = [
    "acme",
    "Acme",
    "ÀCME",
    "cloud",
    "outage",
    "down",
    "globex",
    "status",
    "jobs",
    "café",
    "阿克米",
    "हिंदी",
]


@st.composite
def query_like(draw: st.DrawFn) -> str:
    """Mostly near-miss queries built from the language's own pieces, sometimes arbitrary text."""
    if draw(st.booleans()):
        return draw(st.text(max_size=200))
    pieces = draw(st.lists(st.one_of(st.sampled_from(SYNTAX), st.text(max_size=3)), max_size=40))
    return draw(st.sampled_from(["", " "])).join(pieces)


def _check_outcome(expression: str) -> None:
    try:
        query = parse(expression)
    except QuerySyntaxError as error:
        assert 0 <= error.position <= len(expression)
        assert error.message
        assert error.render().endswith("^")
        return
    assert query.terms or str(query)  # a parsed query always has something to look for or filter on
    canonical = str(query)
    if len(canonical) <= MAX_LENGTH:  # the canonical form may be longer than the typed one
        assert parse(canonical) == query


@BOUNDED
@given(query_like())
def test_any_string_parses_or_raises_query_syntax_error(expression: str) -> None:
    _check_outcome(expression)


@settings(deadline=timedelta(seconds=2), max_examples=30)
@given(st.text(min_size=MAX_LENGTH - 50, max_size=MAX_LENGTH + 50, alphabet=st.sampled_from('("-a* OR:')))
def test_long_hostile_strings_fail_or_parse_quickly(expression: str) -> None:
    _check_outcome(expression)


# Valid queries, generated from the grammar with the surface variations users type.

word = st.builds(
    lambda w, deco: deco.format(w),
    st.sampled_from(WORDS),
    st.sampled_from(["{}", "{}!", "#{}", "@{}", "'{}'", "{}.com", "({})"]),
)
phrase = st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map(lambda ws: '"' + ", ".join(ws) + ' "')
wildcard = st.sampled_from(["outag*", "#acm*", "@glob*", "Clou*", "stat*"])
positional = st.one_of(word, phrase, wildcard)
field = st.sampled_from(
    ["author:@Jo", "author:jo@mastodon.social", "lang:EN", "lang:de", 'source:"Status  Page"', "source:rss"]
)
group = st.lists(positional, min_size=1, max_size=3).map(
    lambda ps: ps[0] if len(ps) == 1 else "(" + " OR ".join(ps) + ")"
)
near = st.builds(lambda a, n, b: f"{a} NEAR/{n} {b}", group, st.integers(0, 12), group)


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    def join(a: str, op: str, b: str, parens: bool) -> str:
        return f"({a}{op}{b})" if parens else f"{a}{op}{b}"

    return st.one_of(
        st.builds(join, children, st.sampled_from([" ", " AND ", " OR ", "  "]), children, st.booleans()),
        st.builds(lambda c, neg: f"{neg}({c})", children, st.sampled_from(["NOT ", "-", "NOT NOT "])),
        st.builds(lambda c, neg: f"{c} {neg}{c}", children, st.sampled_from(["NOT ", "-"])),
    )


valid_query = st.recursive(st.one_of(positional, field, near), _combine, max_leaves=24)

# Documents from the same vocabulary, so that generated queries match some of them.
vocabulary_text = st.lists(
    st.one_of(
        st.sampled_from(WORDS),
        st.sampled_from(["#acme", "@globex", "outages", "!", "🔥", "https://acme.com/x"]),
    ),
    max_size=30,
).map(" ".join)
documents = st.builds(
    lambda text, author, lang, kind: Document.of(
        text=text, author_handle=author, lang=lang, source_kind=kind
    ),
    vocabulary_text,
    st.sampled_from(["", "jo", "@JO@mastodon.social"]),
    st.sampled_from(["", "en", "de-AT"]),
    st.sampled_from(["", "rss", "mastodon"]),
)


@BOUNDED
@given(valid_query, st.lists(documents, max_size=5))
def test_canonical_form_parses_to_an_equal_query(expression: str, docs: list[Document]) -> None:
    try:
        query = parse(expression)
    except QuerySyntaxError as error:
        # Generation can nest deeper than the limit or combine only exclusions; anything else is a bug.
        if "nested too deeply" in error.message or "only excludes" in error.message:
            reject()
        raise
    again = parse(str(query))
    assert again == query
    assert str(again) == str(query)
    assert [again.matches(d) for d in docs] == [query.matches(d) for d in docs]


# Documents: nothing a source can deliver breaks evaluation.

QUERIES = [
    parse(q)
    for q in [
        "acme",
        "#acme OR @acme",
        '"acme cloud" -jobs',
        'outag* NEAR/3 (acme OR "acme cloud")',
        "阿克米 NEAR/0 down",
        "author:jo lang:en source:rss",
        '(a OR b) NEAR/100 (cde* OR "d e") NOT (x y)',
    ]
]
TOKENIZER_PIECES = [
    "a", " ", "#", "@", "&", "\x00", "\u0301", "阿", "에", "🔥", "\u200d", "https://", "www.", ".", "é",
    "\ud800", "\u0640", "\u05b8", "ß", "İ", "ﷺ", "\u0903", "_", "\u3099",
]  # fmt: skip
hostile_text = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(codec="utf-8")),
    # The pieces the tokenizer treats specially, densely mixed.
    st.lists(st.sampled_from(TOKENIZER_PIECES), max_size=60).map("".join),
    st.builds(lambda s, n: s * n, st.text(min_size=1, max_size=5), st.integers(1, 30_000)),
)


@BOUNDED
@given(hostile_text, st.text(max_size=50), st.text(max_size=20), st.text(max_size=50), st.text(max_size=20))
def test_documents_never_break_matching(text: str, author: str, lang: str, name: str, kind: str) -> None:
    doc = Document.of(text=text, author_handle=author, lang=lang, source_name=name, source_kind=kind)
    assert all(isinstance(q.matches(doc), bool) for q in QUERIES)


@BOUNDED
@given(hostile_text)
def test_tokens_are_stable_under_retokenization(text: str) -> None:
    """Each token, written alone, reads back as itself: what the canonical form relies on to print terms
    and phrases as their tokens."""
    tokens = tokenize(text)
    assert tokenize(" ".join(tokens)) == tokens


# NEAR against its definition, checked by brute force over every pair of occurrences.

NEAR_WORDS = ["acme", "down", "cloud", "x"]


def _occurrences(tokens: list[str], needle: list[str]) -> list[tuple[int, int]]:
    n = len(needle)
    return [(i, i + n - 1) for i in range(len(tokens) - n + 1) if tokens[i : i + n] == needle]


@BOUNDED
@given(
    st.lists(st.sampled_from(NEAR_WORDS), max_size=25),
    st.lists(st.lists(st.sampled_from(NEAR_WORDS), min_size=1, max_size=2), min_size=1, max_size=2),
    st.lists(st.lists(st.sampled_from(NEAR_WORDS), min_size=1, max_size=2), min_size=1, max_size=2),
    st.integers(0, 6),
)
def test_near_agrees_with_brute_force(
    tokens: list[str], left: list[list[str]], right: list[list[str]], distance: int
) -> None:
    def operand(alternatives: list[list[str]]) -> str:
        return "(" + " OR ".join('"' + " ".join(words) + '"' for words in alternatives) + ")"

    query = parse(f"{operand(left)} NEAR/{distance} {operand(right)}")
    lefts = [span for words in left for span in _occurrences(tokens, words)]
    rights = [span for words in right for span in _occurrences(tokens, words)]
    expected = any(
        0 <= b_start - a_end - 1 <= distance or 0 <= a_start - b_end - 1 <= distance
        for a_start, a_end in lefts
        for b_start, b_end in rights
    )
    assert query.matches(Document.of(text=" ".join(tokens))) == expected


# Worst cases for evaluation (RELIABILITY 22): queries at the length limit made of the costliest
# pieces (NEAR between wildcard alternatives), against the longest documents ingest stores. No
# pattern a user writes becomes a regular expression (wildcards are prefix lookups in sorted
# tokens), so there is no backtracking to blow up; the deadline and the memory bound hold that.

costly_query = st.lists(
    st.sampled_from(["aaa*", "aab*", '"aaa aab"', "aab", "(aaa* OR aab*)", "(aab OR aaab*)"]),
    min_size=2,
    max_size=6,
).map(lambda parts: " NEAR/50 ".join(parts))
long_document = st.builds(
    lambda words, n: (" ".join(words) + " ") * n,
    st.lists(st.sampled_from(["aaa", "aab", "aaab", "aaba", "b", "c"]), min_size=1, max_size=8),
    st.integers(1, 5000),
).map(lambda text: text[:40_000])


@settings(deadline=timedelta(seconds=3), max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(costly_query, long_document)
def test_costly_queries_on_long_documents_stay_cheap(expression: str, text: str) -> None:
    try:
        query = parse(expression)
    except QuerySyntaxError:
        reject()
    tracemalloc.start()
    try:
        assert isinstance(query.matches(Document.of(text=text)), bool)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 200 * len(text) + 1_000_000
