"""Scenario classification on written examples: each scenario in English (keywords and prototypes
together), German, French and Spanish (the keywords carry those), and ambiguous or off-topic texts
that must come back "unclear" rather than a confident guess."""

from __future__ import annotations

import pytest

from crisis.scenarios import CONFIDENCE_MIN, UNCLEAR, Scenario, scenario_classify

EXAMPLES: list[tuple[str, Scenario]] = [
    (
        "Since 09:40 UTC customers cannot log in to the dashboard and the API returns 503 errors.",
        Scenario.SERVICE_OUTAGE,
    ),
    (
        "Seit heute Morgen ist unser Portal nicht erreichbar, Kunden melden eine Störung.",
        Scenario.SERVICE_OUTAGE,
    ),
    (
        "A hacker forum is selling 2 million customer records with emails and passwords from our database.",
        Scenario.DATA_BREACH,
    ),
    ("Fuite de données : les données personnelles de nos clients ont été publiées.", Scenario.DATA_BREACH),
    ("Ransomware encrypted our file servers overnight; the attackers demand payment.", Scenario.CYBERATTACK),
    ("Wir sind Ziel eines Cyberangriffs geworden, mehrere Systeme sind abgeschaltet.", Scenario.CYBERATTACK),
    (
        "The 4.2 firmware update bricked thousands of routers; users say the devices will not boot.",
        Scenario.PRODUCT_DEFECT,
    ),
    ("Customers say the new release makes the invoices show the wrong totals.", Scenario.PRODUCT_DEFECT),
    (
        "A researcher published CVE-2026-1234, a remote code execution flaw in our VPN appliance.",
        Scenario.VULNERABILITY_DISCLOSURE,
    ),
    (
        "Une faille de sécurité critique a été découverte dans notre application.",
        Scenario.VULNERABILITY_DISCLOSURE,
    ),
    (
        "Former employees accuse the CEO of harassment; the board has opened an investigation.",
        Scenario.EXECUTIVE_MISCONDUCT,
    ),
    ("Der Vorstandschef soll Gelder veruntreut haben.", Scenario.EXECUTIVE_MISCONDUCT),
    ("The company is laying off 1,200 employees, 15% of its workforce.", Scenario.LAYOFFS),
    ("Despidos masivos: la empresa anuncia un ERE que afecta a 300 empleados.", Scenario.LAYOFFS),
    (
        "A hurricane flooded our Houston data center; services in the US South region are offline.",
        Scenario.NATURAL_DISASTER,
    ),
    ("Un huracán ha inundado nuestro centro de datos en Miami.", Scenario.NATURAL_DISASTER),
]
AMBIGUOUS = [
    "Lots of people are talking about our company today.",
    "Our stock dropped 5% after the earnings call.",
    "Our CTO tweeted something awful about women engineers last night.",
    "Things are weird today.",
    "",
]


@pytest.mark.parametrize(("text", "expected"), EXAMPLES)
def test_keywords_alone_classify_every_example(text: str, expected: Scenario) -> None:
    result = scenario_classify(text, use_embeddings=False)
    assert result.scenario == expected.value, result.ranking[:2]
    assert result.confidence >= CONFIDENCE_MIN
    # The evidence is the matched words, with offsets into the text.
    assert result.evidence
    assert all(text[hit.start : hit.end] == hit.term for hit in result.evidence)


@pytest.mark.embedder
def test_keywords_and_prototypes_together() -> None:
    for text, expected in EXAMPLES:
        result = scenario_classify(text)
        assert result.scenario == expected.value, (text, result.ranking[:2])
    # Vague English that no keyword names outright: the prototypes decide.
    result = scenario_classify("The earthquake knocked out power to our Tokyo region.")
    assert result.scenario == Scenario.NATURAL_DISASTER
    assert result.ranking[0].similarity > 0.5
    for text in AMBIGUOUS:
        result = scenario_classify(text)
        assert result.scenario == UNCLEAR, (text, result.ranking[:2])


@pytest.mark.parametrize("text", AMBIGUOUS)
def test_ambiguous_texts_are_unclear_on_keywords(text: str) -> None:
    result = scenario_classify(text, use_embeddings=False)
    assert result.scenario == UNCLEAR
    assert len(result.ranking) == len(Scenario)


def test_two_scenarios_at_once_is_unclear_when_neither_leads() -> None:
    # Equal evidence for a breach and an attack: the people deciding should choose.
    result = scenario_classify("Ransomware attack and data breach.", use_embeddings=False)
    assert result.scenario == UNCLEAR
    assert {result.ranking[0].scenario, result.ranking[1].scenario} == {"cyberattack", "data_breach"}
    assert result.confidence == pytest.approx(result.ranking[0].score, abs=1e-4)


def test_a_clear_winner_among_several_signals() -> None:
    text = "Hackers encrypted our servers with ransomware; the platform is down for everyone."
    result = scenario_classify(text, use_embeddings=False)
    assert result.scenario == Scenario.CYBERATTACK
    assert result.ranking[1].scenario == Scenario.SERVICE_OUTAGE
