"""Question and complaint rules on written examples (several languages), the verified/press flag,
the reasons, and the priority score's ordering. Pure functions: no database."""

from __future__ import annotations

import pytest

from listening.nlp.needs_reply import (
    Post,
    Reason,
    Thresholds,
    base_priority,
    is_complaint,
    is_question,
    is_verified_or_press,
    reasons_for,
)

QUESTIONS = [
    ("en", "@AcmeCloud how do I export my invoices? Can't find it anywhere"),
    ("en", "Is Acme down for anyone else?? #outage"),
    ("en", "Does anyone know if Acme supports SSO with Okta"),
    ("en", "@acme any idea when the EU region comes back 🙏"),
    ("en", "wait, acme raised prices again?"),
    ("en", "@acme can you help, my account is locked"),
    ("de", "Weiß jemand, ob Acme auch in Österreich hostet"),
    ("de", "@acme_de Wann kommt das Update für die App?"),
    ("de", "Kann mir jemand bei der Acme Rechnung helfen"),
    ("fr", "Quelqu'un sait si Acme fonctionne avec Outlook"),
    ("fr", "@acme_fr pourquoi ma facture a doublé ?"),
    ("es", "¿Alguien más tiene problemas con Acme hoy"),
    ("es", "Alguien sabe cómo cancelar la suscripción de Acme"),
    ("es", "@acme_es necesito ayuda con mi cuenta"),
]

NOT_QUESTIONS = [
    ("en", "Acme's new dashboard is live https://acme.example/launch?utm_source=twitter"),
    ("en", "RT @bob: is this the best cloud? Acme says yes. Loving it"),
    ("en", "What a day at the Acme conference, great talks!"),
    ("en", "Shipped our first app on Acme today"),
    ("en", "Jas will come over and help me get ready for the Acme certification"),
    ("de", "Wie schön, dass Acme jetzt in Frankfurt hostet"),
    ("fr", "Comment Acme a changé notre façon de travailler: un retour d'expérience"),
    ("es", "Qué buena la nueva versión de Acme"),
]

COMPLAINTS = [
    ("en", "Acme login is not working since this morning", ""),
    ("en", "@acme still waiting for my refund, three weeks now", ""),
    ("en", "Acme support is the worst, never again", "negative"),
    ("en", "charged twice by @acme this month. Fix it.", "neutral"),
    ("de", "Acme funktioniert schon wieder nicht. Kundenservice antwortet nicht", "negative"),
    ("de", "Total enttäuscht von Acme", "negative"),
    ("de", "Störung bei Acme seit 2 Stunden", "neutral"),
    ("fr", "Acme ne marche pas depuis hier soir", "negative"),
    ("fr", "Très déçu par le service client d'Acme", "negative"),
    ("fr", "Acme en panne, toujours aucune réponse du support", ""),
    ("es", "Acme no funciona desde esta mañana", "negative"),
    ("es", "Pésimo servicio de Acme, quiero un reembolso", "negative"),
    ("es", "sigo esperando respuesta de @acme_es", ""),
]

NOT_COMPLAINTS = [
    ("en", "Acme support fixed my issue in 5 minutes, great work", "positive"),
    ("en", "The worst part of the keynote? It ended. Loved it", "positive"),
    ("en", "Listening to Broken Social Scene while deploying on Acme", "neutral"),
    ("en", "This film was terrible, at least the Acme ad was fun", "neutral"),
    ("de", "Acme hat die Störung schnell behoben, danke!", "positive"),
    ("fr", "Nouvelle fonctionnalité chez Acme, pas mal du tout", "neutral"),
    ("es", "Acme funciona perfecto con mi equipo", "positive"),
]


@pytest.mark.parametrize(("lang", "text"), QUESTIONS)
def test_questions_are_recognised(lang, text):
    assert is_question(text, lang)


@pytest.mark.parametrize(("lang", "text"), NOT_QUESTIONS)
def test_statements_links_and_quoted_retweets_are_not_questions(lang, text):
    assert not is_question(text, lang)


@pytest.mark.parametrize(("lang", "text", "sentiment"), COMPLAINTS)
def test_complaints_are_recognised(lang, text, sentiment):
    assert is_complaint(text, lang, sentiment)


@pytest.mark.parametrize(("lang", "text", "sentiment"), NOT_COMPLAINTS)
def test_praise_and_passing_negative_words_are_not_complaints(lang, text, sentiment):
    assert not is_complaint(text, lang, sentiment)


def test_dissatisfaction_words_need_a_negative_reading_but_failures_do_not():
    assert not is_complaint("Acme is the worst", "en", "neutral")
    assert is_complaint("Acme is the worst", "en", "negative")
    assert is_complaint("Acme is down again", "en", "neutral")


def test_an_unknown_language_is_read_with_every_rule_set():
    assert is_complaint("Acme ne fonctionne pas", "", "")
    assert is_question("weiß jemand was mit Acme los ist", "xx")


def test_whole_words_only():
    assert not is_complaint("null pointer? nullable columns in Acme's ORM", "fr", "neutral")
    assert not is_question("the ?lang=de parameter of Acme's API", "en")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"verified": True}, True),
        ({"user": {"verified": True, "followers_count": 10}}, True),
        ({"author": {"is_verified": True}}, True),
        ({"account": {"account_type": "Press"}}, True),
        ({"verified_type": "news_media"}, True),
        ({"verified": "true"}, False),  # only a real boolean counts: a string may be anything
        ({"user": {"verified": False}}, False),
        ({}, False),
    ],
)
def test_verified_or_press_from_the_raw_record(raw, expected):
    assert is_verified_or_press(raw) is expected


def _post(text="Acme shipped v2", sentiment="neutral", score=0.8, followers=100, raw=None, lang="en"):
    return Post(
        text=text, lang=lang, sentiment=sentiment, sentiment_score=score, followers=followers, raw=raw or {}
    )


def test_reasons_follow_the_thresholds():
    thresholds = Thresholds(high_reach_followers=5_000, negative_min_score=0.7)
    assert reasons_for(_post(), thresholds) == []
    assert reasons_for(_post(followers=5_000), thresholds) == [Reason.HIGH_REACH]
    assert reasons_for(_post(sentiment="negative", score=0.69), thresholds) == []
    assert reasons_for(_post(sentiment="negative", score=0.7), thresholds) == [Reason.NEGATIVE]
    both = _post(text="Acme is not working, anyone else?", sentiment="negative", score=0.9)
    assert reasons_for(both, thresholds) == [Reason.QUESTION, Reason.COMPLAINT, Reason.NEGATIVE]
    # A verified account raises the priority of a post that needs an answer; alone it is no reason.
    assert reasons_for(_post(raw={"verified": True}), thresholds) == []
    assert reasons_for(_post(text="Is Acme down?", raw={"verified": True}), thresholds) == [
        Reason.QUESTION,
        Reason.VERIFIED,
    ]


def _priority(post):
    return base_priority(post, reasons_for(post, Thresholds()))


def test_priority_orders_what_matters_most_first():
    press_complaint = _post(
        "Acme is down for all EU customers?", "negative", 0.95, 250_000, {"verified": True}
    )
    big_complaint = _post("Acme is down for all EU customers", "negative", 0.95, 250_000)
    small_complaint = _post("Acme is down for all EU customers", "negative", 0.95, 40)
    small_question = _post("How do I export from Acme?", "neutral", 0.8, 40)
    small_negative = _post("meh, Acme again", "negative", 0.65, 40)
    ranked = [press_complaint, big_complaint, small_complaint, small_question, small_negative]
    scores = [_priority(p) for p in ranked]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) == len(scores)
    assert scores[-1] > 0 and scores[0] <= 100


def test_reach_is_log_scaled_and_capped():
    one_k, ten_k, hundred_k = (
        _priority(_post("Is Acme down?", followers=n)) for n in (1_000, 10_000, 100_000)
    )
    assert ten_k - one_k == pytest.approx(hundred_k - ten_k, abs=0.01)
    assert _priority(_post("Is Acme down?", followers=10**9)) == _priority(
        _post("Is Acme down?", followers=10**6)
    )
    assert _priority(_post("Is Acme down?", followers=None)) == _priority(_post("Is Acme down?", followers=0))
