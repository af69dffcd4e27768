"""The topic core on plain arrays: clusters, names, near-duplicate collapse, identity across runs,
growth; and once with the real embedder on real sentences of two themes."""

from __future__ import annotations

import numpy as np
import pytest

from listening.nlp import topics

FILLER = ["today", "really", "just", "people", "think", "guys", "morning", "team", "users", "again", "week"]
THEMES = {
    "outage": ["login", "outage", "status page"],
    "pricing": ["pricing", "invoice", "renewal"],
    "keynote": ["keynote", "conference", "launch"],
}


def theme_texts(words: list[str], count: int, rng: np.random.Generator) -> list[str]:
    texts = []
    for i in range(count):
        picked = rng.choice(FILLER, size=3, replace=False)
        texts.append(f"{words[i % 3]} {words[(i + 1) % 3]} {picked[0]} {picked[1]} {picked[2]} #{i}")
    return texts


def constructed(
    rng: np.random.Generator, centers: dict[str, np.ndarray], per_theme: int = 30, noise: int = 30
):
    vectors, texts, themes = [], [], []
    for name, center in centers.items():
        vectors.extend(center + rng.normal(scale=0.035, size=(per_theme, 384)))
        texts.extend(theme_texts(THEMES[name], per_theme, rng))
        themes.extend([name] * per_theme)
    # Chatter: each post about something of its own.
    vectors.extend(topics.unit(rng.normal(size=(noise, 384))))
    texts.extend(f"{' '.join(rng.choice(FILLER, size=4))} misc{i}" for i in range(noise))
    themes.extend([""] * noise)
    return np.array(vectors, dtype=np.float32), texts, themes


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


@pytest.fixture
def centers(rng) -> dict[str, np.ndarray]:
    return dict(zip(THEMES, topics.unit(rng.normal(size=(3, 384))), strict=True))


def test_each_theme_is_one_cluster_named_by_its_distinctive_terms(rng, centers):
    vectors, texts, themes = constructed(rng, centers)
    found = topics.find_topics(vectors=vectors, texts=texts, groups=[None] * len(texts))
    assert len(found) == 3
    for cluster in found:
        members = {themes[i] for i in cluster.members}
        assert len(members) == 1 and "" not in members  # pure, and chatter stays out
        (theme,) = members
        assert len(cluster.members) == 30
        # The theme's own words name it, before any filler word shared with the other themes.
        assert set(" ".join(cluster.terms[:3]).split()) <= {w for t in THEMES[theme] for w in t.split()}
        assert float(cluster.centroid @ centers[theme]) > 0.95
        assert cluster.label == " · ".join(cluster.terms[:3])


def test_copies_of_one_post_collapse_into_one_voice(rng, centers):
    vectors, texts, _ = constructed(rng, {"outage": centers["outage"]}, per_theme=20)
    viral = topics.unit(rng.normal(size=384))
    copies = viral + rng.normal(scale=0.01, size=(60, 384))
    all_vectors = np.vstack([vectors, copies]).astype(np.float32)
    all_texts = texts + ["Everyone go read this pricing thread now"] * 60
    # Without stories, 60 copies of one post look like the biggest topic of the window...
    naive = topics.find_topics(vectors=all_vectors, texts=all_texts, groups=[None] * len(all_texts))
    assert len(naive) == 2 and len(naive[0].members) == 60
    # ...as one story they are one voice, too few for a topic; the real theme remains.
    groups = [None] * len(texts) + [99] * 60
    found = topics.find_topics(vectors=all_vectors, texts=all_texts, groups=groups)
    assert len(found) == 1 and len(found[0].members) == 20
    assert "login" in " ".join(found[0].terms)


def test_a_clustered_story_brings_all_its_copies(rng, centers):
    vectors, texts, _ = constructed(rng, {"outage": centers["outage"]}, per_theme=20, noise=20)
    groups: list[int | None] = list(range(len(texts)))
    copy = np.vstack([vectors, vectors[:1]]).astype(np.float32)
    found = topics.find_topics(vectors=copy, texts=[*texts, texts[0]], groups=[*groups, 0])
    assert len(found) == 1 and len(found[0].members) == 21  # the copy counts in the volume


def test_too_little_or_only_chatter_finds_nothing(rng):
    chatter = topics.unit(rng.normal(size=(60, 384)))
    texts = [f"misc {i}" for i in range(60)]
    assert topics.find_topics(vectors=chatter, texts=texts, groups=[None] * 60) == []
    assert topics.find_topics(vectors=chatter[:5], texts=texts[:5], groups=[None] * 5) == []


def test_names_skip_stop_words_of_the_main_languages_and_prefer_a_bigram_to_its_words():
    documents = [
        "the status page is down again and the status page says nothing",
        "die Rechnung ist falsch, die Rechnung kam zweimal und der Support antwortet nicht",
        "la facture est fausse, encore une facture en double pour nous",
        "chatter about nothing in particular, nothing at all",
    ]
    names = topics.distinctive_terms(documents)
    assert names[0][0] == "status page" and "status" not in names[0] and "page" not in names[0]
    assert names[1] == ["rechnung"] and names[2] == ["facture"]
    for name in names:
        assert not {"die", "der", "the", "la", "est", "und", "is"} & set(name)


def test_names_ignore_links_handles_and_words_said_once():
    documents = ["@acme https://t.co/x1 refund refund please @acme https://t.co/x2", "hello world"]
    assert topics.distinctive_terms(documents) == [["refund"], []]


def test_a_shifted_topic_keeps_its_id_a_new_theme_does_not_and_a_vanished_one_is_left(rng, centers):
    known = np.stack([centers["outage"], centers["pricing"]])
    shifted = topics.unit(centers["outage"] + 0.35 * topics.unit(rng.normal(size=384)))
    assert 0.85 < float(shifted @ centers["outage"]) < 0.97  # its mentions shifted a bit
    matching = topics.match_topics(
        known_centroids=known,
        known_terms=[["login", "outage"], ["pricing", "invoice"]],
        centroids=np.stack([centers["keynote"], shifted]),
        terms=[["keynote", "launch"], ["outage", "status page"]],
    )
    assert matching.matched == {1: 0}
    assert matching.split_from == {} and matching.merged_into == {}


def test_term_overlap_rescues_a_topic_whose_centroid_moved_more(rng, centers):
    moved = topics.unit(centers["outage"] + 1.0 * topics.unit(rng.normal(size=384)))
    cosine = float(moved @ centers["outage"])
    assert topics.MATCH_SIMILARITY_WITH_TERMS <= cosine < topics.MATCH_SIMILARITY
    same = topics.match_topics(
        known_centroids=[centers["outage"]],
        known_terms=[["login", "outage", "status page"]],
        centroids=[moved],
        terms=[["outage", "login", "sso"]],
    )
    other = topics.match_topics(
        known_centroids=[centers["outage"]],
        known_terms=[["login", "outage", "status page"]],
        centroids=[moved],
        terms=[["webinar", "recording"]],
    )
    assert same.matched == {0: 0} and other.matched == {}


def test_split_keeps_the_id_on_the_closer_half_and_merge_absorbs_the_other_topic(rng, centers):
    base = centers["outage"]
    halves = topics.unit(np.stack([base + 0.3 * centers["pricing"], base + 0.45 * centers["keynote"]]))
    split = topics.match_topics(
        known_centroids=[base], known_terms=[["outage"]], centroids=halves, terms=[["outage"], ["outage"]]
    )
    assert split.matched == {0: 0} and split.split_from == {1: 0}

    merged = topics.match_topics(
        known_centroids=halves, known_terms=[["outage"], ["outage"]], centroids=[base], terms=[["outage"]]
    )
    assert merged.matched == {0: 0} and merged.merged_into == {1: 0}


def test_matching_is_one_to_one_and_globally_best(centers):
    a, b = centers["outage"], centers["pricing"]
    near_a = topics.unit(a + 0.1 * b)
    near_both = topics.unit(a + 0.5 * b)
    # Greedy would give near_both to a (its best), leaving near_a without a match.
    matching = topics.match_topics(
        known_centroids=[a, b], known_terms=[[], []], centroids=[near_both, near_a], terms=[[], []]
    )
    assert matching.matched in ({0: 1, 1: 0}, {1: 0})
    assert matching.matched[1] == 0


@pytest.mark.parametrize(
    ("volume", "previous", "expected"),
    [(30, 20, 0.5), (10, 20, -0.5), (0, 20, -1.0), (3, 0, 0.6), (12, 2, 2.0), (0, 0, 0.0)],
)
def test_growth_is_relative_to_the_previous_window_with_a_floor(volume, previous, expected):
    assert topics.growth(volume=volume, previous_volume=previous) == pytest.approx(expected)


def test_nearest_leaves_far_vectors_unassigned(centers):
    vectors = np.stack([centers["outage"], centers["keynote"]])
    labels, sims = topics.nearest(vectors=vectors, centroids=np.stack([centers["outage"]]))
    assert labels.tolist() == [0, -1] and sims[0] == pytest.approx(1.0)


OUTAGE = [
    "Acme Cloud is down again, cannot log in to anything",
    "Is Acme login broken for everyone or just me?",
    "Acme SSO outage is blocking our whole engineering team",
    "Still no access to the Acme dashboard, login keeps failing",
    "Acme status page says all green but login is clearly down",
    "Our company cannot sign in to Acme since this morning",
    "Acme authentication errors everywhere, 502 on the login page",
    "Login to Acme Cloud times out, third time this week",
    "The Acme outage has lasted two hours now, no update on login",
    "Can't sign into Acme, password reset fails too",
    "Acme single sign-on is down, whole office locked out",
    "Anyone else getting login errors on Acme right now?",
    "Acme cloud console unreachable, authentication service failing",
    "Acme login outage again, please fix your auth servers",
    "Locked out of Acme for an hour, the login page just spins",
    "Acme's sign-in is broken and support is silent",
    "Login failures on Acme Cloud across all our accounts",
    "Acme is down: users cannot authenticate since 9am",
    "Acme SSO failing with an internal server error on login",
    "Another Acme authentication outage, our team can't log in",
]
PRICING = [
    "Acme just raised its prices by 40 percent, unbelievable",
    "The new Acme pricing makes the starter plan useless",
    "Acme renewal invoice doubled without any warning",
    "Acme subscription is getting way too expensive for small teams",
    "Why did Acme increase the price of the pro plan again?",
    "Our Acme invoice this month is twice what we budgeted",
    "Acme's new per-seat pricing is a money grab",
    "Cancelling Acme, the price hike is too much for us",
    "Acme charges extra for features that used to be free",
    "The Acme license cost went up again at renewal",
    "Acme billing changed and now we pay double",
    "Comparing alternatives because Acme got too pricey",
    "Acme price increase announced, small businesses hit hardest",
    "Acme wants 30 percent more at our contract renewal",
    "Acme's enterprise plan price is outrageous now",
    "Got the Acme invoice, the new pricing is brutal",
    "Acme quietly removed the cheap plan and raised prices",
    "Paying more for Acme every year for the same product",
    "Acme pricing update: every tier costs more now",
    "Finance is asking why our Acme bill went up so much",
]
CHATTER = [
    "Nice weather for a walk in the park today",
    "Just finished a great book about sailing",
    "Coffee tastes better on a Friday",
    "Heading to the Acme meetup in Berlin next month",
    "Acme's new logo looks a bit like a fish",
    "Interviewing at Acme tomorrow, wish me luck",
    "Our intern built a tiny bot on top of Acme over the weekend",
    "Acme sponsors the local football club now",
]


def test_real_sentences_of_two_themes_make_two_named_topics_that_keep_their_ids():
    from listening.nlp import embedder

    texts = OUTAGE + PRICING + CHATTER
    vectors = embedder.encode(texts)
    found = topics.find_topics(vectors=vectors, texts=texts, groups=[None] * len(texts), min_cluster_size=5)
    assert len(found) == 2
    themes = [{("o" if i < 20 else "p" if i < 40 else "c") for i in cluster.members} for cluster in found]
    assert sorted(map(sorted, themes)) == [["o"], ["p"]]
    outage, pricing = (found[0], found[1]) if 0 in found[0].members else (found[1], found[0])
    assert {"login", "outage"} & set(outage.terms[:4]), outage.terms
    assert {"price", "pricing", "invoice", "renewal"} & set(pricing.terms[:4]), pricing.terms
    assert "acme" not in outage.terms[:2]  # said in both themes: not what distinguishes either

    # The next run sees other people saying the same things: the topics keep their ids.
    later = embedder.encode(OUTAGE[::2] + PRICING[1::2] + CHATTER)
    again = topics.find_topics(
        vectors=later,
        texts=OUTAGE[::2] + PRICING[1::2] + CHATTER,
        groups=[None] * len(later),
        min_cluster_size=4,
    )
    matching = topics.match_topics(
        known_centroids=[outage.centroid, pricing.centroid],
        known_terms=[outage.terms, pricing.terms],
        centroids=[c.centroid for c in again],
        terms=[c.terms for c in again],
    )
    assert len(again) == 2 and sorted(matching.matched.values()) == [0, 1]
    first = again[0].members[0]
    assert matching.matched[0] == (0 if first < 10 else 1)
