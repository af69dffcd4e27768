"""Data-subject requests: identity verification, the export bundle (complete across providers),
erasure reaching every table (searched afterwards), the ledger verifying after it, idempotent
creation, admins only, and tenant isolation."""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

import pytest
from django.apps import apps
from django.conf import settings
from django.core import mail
from django.db import connection
from django_tenants.utils import tenant_context

from ethics import services
from ethics.models import ConsentEvent, DataSubjectRequest
from ethics.personal_data import covered_models, providers
from ethics.selectors import consent_verify, consented_contacts
from listening.models import InboxEvent, InboxItem, Mention, Source, SourceKind
from personalization.models import Contact
from tests.ethics.conftest import make_contact, record, register


@pytest.fixture
def admin(api_for):
    return api_for("a_admin", scope="write")


@pytest.fixture
def person(in_a):
    """Ada: a contact with a handle, consents, and two mentions she wrote (and one she did not)."""
    ada = make_contact(
        handles=[{"network": "mastodon", "handle": "@ada_l"}, {"network": "x", "handle": "AdaL"}]
    )
    record(ada, "outreach")
    record(ada, "analytics")
    record(ada, "analytics", action="withdraw")
    source = Source.objects.create(name="Feed", kind=SourceKind.API)
    now = datetime.now(UTC)
    for external_id, handle, text in (
        ("m1", "@ada_l", "Ada here: the outage hit my team, ada@example.org if you need me"),
        ("m2", "adal", "Ada again"),
        ("m3", "@bob", "Bob talks about the outage"),
    ):
        Mention.objects.create(
            source=source,
            external_id=external_id,
            text=text,
            author_handle=handle,
            author_name="Ada Lovelace" if handle != "@bob" else "Bob",
            posted_at=now,
            raw={"who": handle},
        )
    return ada


def _open(admin, body, **headers):
    response = admin.post("/api/v1/dsrs", body, **headers)
    assert response.status_code in (200, 201), response.json()
    return response


def _verify_by_attestation(admin, dsr_id):
    response = admin.post(
        f"/api/v1/dsrs/{dsr_id}/attest", {"method": "call-back", "note": "Called her known number."}
    )
    assert response.status_code == 200 and response.json()["status"] == "verified"


def _run_inline(admin, dsr_id, django_capture_on_commit_callbacks, world):
    """Run the request; the worker's part (export, erase) is called here in the test's transaction
    (tests/ethics/test_worker.py runs it on a real worker)."""
    with django_capture_on_commit_callbacks(execute=False):
        response = admin.post(f"/api/v1/dsrs/{dsr_id}/run")
    assert response.status_code == 202, response.json()
    with tenant_context(world.a):
        kind = DataSubjectRequest.objects.get(pk=dsr_id).kind
        if kind == "access":
            services.dsr_export_execute(dsr_id=dsr_id)
        else:
            services.dsr_erase_execute(dsr_id=dsr_id)
    return admin.get(f"/api/v1/dsrs/{dsr_id}").json()


def test_identity_is_verified_by_an_emailed_code(admin, person, django_capture_on_commit_callbacks):
    dsr = _open(admin, {"kind": "access", "contact": person.pk}).json()
    assert (
        dsr["status"] == "received"
        and (datetime.fromisoformat(dsr["due_at"]) - datetime.fromisoformat(dsr["received_at"])).days == 30
    )
    assert admin.post(f"/api/v1/dsrs/{dsr['id']}/run").status_code == 400  # not verified yet
    with django_capture_on_commit_callbacks(execute=True):
        assert admin.post(f"/api/v1/dsrs/{dsr['id']}/send-code").json()["status"] == "verifying"
    assert mail.outbox[-1].to == ["ada@example.org"]
    code = re.search(r"\b(\d{8})\b", mail.outbox[-1].body).group(1)
    wrong = "00000000" if code != "00000000" else "11111111"
    bad = admin.post(f"/api/v1/dsrs/{dsr['id']}/verify-code", {"code": wrong})
    assert bad.status_code == 400 and "code" in bad.json()["error"]["fields"]
    assert admin.post(f"/api/v1/dsrs/{dsr['id']}/verify-code", {"code": "12"}).status_code == 400
    ok = admin.post(f"/api/v1/dsrs/{dsr['id']}/verify-code", {"code": code}).json()
    assert ok["status"] == "verified" and ok["verification_method"] == "email_code"
    assert [s["action"] for s in ok["steps"]] == ["received", "code_sent", "code_rejected", "verified"]
    assert "ada@example.org" not in json.dumps(ok["steps"])


def test_five_wrong_codes_lock_the_code(admin, person, django_capture_on_commit_callbacks):
    dsr = _open(admin, {"kind": "access", "contact": person.pk}).json()
    with django_capture_on_commit_callbacks(execute=True):
        admin.post(f"/api/v1/dsrs/{dsr['id']}/send-code")
    code = re.search(r"\b(\d{8})\b", mail.outbox[-1].body).group(1)
    wrong = "00000000" if code != "00000000" else "11111111"
    for _ in range(5):
        admin.post(f"/api/v1/dsrs/{dsr['id']}/verify-code", {"code": wrong})
    locked = admin.post(f"/api/v1/dsrs/{dsr['id']}/verify-code", {"code": code})
    assert locked.status_code == 400 and "Too many" in locked.json()["error"]["message"]


def test_the_export_bundle_holds_every_provider_s_tables_as_json_and_csv(
    admin, person, world, django_capture_on_commit_callbacks
):
    dsr = _open(admin, {"kind": "access", "contact": person.pk}).json()
    _verify_by_attestation(admin, dsr["id"])
    done = _run_inline(admin, dsr["id"], django_capture_on_commit_callbacks, world)
    assert done["status"] == "completed" and done["download_url"] == f"/api/v1/dsrs/{dsr['id']}/download"
    response = admin.get(done["download_url"])
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    bundle = json.loads(archive.read("export.json"))["tables"]
    assert {name.split(".")[0] for name in bundle} == {p.name for p in providers()}
    assert {f"csv/{name}.csv" for name in bundle} == {n for n in archive.namelist() if n.startswith("csv/")}
    assert bundle["personalization.contact"][0]["email"] == "ada@example.org"
    assert sorted(h["handle"] for h in bundle["personalization.contact_handle"]) == ["ada_l", "adal"]
    assert sorted(m["external_id"] for m in bundle["listening.mention"]) == ["m1", "m2"]
    assert [e["action"] for e in bundle["ethics.consent_event"]] == ["grant", "grant", "withdraw"]
    assert bundle["ethics.consent_event"][0]["notice__text"].startswith("We send you news")
    assert len(bundle["ethics.consent_evidence"]) == 3
    assert "m1" in archive.read("csv/listening.mention.csv").decode()
    with tenant_context(world.a):
        stored = DataSubjectRequest.objects.get(pk=dsr["id"]).export_file
        assert stored.name.startswith("dsr/export-")
        # Tenant-aware storage keeps each tenant's files under a folder named after its schema.
        assert Path(stored.path).parent.parent.name == world.a.schema_name
        stored.delete(save=False)


def _tenant_tables_mentioning(schema: str, needles: list[str]) -> dict[str, int]:
    """Every table of the tenant's schema, every row as text, searched for each needle."""
    found: dict[str, int] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = %s AND table_type = 'BASE TABLE'",
            [schema],
        )
        for (table,) in cursor.fetchall():
            for needle in needles:
                cursor.execute(
                    f'SELECT count(*) FROM "{schema}"."{table}" t WHERE t::text ILIKE %s',  # noqa: S608 - catalog names
                    [f"%{needle}%"],
                )
                count = cursor.fetchone()[0]
                if count:
                    found[f"{table}:{needle}"] = count
    return found


def test_erasure_reaches_every_table_and_the_ledger_still_verifies(
    admin, person, world, django_capture_on_commit_callbacks
):
    needles = ["ada@example.org", "ada_l", "adal", "Ada Lovelace", str(person.uuid)]
    before = consent_verify()
    with tenant_context(world.a):
        trained = register("segmentation")
    access = _open(admin, {"kind": "access", "contact": person.pk}).json()
    _verify_by_attestation(admin, access["id"])
    _run_inline(admin, access["id"], django_capture_on_commit_callbacks, world)
    with tenant_context(world.a):
        assert _tenant_tables_mentioning(world.a.schema_name, needles)  # the data is there to find
        export_path = DataSubjectRequest.objects.get(pk=access["id"]).export_file.path
    erase = _open(admin, {"kind": "erasure", "contact": person.pk, "subject_handles": ["@ada_l"]}).json()
    _verify_by_attestation(admin, erase["id"])
    done = _run_inline(admin, erase["id"], django_capture_on_commit_callbacks, world)
    assert done["status"] == "completed" and done["contact"] is None and done["subject_handles"] == []
    erased = done["result"]["erased"]
    assert erased["listening.mention"] == 2 and erased["personalization.contact"] == 1
    assert erased["ethics.consent_evidence"] == 3 and erased["ethics.dsr_exports"] == 1
    assert erased["ethics.models_flagged"] == 1
    with tenant_context(world.a):
        assert _tenant_tables_mentioning(world.a.schema_name, needles) == {}
        assert not Contact.objects.filter(pk=person.pk).exists()
        trained.refresh_from_db()
        assert trained.needs_retraining and f"#{erase['id']}" in trained.retraining_reason
        assert Mention.objects.get(external_id="m3").author_name == "Bob"
        erased_mention = Mention.objects.filter(text__startswith="[erased").first()
        assert erased_mention.embedding is None and erased_mention.raw == {}
        assert ConsentEvent.objects.count() == before.checked  # the proof stays
        result = consent_verify()
        assert result.ok and result.checked == before.checked and result.head_hash == before.head_hash
    import os

    assert not os.path.exists(export_path)


def test_rectification_and_restriction_apply_at_once_and_restriction_closes_the_gate(admin, person):
    record(person, "personalization")
    assert person in consented_contacts(purpose="personalization")
    fix = _open(
        admin, {"kind": "rectification", "contact": person.pk, "changes": {"name": "Augusta Ada King"}}
    ).json()
    _verify_by_attestation(admin, fix["id"])
    assert admin.post(f"/api/v1/dsrs/{fix['id']}/run").json()["status"] == "completed"
    person.refresh_from_db()
    assert person.name == "Augusta Ada King"
    stop = _open(admin, {"kind": "restriction", "contact": person.pk}).json()
    _verify_by_attestation(admin, stop["id"])
    assert admin.post(f"/api/v1/dsrs/{stop['id']}/run").json()["result"] == {"restricted": True}
    assert person not in consented_contacts(purpose="personalization")


def test_a_mention_author_who_is_no_contact_can_be_erased_by_handle(
    admin, person, world, django_capture_on_commit_callbacks
):
    with tenant_context(world.a):
        # The team's reply to Bob is about Bob too.
        bobs = Mention.objects.get(author_handle="@bob")
        item = InboxItem.objects.create(
            mention=bobs, priority=40.0, received_at=bobs.received_at, reply="Sorry Bob, fixed now"
        )
        InboxEvent.objects.create(item=item, kind="answered", at=bobs.received_at, data={"reply": item.reply})
    erase = _open(admin, {"kind": "erasure", "subject_handles": ["bob"]}).json()
    _verify_by_attestation(admin, erase["id"])
    done = _run_inline(admin, erase["id"], django_capture_on_commit_callbacks, world)
    assert done["result"]["erased"]["listening.mention"] == 1
    assert done["result"]["erased"]["listening.inbox_item"] == 1
    with tenant_context(world.a):
        assert not Mention.objects.filter(author_handle="@bob").exists()
        item.refresh_from_db()
        assert item.reply == "" and not InboxEvent.objects.filter(item=item).exclude(data={}).exists()
        assert Contact.objects.filter(pk=person.pk).exists()


def test_idempotency_key_replays_the_same_request_and_refuses_another(admin, person):
    body = {"kind": "access", "contact": person.pk}
    first = _open(admin, body, HTTP_IDEMPOTENCY_KEY="k-1")
    again = _open(admin, body, HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 201 and again.status_code == 200 and again.json()["id"] == first.json()["id"]
    other = admin.post("/api/v1/dsrs", {"kind": "erasure", "contact": person.pk}, HTTP_IDEMPOTENCY_KEY="k-1")
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_conflict"
    assert DataSubjectRequest.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "access"}, "contact"),
        ({"kind": "erase-me"}, "kind"),
        ({"kind": "rectification", "contact": 1}, "changes"),
        ({"kind": "access", "contact": 1, "changes": {"name": "x"}}, "changes"),
        ({"kind": "rectification", "contact": 1, "changes": {"time_zone": "Nowhere"}}, "changes.time_zone"),
        ({"kind": "access", "contact": 1, "due_days": 400}, "due_days"),
    ],
)
def test_bad_requests_are_400s(admin, person, body, field):
    body = {**body, "contact": person.pk} if "contact" in body else body
    response = admin.post("/api/v1/dsrs", body)
    assert response.status_code == 400 and field in response.json()["error"]["fields"], response.json()


def test_only_admins_handle_requests_and_tenant_b_sees_none_of_a(admin, api_for, person, world):
    dsr = _open(admin, {"kind": "access", "contact": person.pk}).json()
    analyst = api_for("a_analyst")
    assert analyst.get("/api/v1/dsrs").status_code == 403
    assert analyst.get(f"/api/v1/dsrs/{dsr['id']}/download").status_code == 403
    b_admin = api_for("b_admin", tenant=world.b, scope="write")
    for path in (f"/api/v1/dsrs/{dsr['id']}", f"/api/v1/dsrs/{dsr['id']}/download"):
        assert b_admin.get(path).status_code == 404
    assert b_admin.post(f"/api/v1/dsrs/{dsr['id']}/run").status_code == 404
    assert b_admin.post("/api/v1/dsrs", {"kind": "access", "contact": person.pk}).status_code == 404
    assert b_admin.get("/api/v1/dsrs").json()["results"] == []


def test_the_request_list_takes_a_fixed_number_of_queries(admin, person, django_assert_max_num_queries):
    for _ in range(2):
        _open(admin, {"kind": "access", "contact": person.pk})
    with django_assert_max_num_queries(8):
        admin.get("/api/v1/dsrs")
    for _ in range(8):
        _open(admin, {"kind": "restriction", "contact": person.pk})
    with django_assert_max_num_queries(8):
        assert len(admin.get("/api/v1/dsrs").json()["results"]) == 10


# Which fields make a model hold personal data, wherever it is declared.
PERSONAL_FIELD_NAMES = {
    "email",
    "handle",
    "author_handle",
    "author_name",
    "ip_address",
    "user_agent",
    "phone",
    "pseudonym",
    "subject_handles",
}


def _is_personal(model) -> bool:
    for field in model._meta.get_fields():
        if getattr(field, "name", "") in PERSONAL_FIELD_NAMES and field.concrete:
            return True
        if field.is_relation and field.concrete and field.related_model is Contact:
            return True
    return model is Contact


def test_every_model_with_personal_data_in_every_tenant_app_is_covered_by_a_provider():
    personal = {
        model._meta.label
        for app in settings.TENANT_APPS
        for model in apps.get_app_config(app.split(".")[-1]).get_models()
        if _is_personal(model)
    }
    assert {"personalization.Contact", "listening.Mention", "ethics.ConsentEvidence"} <= personal
    missing = personal - covered_models()
    assert not missing, f"models with personal data that no ethics.personal_data provider covers: {missing}"


def test_a_person_known_to_two_clients_gets_only_the_asking_tenant_s_data(
    admin, person, world, django_capture_on_commit_callbacks
):
    """RELIABILITY 34: the same person (same email and handle) in tenant B stays out of A's export."""
    with tenant_context(world.b):
        twin = make_contact(handles=[{"network": "mastodon", "handle": "ada_l"}])
        record(twin, "personalization")
        source = Source.objects.create(name="B feed", kind=SourceKind.API)
        Mention.objects.create(
            source=source,
            external_id="b-only",
            text="B's copy",
            author_handle="@ada_l",
            posted_at=datetime.now(UTC),
        )
    dsr = _open(admin, {"kind": "access", "contact": person.pk}).json()
    _verify_by_attestation(admin, dsr["id"])
    _run_inline(admin, dsr["id"], django_capture_on_commit_callbacks, world)
    response = admin.get(f"/api/v1/dsrs/{dsr['id']}/download")
    bundle = json.loads(zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).read("export.json"))
    tables = bundle["tables"]
    assert "b-only" not in json.dumps(tables)
    assert {e["purpose__code"] for e in tables["ethics.consent_event"]} == {"outreach", "analytics"}
    with tenant_context(world.a):
        DataSubjectRequest.objects.get(pk=dsr["id"]).export_file.delete(save=False)


def test_a_request_whose_work_cannot_be_queued_goes_back_to_failed_and_runs_again(
    admin, person, django_capture_on_commit_callbacks
):
    dsr = _open(admin, {"kind": "access", "contact": person.pk}).json()
    _verify_by_attestation(admin, dsr["id"])
    with (
        mock.patch("ethics.tasks.dsr_export.delay", side_effect=ConnectionError("broker down")),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert admin.post(f"/api/v1/dsrs/{dsr['id']}/run").status_code == 202
    stuck = admin.get(f"/api/v1/dsrs/{dsr['id']}").json()
    assert stuck["status"] == "failed" and "run it again" in stuck["error"]
    with (
        mock.patch("ethics.tasks.dsr_export.delay") as queued,
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert admin.post(f"/api/v1/dsrs/{dsr['id']}/run").status_code == 202
    queued.assert_called_once_with(dsr["id"])
    assert admin.get(f"/api/v1/dsrs/{dsr['id']}").json()["status"] == "running"
