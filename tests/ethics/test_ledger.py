"""The consent ledger: append-only in the database, a hash chain that names its first broken link,
appends that cannot fork under concurrency, and state at any time from one indexed query."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections, transaction
from django.db.utils import InternalError, ProgrammingError
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import tenant_context

from ethics import ledger
from ethics.models import ConsentEvent, ConsentInterval, LedgerCheck, LedgerCheckStatus, Notice, Purpose
from ethics.selectors import consent_verify, consented_contacts
from ethics.services import (
    ConsentEntry,
    consent_record_many,
    ledger_check_request,
    ledger_check_run,
    notice_publish,
    purpose_create,
)
from personalization.records import contact_create
from tests.conftest import World
from tests.ethics.conftest import data_queries, make_contact, record


def tamper(cursor, statement: str, event_id: int) -> None:
    """What only a database superuser could do: skip user triggers for one statement (replica
    mode), as an attacker with the keys to the server would. The chain must still tell."""
    cursor.execute("SET LOCAL session_replication_role = replica")
    cursor.execute(statement, [event_id])
    cursor.execute("SET LOCAL session_replication_role = origin")


def test_every_tenant_starts_with_the_default_purposes_and_a_notice_each(in_a):
    codes = sorted(Purpose.objects.values_list("code", flat=True))
    assert codes == ["analytics", "outreach", "personalization"]
    assert Notice.objects.filter(version=1).count() == 3


def test_a_new_notice_version_never_overwrites_the_old_one(in_a):
    purpose = Purpose.objects.get(code="outreach")
    first = Notice.objects.get(purpose=purpose, version=1)
    second = notice_publish(purpose=purpose, text="We now also send a monthly digest.")
    assert second.version == 2
    first.refresh_from_db()
    assert first.text.startswith("We send you news") and Notice.objects.filter(purpose=purpose).count() == 2


def test_a_grant_names_the_notice_shown_and_chains_its_hash(in_a):
    before = consent_verify()
    contact = make_contact()
    first = record(contact, "outreach")
    second = record(contact, "outreach", action="withdraw")
    # Worker and browser tests commit events to this tenant; the chain continues from their head.
    assert first.seq == before.checked + 1 and first.prev_hash == (
        before.head_hash if before.checked else ledger.GENESIS
    )
    assert second.prev_hash == first.hash and second.seq == 2
    assert first.notice.version == 1 and first.evidence.ip_address == "203.0.113.9"
    assert first.pseudonym == second.pseudonym and str(contact.uuid) not in first.pseudonym
    assert consent_verify().ok and consent_verify().checked == before.checked + 2


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ethics_consentevent SET action = 'withdraw'",
        "DELETE FROM ethics_consentevent",
        "TRUNCATE ethics_consentevent CASCADE",
    ],
)
def test_the_database_refuses_to_change_or_remove_events(in_a, statement):
    record(make_contact(), "analytics")
    refused = pytest.raises((InternalError, ProgrammingError), match="append-only")
    with refused, transaction.atomic(), connection.cursor() as cursor:
        # Django's foreign keys are deferred: settle them, or TRUNCATE stops on pending checks
        # before our trigger is reached.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(statement)
    assert ConsentEvent.objects.count() == 1


def test_verification_names_the_first_edited_event(in_a):
    before = consent_verify().checked
    contact = make_contact()
    events = [record(contact, code) for code in ("analytics", "outreach", "personalization")]
    with connection.cursor() as cursor:
        tamper(cursor, "UPDATE ethics_consentevent SET lawful_basis = 'contract' WHERE id = %s", events[1].pk)
    result = consent_verify()
    assert not result.ok
    assert result.broken_seq == events[1].seq and result.broken_event_id == events[1].pk
    assert result.checked == before + 1 and "hash" in result.reason


def test_verification_catches_a_removed_event_and_an_edited_notice(in_a):
    purpose_create(code="tamper-test", name="Tamper test", notice_text="The text as it was shown.")
    contact = make_contact()
    events = [record(contact, code) for code in ("tamper-test", "outreach", "personalization")]
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM ethics_consentevidence WHERE event_id = %s", [events[1].pk])
        cursor.execute("DELETE FROM ethics_consentinterval WHERE grant_event_id = %s", [events[1].pk])
        tamper(cursor, "DELETE FROM ethics_consentevent WHERE id = %s", events[1].pk)
    assert consent_verify().broken_seq == events[2].seq
    Notice.objects.filter(pk=events[0].notice_id).update(text="A different text than was shown.")
    result = consent_verify()
    assert result.broken_seq == events[0].seq and "notice" in result.reason


def test_the_command_reports_the_broken_tenant(in_a, capsys):
    contact = make_contact()
    event = record(contact, "analytics")
    call_command("consent_verify", "--tenant", "tenant-a")
    assert f"tenant-a: ok, {event.seq} events" in capsys.readouterr().out
    with connection.cursor() as cursor:
        tamper(cursor, "UPDATE ethics_consentevent SET actor = 'user:999' WHERE id = %s", event.pk)
    with pytest.raises(CommandError, match="tenant-a"):
        call_command("consent_verify", "--tenant", "tenant-a")
    assert f"BROKEN at event #{event.seq} (id {event.pk})" in capsys.readouterr().out


def test_withdrawing_without_a_grant_and_granting_a_retired_purpose_are_refused(in_a):
    contact = make_contact()
    with pytest.raises(ValidationError, match="no consent"):
        record(contact, "analytics", action="withdraw")
    Purpose.objects.filter(code="analytics").update(is_active=False)
    with pytest.raises(ValidationError, match="retired"):
        record(contact, "analytics")
    assert ConsentEvent.objects.count() == 0


def test_consent_at_a_time_is_one_query_over_the_intervals(in_a):
    ada, bob = make_contact(), make_contact("bob@example.org", handles=[])
    record(ada, "outreach")
    record(bob, "outreach")
    both = timezone.now()
    record(ada, "outreach", action="withdraw")
    after = timezone.now()
    record(ada, "outreach")
    with CaptureQueriesContext(connection) as queries:
        at_both = set(consented_contacts(purpose="outreach", at=both))
    assert len(data_queries(queries)) == 1
    assert at_both == {ada, bob}
    assert set(consented_contacts(purpose="outreach", at=after)) == {bob}
    assert set(consented_contacts(purpose="outreach")) == {ada, bob}
    assert set(consented_contacts(purpose="outreach", at=both - timedelta(days=1))) == set()
    assert ConsentInterval.objects.filter(contact=ada).count() == 2
    sql = str(consented_contacts(purpose="outreach", at=both).query)
    assert "ethics_consentinterval" in sql and "ethics_consentevent" not in sql


def test_concurrent_appends_never_fork_the_chain(committed: World):
    """Eight threads, each on its own connection, append at once; the chain stays one line."""
    with tenant_context(committed.a):
        contacts = [contact_create(name=f"T{i}", email=f"t{i}@example.org") for i in range(8)]
        start_seq = (ConsentEvent.objects.order_by("-seq").values_list("seq", flat=True).first()) or 0
    barrier = threading.Barrier(len(contacts))
    errors: list[BaseException] = []

    def append(contact):
        try:
            with tenant_context(committed.a):
                barrier.wait(timeout=10)
                for _ in range(3):
                    record(contact, "analytics")
                    record(contact, "analytics", action="withdraw")
        except BaseException as error:  # reported below, with the thread's own traceback
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=append, args=(c,)) for c in contacts]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not errors, errors
        with tenant_context(committed.a):
            seqs = list(ConsentEvent.objects.filter(seq__gt=start_seq).values_list("seq", flat=True))
            assert seqs == list(range(start_seq + 1, start_seq + 1 + 8 * 6))
            assert ConsentEvent.objects.values("prev_hash").distinct().count() == ConsentEvent.objects.count()
            assert consent_verify().ok
    finally:
        with tenant_context(committed.a):
            from ethics.models import ConsentEvidence

            ids = [c.pk for c in contacts]
            ConsentInterval.objects.filter(contact_id__in=ids).delete()
            ConsentEvidence.objects.filter(contact_id__in=ids).delete()
            type(contacts[0]).objects.filter(pk__in=ids).delete()


def test_a_batch_appends_in_order_in_one_transaction_and_one_bad_entry_refuses_it(in_a):
    before = consent_verify().checked
    outreach, analytics = Purpose.objects.get(code="outreach"), Purpose.objects.get(code="analytics")
    people = [contact_create(name=f"B{i}", email=f"b{i}@example.org") for i in range(50)]
    entries = [ConsentEntry(p, outreach, "grant") for p in people]
    entries += [ConsentEntry(p, outreach, "withdraw") for p in people[:10]]
    entries += [ConsentEntry(p, outreach, "grant") for p in people[:5]]  # given again, same batch
    entries += [ConsentEntry(p, analytics, "grant", lawful_basis="legitimate_interest") for p in people[:3]]
    with CaptureQueriesContext(connection) as queries:
        events = consent_record_many(entries=entries, source="import", actor="user:1")
    assert len(data_queries(queries)) < 20  # not one round trip per event
    assert [e.seq for e in events] == list(range(before + 1, before + 1 + len(entries)))
    assert consent_verify().ok and consent_verify().checked == before + len(entries)
    assert set(consented_contacts(purpose="outreach")) == set(people[:5]) | set(people[10:])
    assert set(consented_contacts(purpose="analytics")) == set(people[:3])
    assert ConsentInterval.objects.filter(contact__in=people[:5], purpose=outreach).count() == 10

    bad = [ConsentEntry(people[20], analytics, "grant"), ConsentEntry(people[21], analytics, "withdraw")]
    with pytest.raises(ValidationError) as refused:
        consent_record_many(entries=bad, source="import", actor="user:1")
    assert "entries[1].action" in refused.value.message_dict
    assert people[20] not in consented_contacts(purpose="analytics")
    assert consent_verify().checked == before + len(entries)


def test_a_ledger_check_runs_on_request_and_stores_the_first_broken_link(in_a, world):
    contact = make_contact()
    event = record(contact, "analytics")
    first = ledger_check_request(actor=world.users["a_admin"])
    assert ledger_check_request(actor=None).pk == first.pk  # asking again joins the waiting one
    assert ledger_check_run(check_id=first.pk).status == LedgerCheckStatus.INTACT
    first.refresh_from_db()
    assert first.checked == event.seq and first.head_hash == event.hash and first.requested_by_id
    assert ledger_check_run(check_id=first.pk).finished_at == first.finished_at  # a redelivery: no rerun

    with connection.cursor() as cursor:
        tamper(cursor, "UPDATE ethics_consentevent SET actor = 'user:999' WHERE id = %s", event.pk)
    second = ledger_check_request(actor=None)
    assert second.pk != first.pk
    second = ledger_check_run(check_id=second.pk)
    assert (second.status, second.broken_seq, second.broken_event_id) == ("broken", event.seq, event.pk)
    assert "hash" in second.reason and second.checked == event.seq - 1


def test_a_check_left_running_by_a_dead_worker_runs_again(in_a):
    check = ledger_check_request(actor=None)
    LedgerCheck.objects.filter(pk=check.pk).update(status=LedgerCheckStatus.RUNNING)
    assert ledger_check_run(check_id=check.pk).status == LedgerCheckStatus.INTACT


def test_the_api_lists_checks_and_queues_one_for_editors_only(api_for, world):
    viewer, admin = api_for("a_viewer"), api_for("a_admin", scope="write")
    assert admin.get("/api/v1/consent/verify").json()["results"] == []
    queued = admin.post("/api/v1/consent/verify")
    assert queued.status_code == 202 and queued.json()["status"] == "queued"
    assert admin.post("/api/v1/consent/verify").json()["id"] == queued.json()["id"]
    with tenant_context(world.a):
        ledger_check_run(check_id=queued.json()["id"])
    listed = viewer.get("/api/v1/consent/verify").json()["results"]
    assert [(c["id"], c["status"]) for c in listed] == [(queued.json()["id"], "intact")]
    assert viewer.post("/api/v1/consent/verify").status_code == 403
    assert api_for("a_admin", scope="read").post("/api/v1/consent/verify").status_code == 403
