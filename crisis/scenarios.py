"""Which crisis scenario an alert's evidence or an incident description describes.

Two signals, combined:

- keyword rules per language (English, German, French, Spanish): each scenario has terms with a
  weight (a term that names the scenario outright, "ransomware", "Datenleck", weighs more than one
  that only hints, "slow"); a scenario's keyword score is 1 - exp(-sum of its matched weights);
- embedding similarity (all-MiniLM-L6-v2, `listening.nlp.embedder`) of the text to the prototype
  descriptions below, the best cosine per scenario, turned into a distribution by a softmax.

MiniLM was trained on English, so on German, French or Spanish text the keywords carry the answer;
on English text described in words the keyword lists do not hold, the prototypes do. The answer is
"unclear" when the best combined score is under CONFIDENCE_MIN or too close to the second
(MARGIN_MIN): the people deciding should choose then, not the classifier.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from enum import StrEnum

import numpy as np


class Scenario(StrEnum):
    SERVICE_OUTAGE = "service_outage"
    DATA_BREACH = "data_breach"
    CYBERATTACK = "cyberattack"
    PRODUCT_DEFECT = "product_defect"
    VULNERABILITY_DISCLOSURE = "vulnerability_disclosure"
    EXECUTIVE_MISCONDUCT = "executive_misconduct"
    LAYOFFS = "layoffs"
    NATURAL_DISASTER = "natural_disaster"


UNCLEAR = "unclear"
# Of the combined score, when the text is close to some prototype; the embedding has the rest.
KEYWORD_WEIGHT = 0.6
SOFTMAX_TEMPERATURE = 0.05  # cosines of MiniLM differ by a few hundredths between close topics
CONFIDENCE_MIN = 0.35
MARGIN_MIN = 0.08

# Weighted terms per scenario, each a regular expression (case-insensitive, word-bounded).
# 3: names the scenario outright; 2: strongly suggests it; 1: a hint shared with other scenarios.
KEYWORDS: dict[Scenario, tuple[tuple[str, float], ...]] = {
    Scenario.SERVICE_OUTAGE: (
        (r"outages?", 3), (r"(?:is|are|went|goes)\s+down", 2), (r"down\s+for\s+everyone", 3), (r"downtime", 3),
        (r"unavailable", 2), (r"(?:can'?t|cannot|unable\s+to)\s+(?:log\s*in|sign\s+in|connect|access|load)", 2),
        (r"(?:5\d\d|503|502|504)\s+errors?", 2), (r"status\s+page", 1), (r"degraded\s+performance", 2),
        (r"(?:not\s+loading|timeouts?|timing\s+out)", 1), (r"(?:throwing|returns?|returning)\s+errors", 2), (r"service\s+(?:disruption|interruption)", 3),
        (r"Ausfall", 3), (r"Störung", 3), (r"nicht\s+erreichbar", 3), (r"funktioniert\s+nicht", 2),
        (r"panne", 3), (r"indisponible", 3), (r"hors\s+service", 3), (r"ne\s+fonctionne\s+(?:plus|pas)", 2),
        (r"caída", 3), (r"no\s+funciona", 2), (r"fuera\s+de\s+servicio", 3), (r"interrupción\s+del\s+servicio", 3),
        (r"sin\s+servicio", 2),
    ),
    Scenario.DATA_BREACH: (
        (r"data\s+breach", 3), (r"breach(?:ed)?", 2), (r"leak(?:ed)?", 2), (r"exposed\s+(?:data|records|emails|passwords|customer)", 3),
        (r"(?:personal|customer|user)\s+(?:data|information|records)", 1), (r"stolen\s+(?:data|credentials|records|passwords)", 3),
        (r"records\s+(?:were\s+)?(?:exposed|stolen|leaked)", 3), (r"dump(?:ed)?\s+(?:on|online)", 2),
        (r"(?:unsecured|open|misconfigured)\s+(?:s3\s+)?(?:bucket|database|elasticsearch)", 3), (r"GDPR", 1),
        (r"(?:customer|user|patient)\s+records", 2), (r"(?:passwords|credentials|records)", 1), (r"(?:selling|for\s+sale)", 1),
        (r"(?:have\s*i\s*been\s*pwned|hibp)", 3), (r"credit\s+card\s+(?:numbers|data)", 2),
        (r"Datenleck\w*", 3), (r"Datenpanne\w*", 3), (r"Kundendaten", 2), (r"Datenschutzverletzung", 3),
        (r"fuite\s+de\s+données", 3), (r"données\s+(?:personnelles|clients)", 2), (r"violation\s+de\s+données", 3),
        (r"filtración\s+de\s+datos", 3), (r"brecha\s+de\s+datos", 3), (r"datos\s+(?:personales|de\s+clientes)", 2),
    ),
    Scenario.CYBERATTACK: (
        (r"cyber\s*-?attacks?", 3), (r"ransomware", 3), (r"ddos", 3), (r"denial[- ]of[- ]service", 3), (r"hack(?:ed|ers?)", 2),
        (r"attackers?", 2), (r"malware", 3), (r"intrusion", 2), (r"phishing", 2), (r"encrypted\s+(?:our|their)\s+(?:files|systems|servers)", 3),
        (r"ransom", 2), (r"threat\s+actors?", 3), (r"compromised", 1), (r"botnet", 2), (r"lockbit|conti|revil|blackcat", 3),
        (r"Cyberangriff\w*", 3), (r"Hackerangriff\w*", 3), (r"Angriff\w*", 2), (r"Erpressungstrojaner", 3),
        (r"cyberattaque", 3), (r"attaque\s+informatique", 3), (r"piratage", 3), (r"pirates?\s+informatiques?", 3), (r"rançongiciel", 3),
        (r"ciberataque", 3), (r"ataque\s+informático", 3), (r"hackeo", 3), (r"secuestro\s+de\s+datos", 3),
    ),
    Scenario.PRODUCT_DEFECT: (
        (r"(?:product\s+)?defects?", 3), (r"recall(?:ed|s)?", 3), (r"faulty", 3), (r"bug\s+(?:in|that|caused|causes)", 2), (r"bugs?", 1),
        (r"(?:update|firmware|release|patch)\s+(?:bricked|broke|corrupted|deleted|wiped)", 3), (r"bricked", 3),
        (r"data\s+loss", 2), (r"(?:overheat(?:ing|s)?|battery\s+(?:fire|swelling)|caught\s+fire)", 3), (r"crash(?:es|ing)?", 1),
        (r"(?:wrong|incorrect)\s+(?:invoices?|calculations?|results|charges|totals|amounts|prices)", 2), (r"regression", 2), (r"malfunction\w*", 2),
        (r"Produktfehler", 3), (r"Rückruf", 3), (r"fehlerhaft", 3), (r"Softwarefehler", 2), (r"défaut\s+de\s+(?:fabrication|produit)", 3), (r"rappel", 2),
        (r"défectueux", 3), (r"bogue", 2), (r"defecto", 3), (r"defectuoso", 3), (r"retirada\s+del\s+mercado", 3), (r"fallo\s+de\s+software", 2),
    ),
    Scenario.VULNERABILITY_DISCLOSURE: (
        (r"vulnerabilit(?:y|ies)", 3), (r"CVE-\d{4}-\d+", 3), (r"zero[- ]day", 3), (r"0day", 3), (r"security\s+(?:flaw|hole|bug|researcher|advisory)", 3),
        (r"(?:responsible|coordinated)\s+disclosure", 3), (r"proof[- ]of[- ]concept|\bPoC\b", 2), (r"remote\s+code\s+execution|\bRCE\b", 3),
        (r"(?:privilege\s+escalation|sql\s+injection|xss|authentication\s+bypass)", 3), (r"bug\s+bounty", 2), (r"patch(?:ed|es)?", 1), (r"exploit(?:able|ed|s)?", 2),
        (r"Sicherheitslücke", 3), (r"Schwachstelle", 3), (r"faille\s+de\s+sécurité", 3), (r"vulnérabilité", 3),
        (r"vulnerabilidad", 3), (r"fallo\s+de\s+seguridad", 3), (r"agujero\s+de\s+seguridad", 3),
    ),
    Scenario.EXECUTIVE_MISCONDUCT: (
        (r"\b(?:CEO|CTO|CFO|COO|founder|chairman|executive|board\s+member)s?\b", 1), (r"misconduct", 3), (r"harass(?:ment|ed)", 3),
        (r"(?:sexual|workplace)\s+(?:harassment|misconduct)", 3), (r"fraud", 2), (r"embezzle\w*", 3), (r"insider\s+trading", 3),
        (r"(?:racist|sexist|offensive|inappropriate)\s+(?:remarks?|comments?|tweets?|posts?|behaviou?r)", 3), (r"(?:resign(?:ed|s)?|stepped\s+down|ousted|fired)", 1),
        (r"allegations?", 2), (r"(?:investigation|probe)\s+into\s+(?:the\s+)?(?:CEO|founder|executive)", 3), (r"bribe(?:ry|s)?", 3),
        (r"Fehlverhalten", 3), (r"Vorstand", 1), (r"Geschäftsführer", 1), (r"Belästigung", 3), (r"veruntreu\w*", 3), (r"Vorstandschef", 1),
        (r"harcèlement", 3), (r"PDG", 1), (r"dirigeant", 1), (r"détournement\s+de\s+fonds", 3), (r"inconduite", 3),
        (r"acoso", 3), (r"director\s+ejecutivo|consejero\s+delegado", 1), (r"malversación", 3), (r"conducta\s+inapropiada", 3),
    ),
    Scenario.LAYOFFS: (
        (r"lay\s*-?offs?", 3), (r"laid\s+off", 3), (r"laying\s+off", 3), (r"job\s+cuts?", 3), (r"(?:cut|cutting|eliminat\w+)\s+\d[\d,]*\s+(?:jobs|roles|positions)", 3),
        (r"redundanc(?:y|ies)", 3), (r"restructuring", 2), (r"headcount", 2), (r"reduction\s+in\s+force|\bRIF\b", 3), (r"severance", 3),
        (r"(?:employees|staff|workers)\s+(?:were\s+)?(?:let\s+go|dismissed|fired)", 3), (r"letting\s+go\s+of", 2), (r"workforce", 1),
        (r"Stellenabbau\w*", 3), (r"Entlassungen", 3), (r"Kündigungen", 3), (r"Arbeitsplätze", 2), (r"licenciements?", 3), (r"plan\s+social", 3),
        (r"suppressions?\s+(?:de\s+)?postes", 3), (r"despidos?", 3), (r"ERE\b", 3), (r"recorte\s+de\s+(?:plantilla|empleos)", 3),
    ),
    Scenario.NATURAL_DISASTER: (
        (r"earthquake", 3), (r"hurricane", 3), (r"typhoon", 3), (r"flood(?:s|ing|ed)?", 3), (r"wildfires?", 3), (r"(?:storm|tornado|blizzard|tsunami)s?", 2),
        (r"heat\s*wave", 2), (r"power\s+(?:outage|grid\s+failure)", 2), (r"(?:data\s*cent(?:er|re)|facility)\s+(?:flooded|damaged|evacuated)", 3),
        (r"natural\s+disaster", 3), (r"force\s+majeure", 2), (r"evacuat\w+", 2),
        (r"Erdbeben", 3), (r"Hochwasser", 3), (r"Überschwemmung", 3), (r"Unwetter", 3), (r"Sturm", 2), (r"Waldbrand", 3),
        (r"tremblement\s+de\s+terre|séisme", 3), (r"inondations?", 3), (r"ouragan", 3), (r"tempête", 2), (r"incendies?\s+de\s+forêt", 3),
        (r"terremoto|sismo", 3), (r"inundaci(?:ón|ones)", 3), (r"huracán", 3), (r"incendio\s+forestal", 3), (r"tormenta", 2),
    ),
}  # fmt: skip

# Short descriptions of each scenario as an IT company meets it; the embedding signal compares the
# text with each and keeps the closest per scenario.
PROTOTYPES: dict[Scenario, tuple[str, ...]] = {
    Scenario.SERVICE_OUTAGE: (
        "Our cloud service is down and customers cannot log in or reach the application.",
        "The website and API return errors for everyone; the platform has been unavailable for an hour.",
        "Users report the app is not loading, timeouts and failed requests across regions.",
    ),
    Scenario.DATA_BREACH: (
        "Customer personal data was exposed and leaked online after a breach.",
        "Names, email addresses and passwords of millions of users were stolen and posted for sale.",
        "A misconfigured database left customer records publicly accessible.",
    ),
    Scenario.CYBERATTACK: (
        "Hackers attacked our systems with ransomware and encrypted our servers.",
        "A distributed denial of service attack is flooding our network with traffic.",
        "Attackers broke into the corporate network and we shut systems down to contain them.",
    ),
    Scenario.PRODUCT_DEFECT: (
        "A software update broke the product and deleted customers' files.",
        "The devices are faulty: they overheat and have to be recalled.",
        "A bug in the latest release produces wrong invoices and crashes the app.",
    ),
    Scenario.VULNERABILITY_DISCLOSURE: (
        "A security researcher disclosed a critical vulnerability in our software with a proof of concept.",
        "A zero-day flaw allowing remote code execution was published with a CVE number.",
        "A security hole in the product lets attackers bypass authentication; a patch is being prepared.",
    ),
    Scenario.EXECUTIVE_MISCONDUCT: (
        "The CEO is accused of harassment and misconduct by former employees.",
        "An executive made offensive remarks in public and people demand his resignation.",
        "The founder is under investigation for fraud and insider trading.",
    ),
    Scenario.LAYOFFS: (
        "The company announced layoffs and is cutting thousands of jobs.",
        "Employees were laid off by email in a restructuring; staff is angry about severance.",
        "A reduction in force eliminates a fifth of the workforce.",
    ),
    Scenario.NATURAL_DISASTER: (
        "A hurricane flooded the data center and services in the region are offline.",
        "An earthquake damaged our offices and the local power grid failed.",
        "Wildfires and storms forced the evacuation of the facility and disrupted service.",
    ),
}

_COMPILED: dict[Scenario, tuple[tuple[re.Pattern[str], float], ...]] = {
    scenario: tuple((re.compile(rf"(?<!\w){term}(?!\w)", re.IGNORECASE), weight) for term, weight in terms)
    for scenario, terms in KEYWORDS.items()
}


@dataclass(frozen=True)
class Evidence:
    term: str  # the text matched
    start: int
    end: int
    weight: float


@dataclass(frozen=True)
class ScenarioScore:
    scenario: str
    score: float  # combined, 0-1
    keyword_score: float
    similarity: float  # best cosine to the scenario's prototypes (0 when embeddings are off)
    evidence: tuple[Evidence, ...]


@dataclass(frozen=True)
class ScenarioResult:
    scenario: str  # a Scenario value, or UNCLEAR
    confidence: float  # the best combined score, 0-1
    evidence: tuple[Evidence, ...]  # the keywords of the chosen (or, when unclear, the best) scenario
    ranking: tuple[ScenarioScore, ...]  # every scenario, best first


def keyword_evidence(text: str) -> dict[Scenario, tuple[Evidence, ...]]:
    """Every keyword match per scenario (overlapping matches of one scenario count once)."""
    found: dict[Scenario, tuple[Evidence, ...]] = {}
    for scenario, patterns in _COMPILED.items():
        hits: list[Evidence] = []
        for pattern, weight in patterns:
            for match in pattern.finditer(text):
                if any(match.start() < hit.end and hit.start < match.end() for hit in hits):
                    continue
                hits.append(Evidence(match.group(), match.start(), match.end(), weight))
        found[scenario] = tuple(sorted(hits, key=lambda hit: hit.start))
    return found


@functools.cache
def _prototype_vectors() -> tuple[tuple[Scenario, ...], np.ndarray]:
    """Each prototype's scenario and embedding, computed once per process."""
    from listening.nlp import embedder

    owners = tuple(scenario for scenario, texts in PROTOTYPES.items() for _ in texts)
    return owners, embedder.encode([text for texts in PROTOTYPES.values() for text in texts])


def _similarities(text: str) -> dict[Scenario, float]:
    from listening.nlp import embedder

    owners, vectors = _prototype_vectors()
    cosines = vectors @ embedder.encode([text])[0]
    best: dict[Scenario, float] = {}
    for scenario, cosine in zip(owners, cosines, strict=True):
        best[scenario] = max(best.get(scenario, -1.0), float(cosine))
    return best


def scenario_classify(text: str, *, use_embeddings: bool = True) -> ScenarioResult:
    """The scenario a text describes, its confidence and evidence; UNCLEAR under the thresholds.
    `use_embeddings=False` uses the keyword rules alone (no model load)."""
    evidence = keyword_evidence(text)
    keyword_scores = {
        s: 1.0 - math.exp(-sum(hit.weight for hit in hits) / 3.0) for s, hits in evidence.items()
    }
    keyword_total = sum(keyword_scores.values())
    # Keyword scores as a distribution over scenarios, times how much keyword evidence there is at
    # all: one strong term makes a confident answer, nothing matched makes none.
    keyword_part = {
        s: (score / keyword_total) * max(keyword_scores.values()) if keyword_total else 0.0
        for s, score in keyword_scores.items()
    }
    similarities: dict[Scenario, float] = dict.fromkeys(Scenario, 0.0)
    if use_embeddings and text.strip():
        similarities = _similarities(text)
        values = np.array([similarities[s] for s in Scenario])
        weights = np.exp((values - values.max()) / SOFTMAX_TEMPERATURE)
        # Scaled by how close the text is to any prototype at all (cosine 0.2 means "unrelated").
        closeness = float(np.clip((values.max() - 0.2) / 0.4, 0.0, 1.0))
        embedding_part = dict(zip(Scenario, weights / weights.sum(), strict=True))
        # The embedding counts as far as the text resembles any prototype: on a German text MiniLM
        # sees nothing familiar (closeness 0), and the keywords decide alone.
        embedding_weight = (1.0 - KEYWORD_WEIGHT) * closeness
    else:
        embedding_part = dict.fromkeys(Scenario, 0.0)
        embedding_weight = 0.0
    keyword_weight = KEYWORD_WEIGHT
    ranking = sorted(
        (
            ScenarioScore(
                scenario.value,
                float(
                    (keyword_weight * keyword_part[scenario] + embedding_weight * embedding_part[scenario])
                    / (keyword_weight + embedding_weight)
                ),
                keyword_scores[scenario],
                similarities[scenario],
                evidence[scenario],
            )
            for scenario in Scenario
        ),
        key=lambda item: -item.score,
    )
    best, second = ranking[0], ranking[1]
    clear = best.score >= CONFIDENCE_MIN and best.score - second.score >= MARGIN_MIN
    return ScenarioResult(
        scenario=best.scenario if clear else UNCLEAR,
        confidence=round(best.score, 4),
        evidence=best.evidence,
        ranking=tuple(ranking),
    )
