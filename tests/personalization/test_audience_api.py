"""Audience through the API: contact import with per-row errors, channels, idempotent engagement
ingest (an unsubscribe withdraws outreach), crisis mode, validation and tenant isolation."""

from __future__ import annotations

from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django_tenants.utils import tenant_context

from ethics.selectors import consented_contacts
from personalization import records
from personalization.models import Channel, Contact, ContactImportJob, EngagementEvent, Message
from tests.ethics.conftest import make_contact, record


@pytest.fixture
def admin(api_for):
    return api_for("a_admin", scope="write")


def _upload(api, name, content, **extra):
    return api.client.post(
        "/api/v1/contacts/import",
        {"file": SimpleUploadedFile(name, content), **extra},
        **api.headers,
    )


def _imported(api, world, name, content):
    """Upload (a queued job, 202), run the job as the worker does, and read it back."""
    queued = _upload(api, name, content)
    assert queued.status_code == 202, queued.json()
    job = queued.json()
    assert job["status"] == "queued" and job["rows_done"] == 0
    with tenant_context(world.a):
        records.contact_import_run(job_id=job["id"])
        assert records.contact_import_run(job_id=job["id"]) is None  # at most once
    done = api.get(f"/api/v1/contacts/import/{job['id']}")
    assert done.status_code == 200 and done.json()["status"] == "done"
    return done.json()


def test_a_csv_import_creates_good_rows_and_reports_each_bad_one(admin, world):
    content = (
        b"name,email,time_zone,handles,attr.tier,consent.personalization\n"
        b"Ada,ada@example.org,Europe/Berlin,mastodon:@ada,gold,yes\n"
        b"Bob,not-an-email,UTC,,,no\n"
        b"Cy,cy@example.org,Mars/Olympus,,,\n"
        b'"=HYPERLINK(""http://evil.example"")",eve@example.org,UTC,,,maybe\n'
        b'"=HYPERLINK(""http://evil.example"")",eve@example.org,UTC,,,no\n'
        b"Dee,dee@example.org,UTC,mastodon:ada,,yes\n"
    )
    body = _imported(admin, world, "contacts.csv", content)
    assert body["created"] == 2 and body["consents_recorded"] == 1 and body["rows_done"] == 6
    assert body["original_name"] == "contacts.csv" and body["errors_total"] == 4
    problems = {(e["row"], e["field"]) for e in body["errors"]}
    assert problems == {(3, "email"), (4, "time_zone"), (5, "consent.personalization"), (7, "handles")}
    with tenant_context(world.a):
        ada = Contact.objects.get(email="ada@example.org")
        assert ada.attributes == {"tier": "gold"} and ada.time_zone == "Europe/Berlin"
        # A formula cell is kept as the characters it is, never evaluated.
        assert Contact.objects.get(email="eve@example.org").name == '=HYPERLINK("http://evil.example")'
        assert list(consented_contacts(purpose="personalization")) == [ada]


def test_an_ndjson_import_reports_lines_that_are_not_objects(admin, world):
    content = (
        b'{"name": "Ann", "kind": "press", "consent": {"outreach": "yes"}}\n'
        b'[1, 2]\n{broken\n\n{"kind": "alien"}\n'
    )
    body = _imported(admin, world, "people.ndjson", content)
    assert body["created"] == 1 and body["consents_recorded"] == 1
    assert [(e["row"], e["field"]) for e in body["errors"]] == [(2, ""), (3, ""), (5, "kind")]


@pytest.mark.parametrize(
    ("name", "content", "field"),
    [
        ("bin.csv", b"\x00\x01\x02binary", "file"),
        ("latin.csv", "name\nJos\xe9\n".encode("latin-1"), "file"),
    ],
)
def test_an_unreadable_file_is_a_400(admin, name, content, field):
    response = _upload(admin, name, content)
    assert response.status_code == 400 and field in response.json()["error"]["fields"]


def test_an_import_job_keeps_no_file_reports_progress_and_is_the_tenants_own(admin, api_for, world):
    content = b"name,email\n" + b"".join(b"P%d,p%d@example.org\n" % (i, i) for i in range(450))
    job = _upload(admin, "many.csv", content).json()
    seen = []
    with tenant_context(world.a):
        original = records.contacts_import

        def spy(**kwargs):
            def progress(done):
                kwargs["progress"](done)
                seen.append(ContactImportJob.objects.get(pk=job["id"]).rows_done)

            return original(**{**kwargs, "progress": progress})

        with mock.patch.object(records, "contacts_import", spy):
            records.contact_import_run(job_id=job["id"])
        assert seen == [200, 400]
        stored = ContactImportJob.objects.get(pk=job["id"])
        assert stored.content == b"" and stored.created == 450 and stored.rows_done == 450
    assert [j["id"] for j in admin.get("/api/v1/contacts/import").json()["results"]] == [job["id"]]
    other = api_for("b_owner", tenant=world.b)
    assert other.get(f"/api/v1/contacts/import/{job['id']}").status_code == 404
    assert other.get("/api/v1/contacts/import").json()["results"] == []


def test_import_needs_a_file_and_edit_rights(admin, api_for):
    assert admin.client.post("/api/v1/contacts/import", {}, **admin.headers).status_code == 400
    viewer = api_for("a_viewer")
    assert _upload(viewer, "c.csv", b"name\nA\n").status_code == 403


def _channel(api, **extra):
    body = {"kind": "email", "name": "Newsletter", "config": {"list": "news"}, "credentials": "s3cret"}
    response = api.post("/api/v1/channels", {**body, **extra})
    assert response.status_code == 201, response.json()
    return response.json()


def test_channel_credentials_are_encrypted_and_never_returned(admin, world):
    channel = _channel(admin)
    assert "credentials" not in channel and channel["has_credentials"] is True
    with tenant_context(world.a), connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM personalization_channel WHERE id = %s", [channel["id"]])
        stored = cursor.fetchone()[0]
        assert "s3cret" not in stored
        assert Channel.objects.get(pk=channel["id"]).credentials == "s3cret"


@pytest.mark.parametrize(
    ("body", "field"),
    [({"kind": "pigeon"}, "kind"), ({"name": ""}, "name"), ({"config": "x"}, "config")],
)
def test_bad_channel_input_is_a_400(admin, body, field):
    base = {"kind": "email", "name": "N"}
    response = admin.post("/api/v1/channels", {**base, **body})
    assert response.status_code == 400 and field in response.json()["error"]["fields"]


def test_another_tenants_channel_answers_404(admin, api_for, world):
    channel = _channel(admin)
    other = api_for("b_admin", tenant=world.b, scope="write")
    assert other.get(f"/api/v1/channels/{channel['id']}").status_code == 404
    event = {"external_id": "x", "contact": 1, "kind": "opened", "occurred_at": "2026-11-30T09:00:00Z"}
    assert _events(other, channel["id"], [event]).status_code == 404
    assert other.get("/api/v1/channels").json()["results"] == []


def _events(api, channel_id, events):
    return api.post(f"/api/v1/channels/{channel_id}/events", {"events": events})


def test_engagement_ingest_is_idempotent_with_per_item_errors(admin, world):
    channel = _channel(admin)
    with tenant_context(world.a):
        contact = make_contact()
    good = {
        "external_id": "e1",
        "contact": contact.pk,
        "kind": "opened",
        "occurred_at": "2026-11-30T09:00:00Z",
    }
    batch = [
        good,
        {**good, "external_id": "e2", "kind": "delivered"},
        {**good, "external_id": "e3", "kind": "bookmarked"},
        {**good, "external_id": "e4", "contact": 999_999},
        {**good, "external_id": "e5", "occurred_at": "yesterday"},
        {**good, "external_id": "e6", "message": "no-such-message"},
    ]
    first = _events(admin, channel["id"], batch).json()
    assert first["stored"] == 2 and first["duplicates"] == 0
    assert {(e["index"], e["field"]) for e in first["errors"]} == {
        (2, "kind"),
        (3, "contact"),
        (4, "occurred_at"),
        (5, "message"),
    }
    again = _events(admin, channel["id"], [*batch[:2], {**good, "external_id": "e7"}]).json()
    assert again == {"stored": 1, "duplicates": 2, "errors": []}
    with tenant_context(world.a):
        assert EngagementEvent.objects.filter(channel_id=channel["id"]).count() == 3


def test_an_unsubscribe_withdraws_outreach_consent(admin, world):
    channel = _channel(admin)
    with tenant_context(world.a):
        contact = make_contact()
        record(contact, "outreach")
        assert consented_contacts(purpose="outreach").filter(pk=contact.pk).exists()
    event = {
        "external_id": "u1",
        "contact": contact.pk,
        "kind": "unsubscribed",
        "occurred_at": "2026-11-30T09:00:00Z",
    }
    assert _events(admin, channel["id"], [event]).json()["stored"] == 1
    with tenant_context(world.a):
        assert not consented_contacts(purpose="outreach").filter(pk=contact.pk).exists()
    # Sent again, it is a duplicate and withdraws nothing twice (there is nothing left to withdraw).
    assert _events(admin, channel["id"], [event]).json()["duplicates"] == 1


@pytest.mark.parametrize("body", [{}, {"events": []}, {"events": "x"}, {"events": [{}] * 1001}])
def test_a_bad_engagement_batch_is_a_400(admin, body):
    channel = _channel(admin)
    response = admin.post(f"/api/v1/channels/{channel['id']}/events", body)
    assert response.status_code == 400 and "events" in response.json()["error"]["fields"]


def test_crisis_mode_is_switched_with_a_reason_and_kept(admin, api_for):
    assert admin.get("/api/v1/crisis-mode").json()["on"] is False
    assert admin.post("/api/v1/crisis-mode", {"on": True}).status_code == 400
    assert admin.post("/api/v1/crisis-mode", {"on": True, "reason": "Outage"}).status_code == 201
    assert api_for("a_analyst").post("/api/v1/crisis-mode", {"on": False, "reason": "x"}).status_code == 403
    state = admin.get("/api/v1/crisis-mode").json()
    assert state["on"] is True and state["history"][0]["reason"] == "Outage"


def test_a_message_is_stored_by_key_and_its_new_text_queued_for_embedding(
    admin, world, django_capture_on_commit_callbacks
):
    body = {"key": "launch-1", "text": "We launched", "tone": "formal"}
    with mock.patch("personalization.tasks.embed_messages.delay") as queued:
        with django_capture_on_commit_callbacks(execute=True):
            assert admin.post("/api/v1/messages", body).status_code == 200
        with django_capture_on_commit_callbacks(execute=True):
            assert admin.post("/api/v1/messages", {**body, "tone": "playful"}).status_code == 200
    assert queued.call_count == 1  # the text did not change the second time
    with tenant_context(world.a):
        message = Message.objects.get(key="launch-1")
        assert message.tone == "playful" and message.length == len("We launched")
    assert admin.post("/api/v1/messages", {"key": "bad key!", "text": "x"}).status_code == 400


def test_the_channel_list_takes_a_fixed_number_of_queries(admin, django_assert_max_num_queries):
    _channel(admin)
    with django_assert_max_num_queries(6):
        admin.get("/api/v1/channels")
    for i in range(5):
        _channel(admin, name=f"Channel {i}")
    with django_assert_max_num_queries(6):
        assert len(admin.get("/api/v1/channels").json()["results"]) == 6


def test_the_portal_button_and_the_api_queue_the_same_training(api_for, django_capture_on_commit_callbacks):
    """Both go through `services.training_request`: the segments, then the engagement model."""
    analyst = api_for("a_analyst")
    with django_capture_on_commit_callbacks() as by_api:
        answer = analyst.post("/api/v1/segments/train")
    assert answer.status_code == 202
    assert answer.json() == {"queued": ["train_segments", "train_engagement"]}
    with django_capture_on_commit_callbacks() as by_portal:
        assert analyst.client.post("/audience/segments/train/").status_code == 302
    queued = [callback.__qualname__ for callback in (*by_api, *by_portal)]
    assert queued == ["training_request.<locals>.<lambda>"] * 2
    with django_capture_on_commit_callbacks() as refused:
        assert api_for("a_viewer").post("/api/v1/segments/train").status_code == 403
    assert refused == []
