"""Writes of the tenant's playbooks: the shipped ones copied in (and kept in step with new releases
without touching what the tenant changed), and the tenant's own edits, copies and deactivations.

Every save goes through `crisis.playbooks.playbook_parse`: a playbook that would not validate is
never stored, and the error says where it is wrong. Edits need the EDIT capability, bump the
version and are audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone

from crisis.models import Playbook, PlaybookOrigin
from crisis.playbooks import PLAYBOOK_DIR, PlaybookError, playbook_parse
from tenants.access import Access, Capability
from tenants.http import ClientInfo
from tenants.models import AuditAction
from tenants.services import audit_record

EDIT_REFUSED = "Changing playbooks needs the 'edit' permission (analysts and admins)."
MAX_YAML = 100_000


@dataclass(frozen=True)
class SyncResult:
    added: list[str]
    refreshed: list[str]  # shipped playbooks the tenant never edited, updated to the new release
    kept: list[str]  # shipped playbooks the tenant edited: left as they are


def _shipped_definitions() -> dict[str, dict[str, Any]]:
    """Each shipped playbook's document by its id, as its YAML file holds it."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(PLAYBOOK_DIR.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        found[playbook_parse(data, source=path.name).id] = data
    return found


def playbooks_sync(*, model: Any = Playbook) -> SyncResult:
    """Copy the shipped playbooks into this tenant's schema: add the ones it lacks, bring the ones it
    never edited up to the shipped text, and leave every playbook it edited alone. `model` is the
    historical model when a migration calls this (the template schema gets them, so every tenant
    cloned from it starts with them)."""
    result = SyncResult([], [], [])
    with transaction.atomic():
        existing = {p.key: p for p in model.objects.select_for_update().all()}
        for key, definition in _shipped_definitions().items():
            current = existing.get(key)
            if current is None:
                model.objects.create(
                    key=key,
                    scenario=definition["scenario"],
                    name=definition["name"],
                    definition=definition,
                    origin=PlaybookOrigin.SHIPPED,
                )
                result.added.append(key)
            elif current.origin == PlaybookOrigin.SHIPPED and current.updated_by_id is None:
                if current.definition != definition:
                    current.definition = definition
                    current.scenario, current.name = definition["scenario"], definition["name"]
                    current.version += 1
                    current.updated_at = timezone.now()
                    current.save()
                    result.refreshed.append(key)
            else:
                result.kept.append(key)
    return result


def playbook_document(*, text: str) -> dict[str, Any]:
    """A playbook document from YAML (or JSON, which YAML reads) text; 400 naming the line."""
    if len(text) > MAX_YAML:
        raise ValidationError({"definition": f"At most {MAX_YAML:,} characters."})
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ValidationError({"definition": f"Not valid YAML: {where}{problem}"}) from None
    if not isinstance(data, dict):
        raise ValidationError({"definition": "A playbook is a mapping (id, scenario, name, steps...)."})
    return data


def _validated(definition: Any) -> dict[str, Any]:
    try:
        playbook_parse(definition, source="playbook")
    except PlaybookError as error:
        raise ValidationError({"definition": str(error)}) from None
    return definition


def _require_edit(access: Access) -> None:
    if not access.can(Capability.EDIT):
        raise PermissionDenied(EDIT_REFUSED)


def _audit(*, access: Access, playbook: Playbook, change: str, client: ClientInfo | None) -> None:
    audit_record(
        action=AuditAction.PLAYBOOK_CHANGED,
        actor=access.user,
        tenant=connection.tenant,  # type: ignore[attr-defined]
        target=f"playbook {playbook.key}",
        client=client,
        details={"playbook_id": playbook.pk, "change": change, "version": playbook.version},
    )


def playbook_create(
    *, access: Access, definition: dict[str, Any], client: ClientInfo | None = None
) -> Playbook:
    """The tenant's own playbook; its key is the document's `id`, unique in the tenant."""
    _require_edit(access)
    definition = _validated(definition)
    with transaction.atomic():
        if Playbook.objects.filter(key=definition["id"]).exists():
            raise ValidationError({"definition": f"id: a playbook '{definition['id']}' exists already."})
        playbook = Playbook.objects.create(
            key=definition["id"],
            scenario=definition["scenario"],
            name=definition["name"],
            definition=definition,
            origin=PlaybookOrigin.CUSTOM,
            updated_by_id=access.user.pk,
        )
        _audit(access=access, playbook=playbook, change="created", client=client)
    return playbook


def playbook_update(
    *,
    access: Access,
    playbook: Playbook,
    definition: dict[str, Any] | None = None,
    is_active: bool | None = None,
    client: ClientInfo | None = None,
) -> Playbook:
    """Replace the document and/or (de)activate; the id cannot change (duplicate instead). Every
    change bumps the version, so incidents keep the version they were declared with."""
    _require_edit(access)
    if definition is not None:
        definition = _validated(definition)
        if definition["id"] != playbook.key:
            raise ValidationError(
                {"definition": f"id: stays '{playbook.key}' (duplicate the playbook to give it a new id)."}
            )
    with transaction.atomic():
        locked = Playbook.objects.select_for_update().get(pk=playbook.pk)
        changes = []
        if definition is not None and definition != locked.definition:
            locked.definition = definition
            locked.scenario, locked.name = definition["scenario"], definition["name"]
            changes.append("edited")
        if is_active is not None and is_active != locked.is_active:
            locked.is_active = is_active
            changes.append("activated" if is_active else "deactivated")
        if not changes:
            return locked
        locked.version += 1
        locked.updated_by_id = access.user.pk
        locked.updated_at = timezone.now()
        locked.save()
        _audit(access=access, playbook=locked, change=", ".join(changes), client=client)
    return locked


def _free_key(base: str) -> str:
    base = base[:56]
    taken = set(Playbook.objects.filter(key__startswith=base).values_list("key", flat=True))
    for n in range(1, 1000):
        key = f"{base}-copy" if n == 1 else f"{base}-copy-{n}"
        if key not in taken:
            return key
    raise ValidationError({"key": "Too many copies of this playbook."})


def playbook_duplicate(*, access: Access, playbook: Playbook, client: ClientInfo | None = None) -> Playbook:
    """A copy the tenant owns (`<id>-copy`), to adapt while the original stays as it is."""
    _require_edit(access)
    with transaction.atomic():
        key = _free_key(playbook.key)
        definition = {**playbook.definition, "id": key, "name": f"{playbook.name} (copy)"[:120]}
        copy = Playbook.objects.create(
            key=key,
            scenario=playbook.scenario,
            name=definition["name"],
            definition=_validated(definition),
            origin=PlaybookOrigin.CUSTOM,
            updated_by_id=access.user.pk,
        )
        _audit(access=access, playbook=copy, change=f"duplicated from {playbook.key}", client=client)
    return copy


def playbook_steps_definition(*, playbook: Playbook, steps: list[dict[str, Any]]) -> dict[str, Any]:
    """The playbook's document with its steps replaced (the structured form's edit)."""
    return {**playbook.definition, "steps": steps}


# The shipped files' order: PostgreSQL's jsonb keeps keys by length, which reads badly.
TOP_ORDER = ("id", "scenario", "name", "summary", "variables", "steps", "templates")
ITEM_ORDER = ("id", "title", "name", "owner", "due_minutes", "channels", "instructions", "text")


def _ordered(item: dict[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    rank = {key: index for index, key in enumerate(order)}
    return {key: item[key] for key in sorted(item, key=lambda key: (rank.get(key, len(order)), key))}


def playbook_as_yaml(*, definition: dict[str, Any]) -> str:
    """The document as YAML for editing, in the order the shipped files use."""
    document = _ordered(definition, TOP_ORDER)
    for kind in ("steps", "templates"):
        if isinstance(document.get(kind), list):
            document[kind] = [
                _ordered(item, ITEM_ORDER) if isinstance(item, dict) else item for item in document[kind]
            ]
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
