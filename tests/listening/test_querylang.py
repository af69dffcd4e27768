"""The tenant query language: what each query matches and does not, its errors, limits and canonical
form. Pure Python: no database is touched."""

from __future__ import annotations

import pytest

from listening.querylang import (
    MAX_DEPTH,
    MAX_LENGTH,
    MAX_TERMS,
    MAX_TEXT_LENGTH,
    Document,
    Phrase,
    Prefix,
    QuerySyntaxError,
    Term,
    parse,
)
from listening.querylang.text import tokenize

# A text, or the keyword arguments of `Document.of` for cases about the metadata fields.
Sample = str | dict[str, str]


def doc(sample: Sample) -> Document:
    return Document.of(text=sample) if isinstance(sample, str) else Document.of(**sample)


# (query, texts it must match, texts it must not match)
CASES: list[tuple[str, list[Sample], list[Sample]]] = [
    # Words: case, punctuation and boundaries.
    (
        "acme",
        ["Acme is down", "ACME!", "(acme)", "acme's status", "\u2018acme\u2019", "bob@acme.com"],
        ["acmecorp", "acm", "acme_corp", "", "a c m e"],
    ),
    ("ACME", ["acme"], ["acne"]),
    # Hashtags: a plain word matches its hashtag, a hashtag only the hashtag.
    ("acme", ["#acme rocks", "love #Acme"], ["@acme help", "#acmecorp"]),
    ("#acme", ["#acme down", "love #ACME!"], ["acme down", "@acme", "a#acme", "&#acme;"]),
    # Mentions: only the mention, never the word, nor an e-mail address.
    ("@acme", ["@acme help", "hey @ACME."], ["acme", "#acme", "bob@acme.com"]),
    # Accents, width and special case folding, on either side.
    ("cafe", ["Café open", "CAFÉ", "cafe\u0301"], ["caf"]),
    ("Café", ["cafe open"], ["coffee"]),
    ("zurich", ["Zürich office"], ["zur ich"]),
    ("strasse", ["Straße"], ["strase"]),
    ("acme", ["\uff21\uff23\uff2d\uff25 cloud"], []),  # full-width ACME
    ("שלום", ["שָׁלוֹם עולם"], ["שלם"]),
    # A word the tokenizer splits is a phrase.
    (
        "acme.com",
        ["visit acme.com now", "https://www.acme.com/status", "ACME COM"],
        ["acme org com", "com acme"],
    ),
    ("covid-19", ["COVID 19 again", "covid-19"], ["covid", "19 covid"]),
    # AND, juxtaposition, OR, NOT and -.
    ("acme outage", ["outage at Acme"], ["acme", "outage"]),
    ("acme AND outage", ["outage at Acme"], ["acme", "outage"]),
    ("acme OR globex", ["acme", "Globex"], ["initech"]),
    ("acme NOT jobs", ["acme down"], ["acme jobs", "jobs", "#jobs at acme"]),
    ("acme -jobs", ["acme down"], ["acme jobs"]),
    ("acme -(jobs OR hiring)", ["acme down"], ["acme hiring", "acme jobs"]),
    ("covid-19 -jobs", ["covid 19"], ["covid 19 jobs"]),
    ("acme NOT NOT down", ["acme down"], ["acme up"]),
    # Precedence: NOT over AND over OR; parentheses override.
    ("acme outage OR globex", ["globex", "acme outage"], ["acme", "outage"]),
    ("acme OR globex outage", ["acme", "globex outage"], ["globex", "outage"]),
    ("acme NOT jobs hiring", ["acme hiring"], ["acme jobs hiring", "acme"]),
    ("(acme OR globex) outage", ["globex outage", "acme outage"], ["globex", "acme"]),
    ("acme AND (down OR outage) NOT (jobs OR hiring)", ["acme down"], ["acme down hiring", "acme up"]),
    # Phrases: consecutive tokens in order, punctuation between them ignored.
    (
        '"acme cloud"',
        ["Acme Cloud is down", "acme-cloud", "ACME: cloud", "#acme cloud", "acme #cloud"],
        ["cloud acme", "acme big cloud"],
    ),
    ('"#acme down"', ["#acme down"], ["acme down", "#acme is down"]),
    ('"acme"', ["#acme"], ["acmes"]),
    ('"down acme"', ["is it down? acme"], ["down", "acme down"]),
    # Wildcards at the end of a word.
    ("outag*", ["outage", "Outages today", "#outages"], ["outa", "out", "routage"]),
    ("#acm*", ["#acmecorp", "#acme"], ["acmecorp", "@acmecorp"]),
    ("@acm*", ["@acme_support"], ["acme_support", "#acme"]),
    ("acme outag*", ["acme outages"], ["acme"]),
    # NEAR/n: either order, at most n tokens between; the boundary is exact.
    (
        "acme NEAR/2 outage",
        ["acme outage", "outage acme", "acme big bad outage", "outage, really now: acme"],
        ["acme a b c outage", "outage x y z acme", "acme", "outage"],
    ),
    ("acme NEAR/0 outage", ["outage acme", "acme outage"], ["acme x outage"]),
    (
        '"acme cloud" NEAR/1 down',
        ["acme cloud is down", "down: acme cloud"],
        ["acme cloud is very down", "acme down"],
    ),
    ("acme NEAR/1 outag*", ["outages at acme"], ["outages were at acme"]),
    (
        '(acme OR globex) NEAR/1 (down OR "not working")',
        ["globex is down", "not working: acme"],
        ["globex was not down", "acme is not really working"],
    ),
    # Overlapping occurrences do not count: the two sides must be distinct places in the text.
    ("acme NEAR/3 acme", ["acme and acme"], ["acme", "#acme"]),
    ('acme NEAR/3 "acme cloud"', ["acme or acme cloud"], ["acme cloud"]),
    # NEAR binds tighter than AND and NOT.
    ("status acme NEAR/1 down", ["status: acme is down"], ["acme down", "status acme very much down"]),
    ("status NOT acme NEAR/1 down", ["status", "status acme is very much down"], ["status acme down"]),
    # Field filters.
    (
        "acme author:jo",
        [{"text": "acme", "author_handle": "@Jo"}],
        [{"text": "acme", "author_handle": "jon"}],
    ),
    ("acme author:@JO", [{"text": "acme", "author_handle": "jo"}], [{"text": "acme"}]),
    (
        "author:jo",
        [{"text": "", "author_handle": "@jo@mastodon.social"}],
        [{"text": "jo", "author_handle": "jojo@mastodon.social"}],
    ),
    (
        "acme lang:en",
        [{"text": "acme", "lang": "en-US"}, {"text": "acme", "lang": "EN"}],
        [{"text": "acme", "lang": "de"}],
    ),
    (
        'acme source:"status  page"',
        [{"text": "acme", "source_name": "Status Page", "source_kind": "rss"}],
        [{"text": "acme", "source_name": "Status", "source_kind": "rss"}],
    ),
    (
        "acme source:rss",
        [
            {"text": "acme", "source_name": "Vendor blog", "source_kind": "rss"},
            {"text": "acme", "source_name": "RSS"},
        ],
        [{"text": "acme", "source_name": "Fediverse", "source_kind": "mastodon"}],
    ),
    ("acme -source:mastodon", ["acme"], [{"text": "acme", "source_kind": "mastodon"}]),
    # Operator words are searched for in quotes.
    ('acme "or"', ["acme or globex"], ["acme"]),
    # Scripts: CJK by character, Hangul in runs, Indic words whole, right-to-left text.
    ("阿克米", ["我爱阿克米公司"], ["阿米克", "阿克"]),
    ("アクメ", ["アクメの障害"], ["アメ"]),
    ("에이크미", ["에이크미 장애"], ["에이크미가"]),
    ("हिंदी", ["मुझे हिंदी पसंद है"], ["हिंद"]),
    ("مرحبا NEAR/1 acme", ["acme مرحبا"], ["acme x y مرحبا"]),
    # Emoji, NUL and URLs only separate words.
    ("acme down", ["acme🔥down", "acme\x00down"], []),
    ("outage -#outage", ["https://acme.com/page#outage"], ["#outage"]),
    ("acme -@acme", ["https://x.com/@acme"], ["@acme acme"]),
]


@pytest.mark.parametrize(("query", "hits", "misses"), CASES, ids=[case[0] for case in CASES])
def test_matches(query: str, hits: list[Sample], misses: list[Sample]) -> None:
    parsed = parse(query)
    assert [s for s in hits if not parsed.matches(doc(s))] == []
    assert [s for s in misses if parsed.matches(doc(s))] == []


# (query, position, part of the message): each kind of mistake, pointed at where it is.
ERRORS: list[tuple[str, int, str]] = [
    ("", 0, "The query is empty"),
    ("   ", 0, "The query is empty"),
    ("acme AND (outage OR down", 24, "Missing closing parenthesis for the one opened at character 10"),
    ("acme (", 6, "Missing closing parenthesis for the one opened at character 6"),
    ("acme) down", 4, "Unmatched closing parenthesis"),
    (") acme", 0, "Unmatched closing parenthesis"),
    ("acme ()", 5, "Empty parentheses: put a term inside"),
    ("acme AND", 8, "Expected a term after AND"),
    ("acme AND OR down", 9, "Expected a term after AND"),
    ("acme OR", 7, "Expected a term after OR"),
    ("acme NOT", 8, "Expected a term after NOT"),
    ("acme (NOT)", 9, "Expected a term after NOT"),
    ("acme -", 5, "To exclude a term, write - right before it, e.g. -jobs"),
    ("OR acme", 0, "Expected a term before OR"),
    ("(AND acme)", 1, "Expected a term before AND"),
    ("NEAR/3 acme", 0, "Expected a term before NEAR/3"),
    ("acme NEAR outage", 5, "NEAR needs a distance, e.g. NEAR/5"),
    ("acme NEAR/ outage", 5, "NEAR needs a distance, e.g. NEAR/5"),
    ("acme NEAR/x outage", 5, "NEAR's distance must be a whole number of words, e.g. NEAR/5"),
    ("acme NEAR/101 outage", 5, "NEAR distance must be between 0 and 100"),
    ("acme NEAR/99999999999999999999 outage", 5, "NEAR distance must be between 0 and 100"),
    ("acme near/3 outage", 5, "Operators are written in capitals: use NEAR/3"),
    ("acme NEAR/3", 11, "Expected a term after NEAR/3"),
    ("a NEAR/3 b NEAR/2 c", 11, "NEAR/2 cannot follow another NEAR"),
    ("acme NEAR/3 lang:en", 12, "NEAR/3 can only join words, phrases, wildcards and (... OR ...) groups"),
    ("acme NEAR/3 NOT down", 12, "NEAR/3 can only join"),
    ("(acme down) NEAR/3 outage", 0, "NEAR/3 can only join"),
    ("acme NEAR/3 (down OR NOT up)", 12, "NEAR/3 can only join"),
    ("acme and outage", 5, 'Operators are written in capitals: use AND, or write "and" in quotes'),
    ("acme Or outage", 5, "use OR"),
    ("not acme", 0, "use NOT"),
    ('acme "cloud down', 16, "Missing closing quote for the phrase opened at character 6"),
    ('acme ""', 5, "The phrase has no words to search for"),
    ('acme "?!"', 5, "The phrase has no words to search for"),
    ('"acme clou*"', 10, "Wildcards are not allowed inside quotes"),
    ("acme !!!", 5, '"!!!" has no letters or digits to search for'),
    ("acme 🔥", 5, "has no letters or digits to search for"),
    ("ou*", 0, "A wildcard needs at least 3 letters before the *, e.g. out*"),
    ("#ab*", 0, "A wildcard needs at least 3 letters before the *"),
    ("acme *", 5, "A wildcard needs at least 3 letters"),
    ("out*age", 3, "A * is only allowed at the end of a word, e.g. outag*"),
    ("*outage", 0, "A * is only allowed at the end of a word"),
    ("acme.clo*", 0, "A wildcard must follow a single word, e.g. outag*"),
    ("acme foo:bar", 5, 'Unknown field "foo:"; the fields are author:, lang: and source:'),
    ('acme site:"x"', 5, 'Unknown field "site:"'),
    ("acme author:", 12, "Expected a value after author:"),
    ("acme author: jo", 12, "Expected a value after author:"),
    ('acme source:""', 14, "Expected a value after source:"),
    ("acme author:@", 13, "Expected a value after author:"),
    ("acme lang:eng", 5, "lang: needs a two-letter ISO 639-1 code, e.g. lang:en"),
    ("acme author:jo*", 12, "Wildcards are not supported in field filters"),
    ("acme author:jo\uff0a", 12, "Wildcards are not supported in field filters"),  # full-width *
    ("acme source:\uff02x", 12, "A field value cannot contain quotation marks"),  # full-width "
    ('acme source:"status', 19, "Missing closing quote for the phrase opened at character 13"),
    ("NOT acme", 0, "This part only excludes, so it would match almost everything"),
    ("-acme -jobs", 0, "only excludes"),
    ("acme OR -jobs", 8, "only excludes"),
    ("(-acme) OR (down NOT up)", 1, "only excludes"),
]


@pytest.mark.parametrize(("query", "position", "message"), ERRORS, ids=[e[0] or "empty" for e in ERRORS])
def test_syntax_errors(query: str, position: int, message: str) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse(query)
    assert caught.value.position == position
    assert message in caught.value.message
    assert caught.value.expression == query
    assert str(caught.value) == f"{caught.value.message} (at character {position})"


def test_valid_corner_cases_parse() -> None:
    """Things that look like mistakes but are not: a colon after a word, a URL, a field filter as the
    only positive part, an operator word in lower case that is not one."""
    assert str(parse("Acme: down")) == "acme AND down"
    assert str(parse("https://status.acme.com")) == '"status acme com"'
    assert str(parse("lang:en -jobs")) == "lang:en AND NOT jobs"
    assert str(parse("near acme")) == "near AND acme"
    assert str(parse("acme NEAR/007 down")) == "acme NEAR/7 down"
    assert str(parse("10:30 acme")) == '"10 30" AND acme'


def test_render_puts_the_caret_under_the_mistake() -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse("acme AND\t(outage OR down")
    assert caught.value.render() == "acme AND (outage OR down\n                        ^"


def test_render_counts_wide_characters_twice() -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse("阿克米 OR")
    assert caught.value.render() == "阿克米 OR\n         ^"


def test_render_cuts_long_queries_around_the_mistake() -> None:
    query = " ".join(["acme"] * 100) + " ) " + " ".join(["down"] * 100)
    with pytest.raises(QuerySyntaxError) as caught:
        parse(query)
    text, caret = caught.value.render(width=40).split("\n")
    assert text.startswith("…") and text.endswith("…") and len(text) <= 42
    assert text[caret.index("^")] == ")"


# Limits: the largest allowed query parses, one more of anything is a clear error.


def test_length_limit() -> None:
    longest = '"' + "acme " * ((MAX_LENGTH - 2) // 5) + '"'
    longest += "x" * (MAX_LENGTH - len(longest))
    parse(longest)
    with pytest.raises(QuerySyntaxError) as caught:
        parse(longest + "x")
    assert caught.value.position == MAX_LENGTH
    assert caught.value.message == "The query is too long: 2,001 characters, at most 2,000 are allowed"


def test_depth_limit_counts_parentheses() -> None:
    parse("(" * MAX_DEPTH + "acme" + ")" * MAX_DEPTH)
    with pytest.raises(QuerySyntaxError) as caught:
        parse("(" * (MAX_DEPTH + 1) + "acme" + ")" * (MAX_DEPTH + 1))
    assert caught.value.position == MAX_DEPTH
    assert caught.value.message == "The query is nested too deeply: at most 20 levels of ( and NOT"


def test_depth_limit_counts_not_and_parentheses_together() -> None:
    half = MAX_DEPTH // 2
    parse("acme " + "(NOT " * half + "down" + ")" * half)
    with pytest.raises(QuerySyntaxError) as caught:
        parse("acme " + "(NOT " * half + "NOT down" + ")" * half)
    assert caught.value.position == 5 + 5 * half
    assert caught.value.message.startswith("The query is nested too deeply")


def test_term_limit_counts_words_phrases_wildcards_and_fields() -> None:
    kinds = ["ab", '"a b"', "abc*", "lang:en"]
    parse(" ".join(kinds[i % 4] for i in range(MAX_TERMS)))
    query = " ".join(kinds[i % 4] for i in range(MAX_TERMS + 1))
    with pytest.raises(QuerySyntaxError) as caught:
        parse(query)
    assert caught.value.position == query.rindex(kinds[MAX_TERMS % 4])
    assert caught.value.message == "Too many terms: a query may have at most 200"


# Canonical form and structure.

CANONICAL = [
    ("Acme   outage", "acme AND outage"),
    ("acme OR globex outage", "acme OR globex AND outage"),
    ("(acme OR globex) outage", "(acme OR globex) AND outage"),
    ("a (b (c d))", "a AND b AND c AND d"),
    ("a OR (b OR (c OR d))", "a OR b OR c OR d"),
    ("-acme down", "NOT acme AND down"),
    ("down -(acme OR globex)", "down AND NOT (acme OR globex)"),
    ("down NOT (acme NEAR/3 outage)", "down AND NOT acme NEAR/3 outage"),
    ('(acme OR "Acme  Cloud!") NEAR/3 (outag*)', '(acme OR "acme cloud") NEAR/3 outag*'),
    ('"acme"', "acme"),
    ('"AND" acme', '"and" AND acme'),
    ("#Acme @Acme_Support", "#acme AND @acme_support"),
    (
        'Author:@Jo lang:EN source:"Status   Page" SOURCE:rss',
        'author:jo AND lang:en AND source:"status page" AND source:rss',
    ),
]


@pytest.mark.parametrize(("query", "canonical"), CANONICAL, ids=[c[0] for c in CANONICAL])
def test_canonical_form_round_trips(query: str, canonical: str) -> None:
    parsed = parse(query)
    assert str(parsed) == canonical
    assert parse(canonical) == parsed


def test_equal_queries_compare_equal_and_different_ones_do_not() -> None:
    assert parse("acme -jobs") == parse("acme AND NOT jobs") == parse("(ACME) AND (NOT (jobs))")
    assert parse("acme NEAR/2 down") != parse("acme NEAR/3 down")
    assert parse("acme down") != parse("acme OR down")


def test_terms_are_what_the_query_looks_for() -> None:
    query = parse('(acme OR "Acme Cloud" OR acme) NEAR/3 outag* -jobs -(NOT down) lang:en')
    assert query.terms == (Term("acme"), Phrase(("acme", "cloud")), Prefix("outag"), Term("down"))


def test_a_query_is_evaluated_against_many_documents_and_many_queries_against_one() -> None:
    docs = [Document.of(text=t) for t in ["acme down", "globex down", "acme up"]]
    queries = [parse(q) for q in ["acme", "down", "globex -down"]]
    assert [[q.matches(d) for q in queries] for d in docs] == [
        [True, True, False],
        [False, True, False],
        [True, False, False],
    ]


# Tokenization.


def test_tokens_of_mixed_text() -> None:
    text = (
        "RT @Acme_Support: #Outage at Acme's Zürich DC!! 🔥🔥 https://status.acme.com/x#y?u=@z bob@acme.com"
    )
    assert tokenize(text) == [
        "rt",
        "@acme_support",
        "#outage",
        "at",
        "acme",
        "s",
        "zurich",
        "dc",
        "status",
        "acme",
        "com",
        "x",
        "y",
        "u",
        "z",
        "bob",
        "acme",
        "com",
    ]


def test_cjk_is_one_token_per_character_and_hangul_one_per_run() -> None:
    assert tokenize("阿克米公司 の障害 에이크미 장애") == [
        "阿",
        "克",
        "米",
        "公",
        "司",
        "の",
        "障",
        "害",
        "에이크미",
        "장애",
    ]


def test_indic_and_persian_words_stay_whole() -> None:
    assert tokenize("हिंदी भाषा") == ["हिंदी", "भाषा"]
    persian = (
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"  # "I want", joined by a zero-width non-joiner
    )
    assert tokenize(persian) == [persian]


def test_hostile_texts_are_handled() -> None:
    assert tokenize("a\x00b\x00\x00c") == ["a", "b", "c"]
    assert tokenize("\ud800acme\udfff") == ["acme"]  # lone surrogates, as broken JSON can carry
    assert tokenize("\u0301\ufe0f acme") == ["acme"]  # marks with nothing to attach to
    assert tokenize("") == []


def test_long_texts_are_indexed_up_to_the_limit() -> None:
    query = parse("acme")
    assert query.matches(Document.of(text="x" * (MAX_TEXT_LENGTH - 5) + " acme"))
    assert not query.matches(Document.of(text="x" * (MAX_TEXT_LENGTH - 4) + " acme"))


def test_document_normalizes_its_metadata() -> None:
    d = Document.of(
        text="x", author_handle=" @Jo ", lang="pt_BR", source_name=" Status\tPage ", source_kind="RSS"
    )
    assert (d.author_handle, d.lang, d.source_name, d.source_kind) == ("jo", "pt", "status page", "rss")


def test_hashtags_are_indexed_as_words_too_and_mentions_are_not() -> None:
    d = Document.of(text="#acme @globex")
    assert dict(d.index) == {"#acme": [0], "acme": [0], "@globex": [1]}
    assert list(d.keys) == ["#acme", "@globex", "acme"]


def test_the_table_covers_every_kind_of_node() -> None:
    from listening.querylang import nodes

    seen: set[type] = set()

    def walk(node: nodes.Node) -> None:
        seen.add(type(node))
        match node:
            case nodes.Not():
                walk(node.child)
            case nodes.And() | nodes.Or():
                for child in node.children:
                    walk(child)
            case nodes.Near():
                for leaf in (*node.left, *node.right):
                    walk(leaf)

    for query, _, _ in CASES:
        walk(parse(query).root)
    assert seen == {
        nodes.Term,
        nodes.Phrase,
        nodes.Prefix,
        nodes.Near,
        nodes.Field,
        nodes.Not,
        nodes.And,
        nodes.Or,
    }
