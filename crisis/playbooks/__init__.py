"""The playbooks Candor ships, one per crisis scenario, as YAML files beside this module, and the
pure loader that validates them and renders their statement templates.

A playbook is checked twice when loaded: against PLAYBOOK_SCHEMA (JSON Schema: the fields, the owner
roles, the channels, the deadline range) and for consistency (unique step and template ids, steps in
deadline order, every `{variable}` a template uses declared in `variables`, every declared variable
used by some template). Tenants' own playbooks will go through the same `playbook_parse`.

Templates use `{name}` placeholders only (no attribute access, indexing or format specs: a tenant's
template must not reach into the values it is given). `template_render` fills them and names every
missing variable at once.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from crisis.scenarios import Scenario

PLAYBOOK_DIR = Path(__file__).resolve().parent


class Role(StrEnum):
    INCIDENT_COMMANDER = "incident_commander"
    COMMS_LEAD = "comms_lead"
    LEGAL = "legal"
    CISO = "ciso"
    SUPPORT_LEAD = "support_lead"
    EXEC_SPONSOR = "exec_sponsor"
    HR_LEAD = "hr_lead"


class Channel(StrEnum):
    STATUS_PAGE = "status_page"
    EMAIL = "email"
    SOCIAL = "social"
    WEBSITE = "website"
    IN_APP = "in_app"
    PRESS = "press"
    INTERNAL = "internal"
    SUPPORT = "support"
    REGULATOR = "regulator"
    PARTNERS = "partners"


# The longest deadline a step may have: a week after declaration (later work is the post-mortem's).
MAX_DUE_MINUTES = 7 * 24 * 60

PLAYBOOK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "scenario", "name", "summary", "variables", "steps", "templates"],
    "properties": {
        "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{1,62}$"},
        "scenario": {"enum": [scenario.value for scenario in Scenario]},
        "name": {"type": "string", "minLength": 3, "maxLength": 120},
        "summary": {"type": "string", "minLength": 20},
        "variables": {
            "type": "object",
            "minProperties": 1,
            "propertyNames": {"pattern": "^[a-z][a-z0-9_]{0,40}$"},
            "additionalProperties": {"type": "string", "minLength": 3},
        },
        "steps": {
            "type": "array",
            "minItems": 3,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["id", "title", "owner", "due_minutes", "instructions"],
                "properties": {
                    "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{1,62}$"},
                    "title": {"type": "string", "minLength": 3, "maxLength": 160},
                    "owner": {"enum": [role.value for role in Role]},
                    "due_minutes": {"type": "integer", "minimum": 0, "maximum": MAX_DUE_MINUTES},
                    "channels": {
                        "type": "array",
                        "items": {"enum": [channel.value for channel in Channel]},
                        "uniqueItems": True,
                    },
                    "instructions": {"type": "string", "minLength": 20},
                },
            },
        },
        "templates": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["id", "name", "channels", "text"],
                "properties": {
                    "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{1,62}$"},
                    "name": {"type": "string", "minLength": 3, "maxLength": 120},
                    "channels": {
                        "type": "array",
                        "minItems": 1,
                        "items": {"enum": [channel.value for channel in Channel]},
                        "uniqueItems": True,
                    },
                    "text": {"type": "string", "minLength": 40},
                },
            },
        },
    },
}


class PlaybookError(ValueError):
    """A playbook that does not validate, or a template that cannot be rendered; the message says
    what is wrong and where."""


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    owner: str
    due_minutes: int  # after the incident is declared
    channels: tuple[str, ...]
    instructions: str


@dataclass(frozen=True)
class Template:
    id: str
    name: str
    channels: tuple[str, ...]
    text: str
    variables: frozenset[str]


@dataclass(frozen=True)
class Playbook:
    id: str
    scenario: str
    name: str
    summary: str
    variables: dict[str, str]  # name -> what to fill in
    steps: tuple[Step, ...]
    templates: tuple[Template, ...]

    def template(self, template_id: str) -> Template:
        for template in self.templates:
            if template.id == template_id:
                return template
        raise PlaybookError(f"playbook {self.id} has no template {template_id!r}")


def template_variables(text: str, *, where: str = "template") -> frozenset[str]:
    """The `{name}` placeholders of a template; anything else in braces is an error (`{{` and `}}`
    are literal braces)."""
    names = set()
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as error:
        raise PlaybookError(f"{where}: {error} (write a literal brace as {{{{ or }}}})") from None
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        if not field.isidentifier() or spec or conversion:
            shown = (
                "{" + field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            )
            raise PlaybookError(f"{where}: placeholder {shown} is not a plain {{name}}")
        names.add(field)
    return frozenset(names)


def template_render(template: Template, values: dict[str, str]) -> str:
    """The template's text with its placeholders filled; PlaybookError naming every missing one."""
    missing = sorted(template.variables - values.keys())
    if missing:
        raise PlaybookError(
            f"template {template.id}: no value for " + ", ".join(f"{{{name}}}" for name in missing)
        )
    empty = sorted(name for name in template.variables if not str(values[name]).strip())
    if empty:
        raise PlaybookError(
            f"template {template.id}: empty value for " + ", ".join(f"{{{name}}}" for name in empty)
        )
    return template.text.format_map({name: str(values[name]) for name in template.variables})


def playbook_parse(data: Any, *, source: str = "playbook") -> Playbook:
    """A validated Playbook from parsed YAML/JSON data; PlaybookError listing what is wrong."""
    errors = sorted(
        jsonschema.Draft202012Validator(PLAYBOOK_SCHEMA).iter_errors(data), key=lambda e: list(e.path)
    )
    if errors:
        lines = [f"{'/'.join(map(str, error.path)) or '(top)'}: {error.message}" for error in errors[:10]]
        raise PlaybookError(f"{source} does not match the playbook schema:\n  " + "\n  ".join(lines))
    problems: list[str] = []
    for kind in ("steps", "templates"):
        ids = [item["id"] for item in data[kind]]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            problems.append(f"{kind}: duplicate ids {duplicates}")
    dues = [step["due_minutes"] for step in data["steps"]]
    if dues != sorted(dues):
        problems.append("steps: not in the order of their deadlines")
    declared = set(data["variables"])
    used: set[str] = set()
    templates = []
    for item in data["templates"]:
        names = template_variables(item["text"], where=f"{source}: template {item['id']}")
        undeclared = sorted(names - declared)
        if undeclared:
            problems.append(f"template {item['id']}: uses undeclared variables {undeclared}")
        used |= names
        templates.append(Template(item["id"], item["name"], tuple(item["channels"]), item["text"], names))
    unused = sorted(declared - used)
    if unused:
        problems.append(f"variables: declared but used by no template {unused}")
    if problems:
        raise PlaybookError(f"{source}: " + "; ".join(problems))
    steps = tuple(
        Step(
            s["id"], s["title"], s["owner"], s["due_minutes"], tuple(s.get("channels", ())), s["instructions"]
        )
        for s in data["steps"]
    )
    return Playbook(
        data["id"],
        data["scenario"],
        data["name"],
        data["summary"],
        dict(data["variables"]),
        steps,
        tuple(templates),
    )


def playbook_load(path: Path) -> Playbook:
    """A playbook from a YAML file (safe loader: no Python objects from YAML tags)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise PlaybookError(f"{path.name}: not valid YAML: {error}") from None
    return playbook_parse(data, source=path.name)


def playbooks_shipped() -> dict[str, Playbook]:
    """The shipped playbooks by scenario: exactly one per scenario, or PlaybookError."""
    playbooks: dict[str, Playbook] = {}
    for path in sorted(PLAYBOOK_DIR.glob("*.yaml")):
        playbook = playbook_load(path)
        if playbook.scenario in playbooks:
            raise PlaybookError(f"{path.name}: a second playbook for scenario {playbook.scenario}")
        playbooks[playbook.scenario] = playbook
    missing = sorted({s.value for s in Scenario} - playbooks.keys())
    if missing:
        raise PlaybookError(f"no shipped playbook for scenarios {missing}")
    return playbooks
