"""The consent gate: the only way personalization reaches contacts. A walk over personalization's
source fails when a module queries contacts (or their personal tables) around it; behaviour tests
show a withdrawal holds at once and reaches registered running work."""

from __future__ import annotations

import ast
from pathlib import Path
from unittest import mock

import pytest
from django.conf import settings

from ethics import tasks
from ethics.models import Purpose
from ethics.selectors import consented_contacts
from ethics.withdrawal import withdrawal_handler_register, withdrawal_handler_unregister
from personalization.records import contact_update
from tests.ethics.conftest import make_contact, record

PERSONALIZATION = Path(settings.BASE_DIR) / "personalization"
# Models that hold a contact's data directly: only the gate and the records module query them.
PERSONAL_MODELS = {"Contact", "ContactHandle", "ConsentInterval", "ConsentEvidence", "ConsentEvent"}
PERSONAL_TABLES = (
    "personalization_contact",
    "ethics_consentinterval",
    "ethics_consentevidence",
    # What a contact did and which segments hold them: ORM reads of these join the gate.
    "personalization_engagementevent",
    "personalization_segmentmembership",
)
# Records management (create, list, correct, export, erase: the controller's administration, never
# processing for a purpose) and the models themselves.
ALLOWED_MODULES = {"models.py", "records.py"}
# Only admin screens, the worker module of their contact import, and the app's wiring may call
# records management.
RECORDS_CALLERS = {"apis.py", "views.py", "apps.py", "serializers.py", "urls.py", "records_tasks.py"}


def violations(source: str, filename: str) -> list[str]:
    """What in one module reaches contacts around the gate."""
    found = []
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in ("objects", "_default_manager", "_base_manager")
            and isinstance(node.value, ast.Name)
            and node.value.id in PERSONAL_MODELS
        ):
            found.append(f"{filename}:{node.lineno} queries {node.value.id} directly")
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and any(table in node.value.lower() for table in PERSONAL_TABLES)
        ):
            found.append(f"{filename}:{node.lineno} names a personal table in SQL")
        if isinstance(node, ast.Attribute) and node.attr == "get_model":
            found.append(f"{filename}:{node.lineno} looks models up dynamically")
        imported = ""
        if isinstance(node, ast.ImportFrom):
            imported = node.module or ""
            names = {alias.name for alias in node.names}
            if imported == "personalization" and "records" in names:
                imported = "personalization.records"
        elif isinstance(node, ast.Import):
            imported = next((a.name for a in node.names if a.name == "personalization.records"), "")
        if imported == "personalization.records" and Path(filename).name not in RECORDS_CALLERS:
            found.append(f"{filename}:{node.lineno} uses records management outside the admin screens")
    return found


def test_no_personalization_module_reaches_contacts_around_the_gate():
    found = []
    for path in sorted(PERSONALIZATION.rglob("*.py")):
        if "migrations" in path.parts or path.name in ALLOWED_MODULES:
            continue
        found += violations(path.read_text(), str(path.relative_to(settings.BASE_DIR)))
    assert not found, "use ethics.selectors.consented_contacts(purpose=...):\n" + "\n".join(found)


@pytest.mark.parametrize(
    "source",
    [
        "from personalization.models import Contact\nContact.objects.all()",
        "from personalization.models import ContactHandle as H\nContactHandle.objects.filter(handle='x')",
        "from ethics.models import ConsentInterval\nConsentInterval.objects.filter(granted_until=None)",
        "cursor.execute('SELECT email FROM personalization_contact')",
        "from django.apps import apps\napps.get_model('personalization', 'Contact').objects.all()",
        "from personalization.records import contact_list\ncontact_list()",
        "from personalization import records\nrecords.contact_list()",
    ],
)
def test_the_walk_catches_each_way_around_the_gate(source):
    assert violations(source, "personalization/segments.py")


def test_the_gate_itself_passes_the_walk():
    assert (
        violations("from ethics.selectors import consented_contacts\nconsented_contacts(purpose='x')", "x.py")
        == []
    )


def test_withdrawal_takes_effect_for_new_work_at_once(in_a):
    ada, bob = make_contact(), make_contact("bob@example.org", handles=[])
    record(ada, "personalization")
    record(bob, "personalization")
    assert set(consented_contacts(purpose="personalization")) == {ada, bob}
    assert set(consented_contacts(purpose="outreach")) == set()
    record(ada, "personalization", action="withdraw")
    assert set(consented_contacts(purpose="personalization")) == {bob}


def test_restricted_retired_and_erased_contacts_are_never_yielded(in_a):
    ada, bob, cy = (
        make_contact(),
        make_contact("bob@example.org", handles=[]),
        make_contact("c@example.org", handles=[]),
    )
    for contact in (ada, bob, cy):
        record(contact, "analytics")
        record(contact, "outreach")
    contact_update(contact=ada, is_restricted=True)
    cy.delete()
    assert set(consented_contacts(purpose="analytics")) == {bob}
    Purpose.objects.filter(code="analytics").update(is_active=False)
    assert set(consented_contacts(purpose="analytics")) == set()
    assert set(consented_contacts(purpose="outreach")) == {bob}


def test_a_withdrawal_reaches_registered_running_work_on_commit(in_a, django_capture_on_commit_callbacks):
    """Segments and pending sends register a handler; the task queued on commit calls it."""
    dropped: list[tuple[int, str]] = []

    def drop_from_pending_sends(contact_id: int, purpose: str) -> int:
        dropped.append((contact_id, purpose))
        return 1

    ada = make_contact()
    record(ada, "outreach")
    withdrawal_handler_register("test-pending-sends", drop_from_pending_sends)
    try:
        with (
            mock.patch.object(
                tasks.consent_withdrawn,
                "delay",
                side_effect=lambda *args: tasks.consent_withdrawn.apply(args=args).get(),
            ) as queued,
            django_capture_on_commit_callbacks(execute=True) as callbacks,
        ):
            record(ada, "outreach", action="withdraw")
            assert dropped == []  # nothing before the withdrawal commits
        assert len(callbacks) == 1 and queued.call_count == 1
        assert dropped == [(ada.pk, "outreach")]
    finally:
        withdrawal_handler_unregister("test-pending-sends")


def test_a_failing_handler_does_not_stop_the_others_and_the_task_retries(in_a):
    from ethics.services import consent_withdrawal_propagate

    seen = []
    withdrawal_handler_register("a-broken", lambda c, p: 1 / 0)
    withdrawal_handler_register("b-working", lambda c, p: seen.append(c) or 1)
    try:
        with pytest.raises(ZeroDivisionError):
            consent_withdrawal_propagate(contact_id=7, purpose="outreach")
        assert seen == [7]
    finally:
        withdrawal_handler_unregister("a-broken")
        withdrawal_handler_unregister("b-working")
