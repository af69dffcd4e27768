"""The tone check's rules: phrases that make a crisis statement sound defensive, blaming,
dismissive or cold, and the elements a statement must carry.

Each rule is a regular expression (case-insensitive) with the message shown to the writer and a
suggested rewrite. English is covered in depth; German, French and Spanish carry the most common
phrases of each kind, where a phrase list is cheap and reliable. The rules are meant to be read and
extended: they come from crisis-communication practice (acknowledge, apologise for the harm and not
for "any inconvenience", say what you are doing and when you will speak again, say where to get
help; never argue, blame or shrink the problem in the first statement) and from statements that
went wrong, United's "re-accommodate" of April 2017 first among them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Category(StrEnum):
    DEFENSIVE = "defensive"
    BLAMING = "blaming"
    DISMISSIVE = "dismissive"
    COLD = "cold"


class Element(StrEnum):
    ACKNOWLEDGEMENT = "acknowledgement"
    APOLOGY = "apology"
    ACTION = "action"
    NEXT_UPDATE = "next_update"
    HELP = "help"


@dataclass(frozen=True)
class Rule:
    id: str
    category: Category
    pattern: re.Pattern[str]
    message: str
    suggestion: str


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE | re.UNICODE)


_HARM_VERBS = (
    r"(?:affected|impacted|exposed|accessed|compromised|disrupted|interrupted|lost|deleted|leaked|stolen|"
    r"delayed|cancell?ed|stranded|removed|injured|harmed|breached|corrupted|locked out|re-?accommodated)"
)

RULES: tuple[Rule, ...] = (
    # Defensive: arguing the company's case before acknowledging the harm.
    Rule("followed-procedures", Category.DEFENSIVE,
         _rx(r"\b(?:we|our (?:team|staff|employees|crew)s?)\s+(?:have\s+)?(?:followed|complied with|acted (?:in accordance|according) (?:with|to))\s+(?:all\s+|our\s+|the\s+|established\s+|standard\s+)*(?:procedures?|protocols?|policies|policy|regulations|rules|guidelines)"),
         "Says the company did everything right: readers hear an argument, not an answer.",
         "Say what happened and what you are doing about it; leave the review of procedures to the follow-up."),
    Rule("no-evidence", Category.DEFENSIVE,
         _rx(r"\b(?:no|not any|kein(?:e|en)?|aucune?|ninguna?)\s+(?:evidence|indication|sign|proof|Hinweise?|Anzeichen|preuve|indice|prueba|indicio)s?\b(?!-)"),
         "\"No evidence of...\" reads as a denial and ages badly if evidence appears later.",
         "State what you know and what you are still checking: \"We are still investigating whether any data was taken and will tell you as soon as we know.\""),
    Rule("contrary-to-reports", Category.DEFENSIVE,
         _rx(r"\b(?:contrary to|despite|in spite of)\s+(?:(?:some|recent|media|press|false|inaccurate|online)\s+)*(?:reports|claims|rumou?rs|speculation|allegations)|\b(?:inaccurate|false|misleading)\s+(?:reports|claims|information)\b"),
         "Arguing with the reports puts the company against its critics in the first statement.",
         "Give the facts as you know them, without framing them against anyone."),
    Rule("not-our-fault", Category.DEFENSIVE,
         _rx(r"\b(?:(?:was|is)\s+not\s+(?:our|the company'?s)\s+fault|(?:through|at)\s+no\s+fault\s+of\s+(?:our|its)\s+own|beyond\s+our\s+control|outside\s+(?:of\s+)?our\s+control|nicht\s+(?:unsere|unser)\s+(?:Schuld|Verschulden)|außerhalb\s+unserer\s+Kontrolle|indépendante?s?\s+de\s+notre\s+volonté|ajen[oa]s?\s+a\s+(?:nuestra\s+voluntad|nuestro\s+control))"),
         "Disclaiming responsibility up front sounds like the company cares most about itself.",
         "Own the customer's experience, whatever the cause: \"This should not have happened to you.\""),
    Rule("isolated-incident", Category.DEFENSIVE,
         _rx(r"\b(?:an?\s+)?isolated\s+(?:incident|case|event|issue)|\bEinzelfall\b|\bcas\s+isolé|\bcaso\s+aislado"),
         "\"Isolated incident\" pre-judges the investigation and minimises it.",
         "Say what you know about the scope today and when you will know more."),
    Rule("no-comment", Category.DEFENSIVE,
         _rx(r"\bno\s+comment\b|\b(?:unable|not able)\s+to\s+comment\b|\bdo(?:es)?\s+not\s+comment\s+on\b"),
         "\"No comment\" is heard as \"guilty\" and leaves the story to others.",
         "Say what you can: that you know, that you are working on it, and when you will say more."),
    # Blaming: the customer, a vendor, a few users, the weather.
    Rule("customer-refused", Category.BLAMING,
         _rx(r"\b(?:the\s+|one\s+|a\s+)?(?:customer|passenger|user|client|guest)s?\s+(?:who\s+)?(?:refused|failed|neglected|did\s+not|didn'?t|chose\s+not|was\s+(?:disruptive|belligerent|aggressive|uncooperative))"),
         "Describes the customer as the problem: the public sides with the customer.",
         "Describe what happened to the customer and what you regret, not what the customer did wrong."),
    Rule("user-error", Category.BLAMING,
         _rx(r"\b(?:user|customer|human|operator)\s+error\b|\b(?:customers?|users?)\s+(?:should\s+have|must\s+have|were\s+responsible)\b|\bweak\s+passwords?\s+(?:chosen|used)\s+by\b|\bFehlbedienung\b|\berreur\s+(?:humaine|de\s+l'utilisateur)|\berror\s+(?:humano|del\s+usuario)"),
         "Points at users' mistakes; even when true, it reads as blame in a first statement.",
         "Say what you are doing so users are protected, and give clear steps they can take."),
    Rule("small-number-of-users", Category.BLAMING,
         _rx(r"\b(?:a\s+)?(?:small|tiny|limited|very\s+small|handful)\s+(?:number|percentage|subset|fraction|group|of)\s*(?:of\s+)?(?:our\s+)?(?:users|customers|accounts|clients|passengers)|\bonly\s+(?:a\s+few|\d+\s*%|a\s+fraction\s+of)\s+(?:of\s+)?(?:our\s+)?(?:users|customers|accounts)|\bwenige\s+(?:Nutzer|Kunden)|\bun\s+petit\s+nombre\s+d'(?:utilisateurs|clients)|\bun\s+pequeño\s+número\s+de\s+(?:usuarios|clientes)"),
         "\"A small number of users\" shrinks the people who were hurt into a statistic.",
         "Give the number if you know it, and speak to those affected: \"If you are one of the customers affected...\""),
    Rule("third-party", Category.BLAMING,
         _rx(r"\b(?:(?:a|our)\s+)?(?:third[- ]party|external)\s+(?:vendor|supplier|provider|partner|contractor)s?\b|\b(?:our|a)\s+(?:vendor|supplier|provider|contractor|partner)(?:'s)?\s+(?:was|is|caused|failed|error|mistake|system)|\b(?:caused|triggered)\s+by\s+(?:a|our|an)\s+(?:vendor|supplier|provider|partner|contractor|upstream)|\bDrittanbieter|\bprestataire\s+(?:externe|tiers)|\bproveedor\s+externo"),
         "Naming a vendor as the cause reads as passing the blame; customers chose you, not your vendor.",
         "Take responsibility for the service you provide; name the vendor later, if at all, in the root-cause report."),
    # Dismissive / minimising.
    Rule("minor", Category.DISMISSIVE,
         _rx(r"\b(?:minor|slight|small|brief|temporary|limited|negligible)\s+(?:issue|problem|disruption|outage|incident|glitch|hiccup|inconvenience|interruption|delay|impact)s?\b|\bglitch\b|\bhiccups?\b|\bgeringfügig|\bkleine(?:re|s)?\s+(?:Störung|Problem)|\bléger(?:e|s)?\s+(?:incident|perturbation)|\bpetit\s+(?:incident|problème)|\b(?:pequeño|leve)\s+(?:incidente|problema)"),
         "Calling it minor tells those hit hard that their problem does not count.",
         "Describe the impact plainly (what does not work, for whom, since when) and let readers judge its size."),
    Rule("may-have-experienced", Category.DISMISSIVE,
         _rx(r"\b(?:some|a\s+few|certain)\s+(?:users|customers|clients|passengers)\s+(?:may|might|could)\s+have\s+(?:experienced|noticed|seen|encountered|been)|\b(?:may|might)\s+have\s+(?:experienced|noticed)\s+(?:some|an?|brief|minor|intermittent)"),
         "\"May have experienced\" doubts what customers know happened to them.",
         "Say it as a fact: \"Since 09:40 UTC, customers in Europe cannot sign in.\""),
    Rule("briefly", Category.DISMISSIVE,
         _rx(r"\b(?:briefly|momentarily|for\s+a\s+(?:short|brief)\s+(?:time|period|while)|only\s+(?:a\s+few|\d+)\s+(?:minutes|hours)|kurzzeitig|brièvement|brevemente)\b"),
         "\"Briefly\" minimises an impact that did not feel brief to those affected.",
         "Give the actual times: \"from 09:40 to 11:15 UTC\"."),
    Rule("inconvenience", Category.DISMISSIVE,
         _rx(r"\b(?:any|the|this)\s+(?:inconvenience|trouble|frustration)\b(?:\s+(?:this|that|it)\s+(?:may\s+have\s+|might\s+have\s+|has\s+)?caused)?|\bUnannehmlichkeiten\b|\bdésagréments?\b|\bmolestias\b"),
         "\"Any inconvenience\" shrinks real harm (lost work, lost money, lost data) to a nuisance.",
         "Name the harm: \"We are sorry that you could not reach your data for six hours.\""),
    Rule("conditional-apology", Category.DISMISSIVE,
         _rx(r"\b(?:sorry|apologi[sz]e)\s+(?:if|to\s+(?:those|anyone)\s+who\s+(?:feel|felt|were\s+offended))|\bregret\s+that\s+(?:you|some)\s+(?:feel|felt)|\bsorry\s+you\s+feel"),
         "A conditional apology (\"sorry if...\") questions whether anyone was hurt.",
         "Apologise without conditions for what happened: \"We are sorry that...\""),
    Rule("sorry-for-having-to", Category.DISMISSIVE,
         _rx(r"\bapologi[sz]e\s+for\s+(?:having\s+to|the\s+overbook|the\s+need\s+to)|\bsorry\s+for\s+having\s+to\b"),
         "Apologises for the company's action or the situation, not for what the person went through.",
         "Apologise for the harm: \"We are deeply sorry for how our passenger was treated.\""),
    # Cold / unempathetic: euphemism, legalese, passive voice about harm, self-pity.
    Rule("euphemism", Category.COLD,
         _rx(r"\bre-?accommodat\w*|\b(?:involuntar(?:y|ily)\s+de-?boarded?|rightsiz\w+|workforce\s+(?:reduction|optimi[sz]ation|adjustment)|(?:talent|organi[sz]ational)\s+(?:realignment|restructuring)|negative\s+(?:patient\s+)?outcome|service\s+(?:degradation|event)|unplanned\s+(?:downtime|event)|security\s+event|(?:data\s+)?(?:incident|event)\s+of\s+unauthori[sz]ed)"),
         "A euphemism hides what happened; people notice and quote it back.",
         "Use plain words: \"removed from the flight\", \"laid off\", \"outage\", \"someone broke into our systems\"."),
    Rule("legalese", Category.COLD,
         _rx(r"\b(?:pursuant\s+to|hereby|heretofore|aforementioned|without\s+(?:admission|admitting)\s+(?:of\s+)?(?:any\s+)?(?:liability|fault|wrongdoing)|in\s+accordance\s+with\s+(?:applicable|our)\s+(?:law|terms|obligations)|(?:reserves?|reserving)\s+(?:all|the)\s+rights|terms\s+of\s+service\s+(?:state|stipulate)|unbeschadet|sous\s+réserve\s+de|sin\s+perjuicio\s+de)"),
         "Legal language keeps readers at a distance and sounds like the company protecting itself.",
         "Write as one person speaking to another; legal will review facts, not register."),
    Rule("passive-harm", Category.COLD,
         _rx(r"\b(?:mistakes|errors)\s+were\s+made\b|\b(?:data|information|records|details|files|accounts?|systems?|services?|users|customers|passengers|flights?|orders|payments|passwords|emails)\s+(?:may\s+have\s+been|might\s+have\s+been|were|was|have\s+been|has\s+been)\s+" + _HARM_VERBS + r"\b(?!\s+by\b)"),
         "Passive voice about the harm (\"data was accessed\", \"mistakes were made\") hides who did it and who is responsible.",
         "Say it in the active voice: \"An attacker accessed...\", \"We made a mistake when...\"."),
    Rule("upsetting-to-us", Category.COLD,
         _rx(r"\b(?:upsetting|difficult|hard|painful|challenging)\s+(?:event|time|day|situation)\s+(?:to|for)\s+(?:all\s+of\s+us|us\s+all|us|our\s+(?:team|company|employees))\b"),
         "Puts the company's feelings first, when the people hurt are the customers.",
         "Speak about the people affected first: \"What happened to our customer is wrong.\""),
    Rule("regret", Category.COLD,
         _rx(r"\b(?:we|the\s+company)\s+regrets?\s+(?:any|the|that)\b|\bbedauern\s+(?:etwaige|jegliche)|\bregrettons\s+(?:tout|les)\s+(?:désagrément|inconvénient)|\blamentamos\s+(?:cualquier|las)\s+molestia"),
         "\"We regret\" is the formula of an official notice, not an apology.",
         "Say sorry, plainly, for the harm: \"We are sorry that...\""),
)  # fmt: skip


@dataclass(frozen=True)
class ElementRule:
    element: Element
    label: str
    why: str
    example: str
    patterns: tuple[re.Pattern[str], ...]


# What counts as a problem named: the words of outages, breaches, defects and the like.
PROBLEM = (
    r"(?:outage|disruption|downtime|incident|breach|attack|intrusion|ransomware|vulnerability|flaw|defect|"
    r"failure|fault|error|bug|problem|issue|mistake|unavailable|down\b|not\s+working|cannot|can'?t|could\s+not|"
    r"couldn'?t|unable|stranded|delays?|cancell?ations?|layoffs?|misconduct|exposed|leak|wrong|failed|"
    r"Störung|Ausfall|Vorfall|Sicherheitslücke|Angriff|Fehler|Problem|panne|incident|interruption|fuite|"
    r"faille|attaque|défaut|problème|caída|interrupción|incidente|brecha|ataque|fallo|falla|problema)"
)
ELEMENT_RULES: tuple[ElementRule, ...] = (
    ElementRule(
        Element.ACKNOWLEDGEMENT,
        "acknowledgement of the problem",
        "Readers need to see you know what is happening to them before anything else.",
        "Since 09:40 UTC many of you cannot sign in to Acme Cloud.",
        (
            _rx(r"\b(?:we|I)\s+(?:know|understand|recogni[sz]e|are\s+aware|have\s+identified|can\s+confirm|confirm|"
                r"have\s+confirmed|failed|let\s+you\s+down|experienced|detected|discovered|learned)\b"),
            _rx(r"\b(?:since|from|at|starting|beginning)\s+(?:about\s+|around\s+)?\d{1,2}[:.h]\d{2}.{0,120}" + PROBLEM),
            _rx(r"\b(?:is|are|was|were|has\s+been|have\s+been)\s+(?:currently\s+)?(?:down|unavailable|not\s+working|"
                r"experiencing|degraded|affected|impacted|exposed|disrupted|offline|interrupted)\b"),
            _rx(r"\b(?:wir\s+wissen|wir\s+bestätigen|nous\s+savons|nous\s+confirmons|sabemos|confirmamos)\b"),
            _rx(r"\b(?:nicht\s+erreichbar|ausgefallen|gestört|est\s+en\s+panne|est\s+indisponible|"
                r"sufre\s+una\s+(?:caída|interrupción)|no\s+está\s+disponible|no\s+funciona)\b"),
        ),
    ),
    ElementRule(
        Element.APOLOGY,
        "an apology",
        "When customers were harmed, an unconditional apology for that harm is expected in the first statement.",
        "We are sorry: you rely on Acme Cloud for your work, and today we let you down.",
        (
            _rx(r"\b(?:(?:we|I)\s+(?:are|am|'re|'m)\s+(?:so\s+|very\s+|truly\s+|deeply\s+|sincerely\s+)?sorry|"
                r"(?:we|I)\s+(?:sincerely\s+|deeply\s+|unreservedly\s+)?apologi[sz]e|our\s+(?:sincere\s+|deepest\s+)?apologies|"
                r"es\s+tut\s+uns\s+(?:sehr\s+)?leid|wir\s+entschuldigen\s+uns|nous\s+(?:sommes\s+(?:sincèrement\s+|vraiment\s+)?désolés|"
                r"nous\s+excusons|vous\s+présentons\s+nos\s+excuses)|(?:lo\s+sentimos|pedimos\s+disculpas|les\s+pedimos\s+perdón))"),
        ),
    ),
    ElementRule(
        Element.ACTION,
        "what is being done",
        "Say what your people are doing right now, so readers know the problem is in hands.",
        "Our engineers have rolled back this morning's change and are restoring service region by region.",
        (
            _rx(r"\b(?:we|our\s+(?:engineers|team|teams|staff|people|crews|board|leadership|experts|specialists|security\s+team|support\s+team|operations\s+teams?))\s+"
                r"(?:are|is|have|has|'re|'ve)\s+(?:already\s+|now\s+|currently\s+)?(?:\w+ing|rolled|restored|fixed|patched|"
                r"contained|reset|engaged|notified|deployed|found|identified|traced|replaced|upgraded|isolated|taken|disabled|revoked|blocked|started|launched|"
                r"brought|hired|opened|set\s+up|begun|called|informed|suspended|added|moved|paused|stopped|closed)\b"),
            _rx(r"\b(?:we|I)\s+(?:will|'ll)\s+(?:\w+\s+){0,2}?(?:restore|fix|patch|refund|compensate|contact|reach|notify|"
                r"review|investigate|publish|offer|provide|reimburse|work|support|rebuild|change|make|cover|credit|"
                r"reset|help|keep)\b"),
            _rx(r"\b(?:wir\s+arbeiten|wir\s+haben\s+\w+|nous\s+travaillons|nos\s+équipes|estamos\s+trabajando|"
                r"nuestros?\s+(?:equipos?|ingenieros))\b"),
        ),
    ),
    ElementRule(
        Element.NEXT_UPDATE,
        "when the next update comes",
        "A time for the next update stops the guessing and the refreshing; keep the promise even with no news.",
        "We will post the next update at 11:30 UTC, or sooner if anything changes.",
        (
            _rx(r"\b(?:update|updates|report\s+back|more\s+information|update\s+you|inform\s+you|hear\s+from\s+us|"
                r"Aktualisierung|Update|mise\s+à\s+jour|actualización|informaremos)\b.{0,80}?"
                r"(?:\b(?:at|by|before|um|bis|à|avant|a\s+las|antes\s+de)\s+\d{1,2}(?:[:.h]\d{2})?\s*(?:am|pm|a\.m\.|p\.m\.|"
                r"UTC|GMT|CET|CEST|ET|EST|EDT|PT|PST|PDT|Uhr|h)?\b|\bevery\s+(?:\d+\s+)?(?:minutes?|hours?|day)\b|"
                r"\bwithin\s+(?:the\s+next\s+)?\d+\s+(?:minutes?|hours?)\b|\bin\s+\d+\s+(?:minutes?|hours?)\b|"
                r"\b(?:tomorrow|this\s+(?:afternoon|evening))\b|\balle\s+\d+\s+(?:Minuten|Stunden)|"
                r"\btoutes\s+les\s+\d+\s+(?:minutes|heures)|\bcada\s+\d+\s+(?:minutos|horas)|"
                r"\b\d{1,2}[:.h]\d{2}\b)"),
            _rx(r"\b(?:next|further|another)\s+update\b.{0,40}\b(?:\d{1,2}[:.h]\d{2}|\d+\s+(?:minutes?|hours?))"),
        ),
    ),
    ElementRule(
        Element.HELP,
        "where to get help",
        "Tell affected people where to go: a status page, a support contact, a phone line.",
        "Follow progress on status.acme.example, or reach our support team at support@acme.example.",
        (
            _rx(r"https?://\S+|\bwww\.\S+|\b[\w-]+(?:\.[\w-]+)*\.(?:com|org|net|io|example|de|fr|es|eu|co|cloud|app|dev)\b(?:/\S*)?"),
            _rx(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"),
            _rx(r"\+?\d[\d\s().-]{7,}\d|\b1-800-[\w-]+"),
            _rx(r"\b(?:status\s+page|help\s+cent(?:er|re)|support\s+(?:team|line|page|portal)|contact\s+(?:our\s+|us|support)|"
                r"hotline|call\s+(?:us|our)|Statusseite|Kundenservice|page\s+de\s+statut|service\s+client|"
                r"página\s+de\s+estado|atención\s+al\s+cliente)\b"),
        ),
    ),
)  # fmt: skip

# Harm to customers: when a statement speaks of it, an apology is due.
HARM = _rx(
    r"\b(?:outage|downtime|unavailable|breach|exposed|stolen|leak|ransomware|attack|lost|loss|deleted|stranded|"
    r"delayed|cancell?ed|injur\w*|harm\w*|removed|dragged|locked\s+out|cannot|can'?t|could\s+not|unable|defect|"
    r"faulty|failed|law\s+enforcement|police|forcibly|Ausfall|Störung|Datenleck|panne|fuite|caída|brecha|interrupción)\b"
)
